import { TransactWriteCommand } from '@aws-sdk/lib-dynamodb';
import { type Db, type Item, isConditionFailure, nextId, queryPrefix } from './db';
import { badRequest, forbidden, notFound } from './errors';
import { padId } from './table';
import { MAX_NAME_LENGTH } from './users';

/** `{id, name, image}`: image is a file name served at `/files/emoji/<image>`. */
export interface Emoji {
  id: number;
  name: string;
  image: string;
}

const emojiKey = (serverId: number, emojiId: number) => ({ pk: `SERVER#${serverId}`, sk: `EMOJI#${padId(emojiId)}` });
/** Claims a name within a server, so two emojis can never share one. */
const nameKey = (serverId: number, name: string) => ({ pk: `SERVER#${serverId}`, sk: `EMOJINAME#${name}` });
export const EMOJI_NOT_FOUND = 'Emoji does not exist';

export function validateEmojiName(name: string): void {
  if (name.length === 0) throw badRequest('Emoji name should not be empty');
  if (name.length > MAX_NAME_LENGTH) throw badRequest(`Emoji name should be at most ${MAX_NAME_LENGTH} characters long`);
  if (/[\s:]/.test(name)) throw badRequest('Emoji name should not contain whitespace or colons');
}

function emojiFromItem(item: Item): Emoji {
  return { id: Number(item.id), name: String(item.name), image: String(item.image) };
}

export async function emojisOfServer(db: Db, serverId: number): Promise<Emoji[]> {
  return (await queryPrefix(db, `SERVER#${serverId}`, 'EMOJI#')).map(emojiFromItem);
}

export async function findEmoji(db: Db, serverId: number, emojiId: number): Promise<Emoji> {
  const emoji = (await emojisOfServer(db, serverId)).find((e) => e.id === emojiId);
  if (!emoji) throw notFound(EMOJI_NOT_FOUND);
  return emoji;
}

const NAME_TAKEN = 'An emoji with this name already exists';

export async function createEmoji(db: Db, serverId: number, name: string, image: string, maxEmojis: number): Promise<Emoji> {
  if ((await emojisOfServer(db, serverId)).length >= maxEmojis) throw forbidden(`Cannot create more than ${maxEmojis} emojis on a server`);
  const emoji: Emoji = { id: await nextId(db, 'emoji'), name, image };
  try {
    await db.doc.send(
      new TransactWriteCommand({
        TransactItems: [
          { Put: { TableName: db.table, Item: { ...nameKey(serverId, name), emojiId: emoji.id }, ConditionExpression: 'attribute_not_exists(pk)' } },
          { Put: { TableName: db.table, Item: { ...emojiKey(serverId, emoji.id), ...emoji } } },
        ],
      }),
    );
  } catch (error) {
    if (isConditionFailure(error)) throw forbidden(NAME_TAKEN);
    throw error;
  }
  return emoji;
}

export async function updateEmoji(db: Db, serverId: number, emoji: Emoji, change: { name?: string; image?: string }): Promise<Emoji> {
  const updated: Emoji = { ...emoji, ...(change.name !== undefined ? { name: change.name } : {}), ...(change.image !== undefined ? { image: change.image } : {}) };
  const renamed = updated.name !== emoji.name;
  try {
    await db.doc.send(
      new TransactWriteCommand({
        TransactItems: [
          ...(renamed
            ? [
                { Delete: { TableName: db.table, Key: nameKey(serverId, emoji.name) } },
                { Put: { TableName: db.table, Item: { ...nameKey(serverId, updated.name), emojiId: emoji.id }, ConditionExpression: 'attribute_not_exists(pk)' } },
              ]
            : []),
          { Put: { TableName: db.table, Item: { ...emojiKey(serverId, emoji.id), ...updated }, ConditionExpression: 'attribute_exists(pk)' } },
        ],
      }),
    );
  } catch (error) {
    if (isConditionFailure(error)) throw renamed ? forbidden(NAME_TAKEN) : notFound(EMOJI_NOT_FOUND);
    throw error;
  }
  return updated;
}

export async function deleteEmoji(db: Db, serverId: number, emoji: Emoji): Promise<void> {
  await db.doc.send(
    new TransactWriteCommand({
      TransactItems: [
        { Delete: { TableName: db.table, Key: emojiKey(serverId, emoji.id), ConditionExpression: 'attribute_exists(pk)' } },
        { Delete: { TableName: db.table, Key: nameKey(serverId, emoji.name) } },
      ],
    }),
  ).catch((error) => {
    if (isConditionFailure(error)) throw notFound(EMOJI_NOT_FOUND);
    throw error;
  });
}
