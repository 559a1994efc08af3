import { absent, type Db, exists, type Item, nextId, orThrow, queryPrefix } from './db';
import { badRequest, forbidden, notFound } from './errors';
import { keys, partitions, prefixes } from './table';
import { build } from './items';
import { MAX_NAME_LENGTH } from './users';

/** `{id, name, image}`: image is a file name served at `/files/emoji/<image>`. */
export interface Emoji {
  id: number;
  name: string;
  image: string;
}

const emojiKey = keys.emoji;
/** Claims a name within a server, so two emojis can never share one. */
const nameKey = keys.emojiName;
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
  return (await queryPrefix(db, partitions.server(serverId), prefixes.emoji)).map(emojiFromItem);
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
  await orThrow(
    db.transact([{ put: build.emojiName(serverId, name, emoji.id), if: absent }, { put: build.emoji(serverId, emoji) }]),
    () => forbidden(NAME_TAKEN),
  );
  return emoji;
}

export async function updateEmoji(db: Db, serverId: number, emoji: Emoji, change: { name?: string; image?: string }): Promise<Emoji> {
  const updated: Emoji = { ...emoji, ...(change.name !== undefined ? { name: change.name } : {}), ...(change.image !== undefined ? { image: change.image } : {}) };
  const renamed = updated.name !== emoji.name;
  await orThrow(
    db.transact([
      ...(renamed ? [{ delete: nameKey(serverId, emoji.name) }, { put: build.emojiName(serverId, updated.name, emoji.id), if: absent }] : []),
      { put: build.emoji(serverId, updated), if: exists },
    ]),
    () => (renamed ? forbidden(NAME_TAKEN) : notFound(EMOJI_NOT_FOUND)),
  );
  return updated;
}

export async function deleteEmoji(db: Db, serverId: number, emoji: Emoji): Promise<void> {
  await orThrow(db.transact([{ delete: emojiKey(serverId, emoji.id), if: exists }, { delete: nameKey(serverId, emoji.name) }]), () => notFound(EMOJI_NOT_FOUND));
}
