import {
  BatchGetCommand,
  type BatchGetCommandOutput,
  DeleteCommand,
  GetCommand,
  PutCommand,
  QueryCommand,
  TransactWriteCommand,
  UpdateCommand,
} from '@aws-sdk/lib-dynamodb';
import { type Db, isConditionFailure, type Item, nextId, queryPrefix } from '../db';
import { type DynamoDbStore, isConditionFailure as isDynamoConditionFailure } from '../../aws/dynamodb-store';
import { padId } from '../table';
import { isoNow } from '../time';
import type { DeskIdentity } from './oidc';
import { DESK_COUNTERS, deskKeys } from './keys';
import type { Chat, DeskFile, DeskMessage, DeskUser, ReadMarker, Topic } from './model';
import { chatAudience, type ChatStatus, type ChatType, type MessageType } from './rules';

/**
 * Not yet on the store port (lambdas/domain/db.ts): this module still speaks DynamoDB through the adapter's
 * client, so its refusals are DynamoDB's exceptions (or the port's, from the port helpers it also calls).
 */
const dynamo = (db: Db): DynamoDbStore => db as DynamoDbStore;
const isRefused = (error: unknown): boolean => isConditionFailure(error) || isDynamoConditionFailure(error);

/**
 * Every desk read and write of the table (docs/data-model.md, "Desk"), in one file so the table port of
 * issue 15 can take it over in one place. No authorization here: service.ts decides, this stores.
 */

/** A page of a listing: `startId` inclusive (undefined: from the newest, or the oldest when ascending). */
export interface DeskPage {
  startId?: number;
  count: number;
  /** 0: newest first; 1: oldest first. */
  order: 0 | 1;
}

export interface Paged<T> {
  items: T[];
  /** Where the next page starts; absent when this one reached the end. */
  nextStartId?: number;
}

// ---- users ----

function userOf(item: Item): DeskUser {
  return {
    id: Number(item.id),
    sub: String(item.sub),
    name: String(item.name),
    curator: item.curator === true,
    admin: item.admin === true,
    createdAt: String(item.createdAt),
  };
}

export async function getUser(db: Db, userId: number): Promise<DeskUser | undefined> {
  const { Item } = await dynamo(db).doc.send(new GetCommand({ TableName: dynamo(db).table, Key: deskKeys.user(userId) }));
  return Item ? userOf(Item) : undefined;
}

/** sub -> user id, per process: a subject never changes its user, so this needs no expiry. */
const userIds = new Map<string, number>();
const USER_ID_CACHE = 10_000;

/**
 * The desk user of a verified token, created on first sight of its `sub`. His name and roles follow the
 * token: when they differ from what is stored, the profile and the curator list are updated (so the
 * audience of chat events follows a curator who lost his role).
 */
export async function ensureUser(db: Db, identity: DeskIdentity, now = Date.now()): Promise<DeskUser> {
  // Keyed by table too: a process may serve several (the tests' local runtimes).
  const cacheKey = `${dynamo(db).table}|${identity.sub}`;
  let userId = userIds.get(cacheKey);
  if (userId === undefined) {
    const { Item } = await dynamo(db).doc.send(new GetCommand({ TableName: dynamo(db).table, Key: deskKeys.subject(identity.sub), ConsistentRead: true }));
    userId = Item ? Number(Item.userId) : await createUser(db, identity, now);
    if (userIds.size >= USER_ID_CACHE) userIds.delete(userIds.keys().next().value!);
    userIds.set(cacheKey, userId);
  }
  const stored = await getUser(db, userId);
  if (!stored) throw new Error(`desk user ${userId} of a known subject has no profile`);
  if (stored.name === identity.name && stored.curator === identity.curator && stored.admin === identity.admin) return stored;
  const updated: DeskUser = { ...stored, name: identity.name, curator: identity.curator, admin: identity.admin };
  await dynamo(db).doc.send(
    new TransactWriteCommand({
      TransactItems: [
        { Put: { TableName: dynamo(db).table, Item: { ...deskKeys.user(userId), ...updated } } },
        updated.curator
          ? { Put: { TableName: dynamo(db).table, Item: { ...deskKeys.curator(userId), userId } } }
          : { Delete: { TableName: dynamo(db).table, Key: deskKeys.curator(userId) } },
      ],
    }),
  );
  return updated;
}

async function createUser(db: Db, identity: DeskIdentity, now: number): Promise<number> {
  const id = await nextId(db, DESK_COUNTERS.user);
  const user: DeskUser = { id, sub: identity.sub, name: identity.name, curator: identity.curator, admin: identity.admin, createdAt: isoNow(now) };
  try {
    await dynamo(db).doc.send(
      new TransactWriteCommand({
        TransactItems: [
          { Put: { TableName: dynamo(db).table, Item: { ...deskKeys.subject(identity.sub), userId: id }, ConditionExpression: 'attribute_not_exists(pk)' } },
          { Put: { TableName: dynamo(db).table, Item: { ...deskKeys.user(id), ...user } } },
          ...(user.curator ? [{ Put: { TableName: dynamo(db).table, Item: { ...deskKeys.curator(id), userId: id } } }] : []),
        ],
      }),
    );
    return id;
  } catch (error) {
    if (!isRefused(error)) throw error;
    // Two first requests of one subject at once: the other created him (this id stays unused).
    const { Item } = await dynamo(db).doc.send(new GetCommand({ TableName: dynamo(db).table, Key: deskKeys.subject(identity.sub), ConsistentRead: true }));
    return Number(Item!.userId);
  }
}

/** Users holding the curator role when last seen. */
export async function curatorIds(db: Db): Promise<number[]> {
  return (await queryPrefix(db, deskKeys.curatorsPartition(), 'USER#')).map((item) => Number(item.userId));
}

export async function getUsers(db: Db, ids: number[]): Promise<DeskUser[]> {
  const found: DeskUser[] = [];
  for (let i = 0; i < ids.length; i += 100) {
    let keys: Array<Record<string, unknown>> | undefined = ids.slice(i, i + 100).map((id) => deskKeys.user(id));
    for (let attempt = 0; keys && keys.length > 0 && attempt < 8; attempt++) {
      const result: BatchGetCommandOutput = await dynamo(db).doc.send(new BatchGetCommand({ RequestItems: { [dynamo(db).table]: { Keys: keys } } }));
      found.push(...((result.Responses?.[dynamo(db).table] ?? []) as Item[]).map(userOf));
      keys = result.UnprocessedKeys?.[dynamo(db).table]?.Keys;
    }
  }
  return found.sort((a, b) => a.id - b.id);
}

// ---- topics ----

function topicOf(item: Item): Topic {
  return { id: Number(item.id), name: String(item.name), createdAt: String(item.createdAt) };
}

export async function createTopic(db: Db, name: string, now = Date.now()): Promise<Topic> {
  const topic: Topic = { id: await nextId(db, DESK_COUNTERS.topic), name, createdAt: isoNow(now) };
  await dynamo(db).doc.send(new PutCommand({ TableName: dynamo(db).table, Item: { ...deskKeys.topic(topic.id), ...topic } }));
  return topic;
}

export async function getTopic(db: Db, topicId: number): Promise<Topic | undefined> {
  const { Item } = await dynamo(db).doc.send(new GetCommand({ TableName: dynamo(db).table, Key: deskKeys.topic(topicId) }));
  return Item ? topicOf(Item) : undefined;
}

export async function listTopics(db: Db): Promise<Topic[]> {
  return (await queryPrefix(db, deskKeys.topicsPartition(), 'TOPIC#')).map(topicOf);
}

/** Renames a topic; false when it does not exist. */
export async function renameTopic(db: Db, topicId: number, name: string): Promise<Topic | undefined> {
  try {
    const { Attributes } = await dynamo(db).doc.send(
      new UpdateCommand({
        TableName: dynamo(db).table,
        Key: deskKeys.topic(topicId),
        UpdateExpression: 'SET #name = :name',
        ConditionExpression: 'attribute_exists(pk)',
        ExpressionAttributeNames: { '#name': 'name' },
        ExpressionAttributeValues: { ':name': name },
        ReturnValues: 'ALL_NEW',
      }),
    );
    return topicOf(Attributes!);
  } catch (error) {
    if (isRefused(error)) return undefined;
    throw error;
  }
}

/** Gives a curator access to a topic (both directions of the grant, with the topic's existence checked). */
export async function grantTopic(db: Db, topicId: number, userId: number): Promise<boolean> {
  try {
    await dynamo(db).doc.send(
      new TransactWriteCommand({
        TransactItems: [
          { ConditionCheck: { TableName: dynamo(db).table, Key: deskKeys.topic(topicId), ConditionExpression: 'attribute_exists(pk)' } },
          { Put: { TableName: dynamo(db).table, Item: { ...deskKeys.topicCurator(topicId, userId), userId, topicId } } },
          { Put: { TableName: dynamo(db).table, Item: { ...deskKeys.curatorTopic(userId, topicId), userId, topicId } } },
        ],
      }),
    );
    return true;
  } catch (error) {
    if (isRefused(error)) return false;
    throw error;
  }
}

export async function revokeTopic(db: Db, topicId: number, userId: number): Promise<void> {
  await dynamo(db).doc.send(
    new TransactWriteCommand({
      TransactItems: [
        { Delete: { TableName: dynamo(db).table, Key: deskKeys.topicCurator(topicId, userId) } },
        { Delete: { TableName: dynamo(db).table, Key: deskKeys.curatorTopic(userId, topicId) } },
      ],
    }),
  );
}

export async function topicCuratorIds(db: Db, topicId: number): Promise<number[]> {
  return (await queryPrefix(db, `DESKTOPIC#${topicId}`, 'CURATOR#')).map((item) => Number(item.userId));
}

export async function topicsOfCurator(db: Db, userId: number): Promise<number[]> {
  return (await queryPrefix(db, `DESKUSER#${userId}`, 'TOPIC#')).map((item) => Number(item.topicId));
}

export async function isTopicCurator(db: Db, topicId: number, userId: number): Promise<boolean> {
  const { Item } = await dynamo(db).doc.send(new GetCommand({ TableName: dynamo(db).table, Key: deskKeys.topicCurator(topicId, userId) }));
  return Item !== undefined;
}

// ---- chats ----

function chatOf(item: Item): Chat {
  return {
    id: Number(item.id),
    chatType: item.chatType as ChatType,
    customerId: Number(item.customerId),
    topicId: Number(item.topicId),
    ...(item.orderId !== undefined ? { orderId: String(item.orderId) } : {}),
    status: item.status as ChatStatus,
    ...(item.curatorId !== undefined ? { curatorId: Number(item.curatorId) } : {}),
    createdAt: String(item.createdAt),
    updatedAt: String(item.updatedAt),
    ...(item.lastMessageId !== undefined ? { lastMessageId: Number(item.lastMessageId) } : {}),
  };
}

/** A new chat with its two listing entries; undefined when the topic does not exist. */
export async function createChat(
  db: Db,
  fields: { chatType: ChatType; customerId: number; topicId: number; orderId?: string },
  now = Date.now(),
): Promise<Chat | undefined> {
  const id = await nextId(db, DESK_COUNTERS.chat);
  const at = isoNow(now);
  const chat: Chat = { id, ...fields, status: 'new', createdAt: at, updatedAt: at };
  try {
    await dynamo(db).doc.send(
      new TransactWriteCommand({
        TransactItems: [
          { ConditionCheck: { TableName: dynamo(db).table, Key: deskKeys.topic(fields.topicId), ConditionExpression: 'attribute_exists(pk)' } },
          { Put: { TableName: dynamo(db).table, Item: { ...deskKeys.chat(id), ...chat } } },
          { Put: { TableName: dynamo(db).table, Item: { ...deskKeys.chatOfTopic(fields.topicId, id), chatId: id } } },
          { Put: { TableName: dynamo(db).table, Item: { ...deskKeys.chatOfCustomer(fields.customerId, id), chatId: id } } },
        ],
      }),
    );
  } catch (error) {
    if (isRefused(error)) return undefined;
    throw error;
  }
  return chat;
}

export async function getChat(db: Db, chatId: number, consistent = false): Promise<Chat | undefined> {
  const { Item } = await dynamo(db).doc.send(new GetCommand({ TableName: dynamo(db).table, Key: deskKeys.chat(chatId), ConsistentRead: consistent }));
  return Item ? chatOf(Item) : undefined;
}

/** One page of ids from a partition whose sort keys are `<prefix><padded id>`. */
async function pageOfIds(db: Db, pk: string, prefix: string, page: DeskPage): Promise<Paged<number>> {
  const from = page.startId === undefined ? (page.order === 1 ? `${prefix}0000000000` : `${prefix}9999999999`) : `${prefix}${padId(page.startId)}`;
  const to = page.order === 1 ? `${prefix}9999999999` : `${prefix}0000000000`;
  const result = await dynamo(db).doc.send(
    new QueryCommand({
      TableName: dynamo(db).table,
      KeyConditionExpression: 'pk = :pk AND sk BETWEEN :low AND :high',
      ExpressionAttributeValues: { ':pk': pk, ':low': page.order === 1 ? from : to, ':high': page.order === 1 ? to : from },
      ScanIndexForward: page.order === 1,
      Limit: page.count,
      ProjectionExpression: 'sk',
    }),
  );
  const ids = (result.Items ?? []).map((item) => Number(String(item.sk).slice(prefix.length)));
  const last = ids[ids.length - 1];
  const more = result.LastEvaluatedKey !== undefined && last !== undefined;
  return { items: ids, ...(more ? { nextStartId: page.order === 1 ? last + 1 : last - 1 } : {}) };
}

async function chatsByIds(db: Db, ids: number[]): Promise<Chat[]> {
  if (ids.length === 0) return [];
  const found = new Map<number, Chat>();
  let keys: Array<Record<string, unknown>> | undefined = ids.map((id) => deskKeys.chat(id));
  for (let attempt = 0; keys && keys.length > 0 && attempt < 8; attempt++) {
    const result: BatchGetCommandOutput = await dynamo(db).doc.send(new BatchGetCommand({ RequestItems: { [dynamo(db).table]: { Keys: keys } } }));
    for (const item of (result.Responses?.[dynamo(db).table] ?? []) as Item[]) found.set(Number(item.id), chatOf(item));
    keys = result.UnprocessedKeys?.[dynamo(db).table]?.Keys;
  }
  return ids.map((id) => found.get(id)).filter((chat): chat is Chat => chat !== undefined);
}

/** A customer's chats, a page at a time (one Query and one BatchGet). */
export async function chatsOfCustomer(db: Db, userId: number, page: DeskPage): Promise<Paged<Chat>> {
  const ids = await pageOfIds(db, `DESKUSER#${userId}`, 'CHAT#', page);
  return { ...ids, items: await chatsByIds(db, ids.items) };
}

/** A topic's chats, a page at a time. */
export async function chatsOfTopic(db: Db, topicId: number, page: DeskPage): Promise<Paged<Chat>> {
  const ids = await pageOfIds(db, `DESKTOPIC#${topicId}`, 'CHAT#', page);
  return { ...ids, items: await chatsByIds(db, ids.items) };
}

/**
 * Changes a chat's status and/or curator, only if its status is still `from` (a concurrent change makes this
 * return undefined instead of overwriting it).
 */
export async function updateChat(db: Db, chat: Chat, change: { status?: ChatStatus; curatorId?: number }, now = Date.now()): Promise<Chat | undefined> {
  const sets = ['updatedAt = :now'];
  const values: Record<string, unknown> = { ':now': isoNow(now), ':from': chat.status };
  if (change.status !== undefined) {
    sets.push('#status = :status');
    values[':status'] = change.status;
  }
  if (change.curatorId !== undefined) {
    sets.push('curatorId = :curator');
    values[':curator'] = change.curatorId;
  }
  try {
    const { Attributes } = await dynamo(db).doc.send(
      new UpdateCommand({
        TableName: dynamo(db).table,
        Key: deskKeys.chat(chat.id),
        UpdateExpression: `SET ${sets.join(', ')}`,
        ConditionExpression: '#status = :from',
        ExpressionAttributeNames: { '#status': 'status' },
        ExpressionAttributeValues: values,
        ReturnValues: 'ALL_NEW',
      }),
    );
    return chatOf(Attributes!);
  } catch (error) {
    if (isRefused(error)) return undefined;
    throw error;
  }
}

/**
 * Who receives an event about this chat now (`chatAudience`): two Queries whatever the number of chats,
 * the topic's grants and the curator list; constant in the number of chats, linear in curators only by
 * the items those Queries return.
 */
export async function resolveChatAudience(db: Db, chat: Chat): Promise<Set<number>> {
  const [granted, curators] = await Promise.all([topicCuratorIds(db, chat.topicId), curatorIds(db)]);
  return chatAudience(chat, granted, new Set(curators));
}

// ---- messages ----

function messageOf(item: Item): DeskMessage {
  return {
    id: Number(item.id),
    chatId: Number(item.chatId),
    senderId: Number(item.senderId),
    text: String(item.text),
    messageType: item.messageType as MessageType,
    ...(item.file ? { file: item.file as DeskFile } : {}),
    createdAt: String(item.createdAt),
    ...(item.editedAt !== undefined ? { editedAt: String(item.editedAt) } : {}),
  };
}

/**
 * Stores a message and moves the chat's `lastMessageId` forward, all or nothing; undefined when the chat was
 * closed meanwhile (a closed chat takes no messages).
 */
export async function postMessage(
  db: Db,
  chat: Chat,
  fields: { senderId: number; text: string; messageType: MessageType; file?: DeskFile },
  now = Date.now(),
): Promise<DeskMessage | undefined> {
  const id = await nextId(db, DESK_COUNTERS.message);
  const message: DeskMessage = { id, chatId: chat.id, ...fields, createdAt: isoNow(now) };
  // Two posts may commit out of id order: the chat's last id only moves forward. The first attempt moves
  // it; if that condition fails only because a later id is already there, the second stores without it.
  const write = (advance: boolean) =>
    dynamo(db).doc.send(
      new TransactWriteCommand({
        TransactItems: [
          { Put: { TableName: dynamo(db).table, Item: { ...deskKeys.message(chat.id, id), ...message } } },
          {
            Update: {
              TableName: dynamo(db).table,
              Key: deskKeys.chat(chat.id),
              UpdateExpression: advance ? 'SET lastMessageId = :id, updatedAt = :now' : 'SET updatedAt = :now',
              ConditionExpression: `#status <> :closed${advance ? ' AND (attribute_not_exists(lastMessageId) OR lastMessageId < :id)' : ''}`,
              ExpressionAttributeNames: { '#status': 'status' },
              ExpressionAttributeValues: { ...(advance ? { ':id': id } : {}), ':now': message.createdAt, ':closed': 'closed' },
            },
          },
        ],
      }),
    );
  try {
    await write(true);
  } catch (error) {
    if (!isRefused(error)) throw error;
    try {
      await write(false);
    } catch (again) {
      if (isRefused(again)) return undefined;
      throw again;
    }
  }
  return message;
}

export async function getMessage(db: Db, chatId: number, messageId: number): Promise<DeskMessage | undefined> {
  const { Item } = await dynamo(db).doc.send(new GetCommand({ TableName: dynamo(db).table, Key: deskKeys.message(chatId, messageId) }));
  return Item ? messageOf(Item) : undefined;
}

export async function listMessages(db: Db, chatId: number, page: DeskPage): Promise<Paged<DeskMessage>> {
  const from = page.startId === undefined ? (page.order === 1 ? 'MSG#0000000000' : 'MSG#9999999999') : `MSG#${padId(page.startId)}`;
  const to = page.order === 1 ? 'MSG#9999999999' : 'MSG#0000000000';
  const result = await dynamo(db).doc.send(
    new QueryCommand({
      TableName: dynamo(db).table,
      KeyConditionExpression: 'pk = :pk AND sk BETWEEN :low AND :high',
      ExpressionAttributeValues: { ':pk': deskKeys.chat(chatId).pk, ':low': page.order === 1 ? from : to, ':high': page.order === 1 ? to : from },
      ScanIndexForward: page.order === 1,
      Limit: page.count,
    }),
  );
  const items = ((result.Items ?? []) as Item[]).map(messageOf);
  const last = items[items.length - 1];
  const more = result.LastEvaluatedKey !== undefined && last !== undefined;
  return { items, ...(more ? { nextStartId: page.order === 1 ? last.id + 1 : last.id - 1 } : {}) };
}

/** New text of a message that still exists; undefined when it was deleted meanwhile. */
export async function editMessage(db: Db, message: DeskMessage, text: string, now = Date.now()): Promise<DeskMessage | undefined> {
  try {
    const { Attributes } = await dynamo(db).doc.send(
      new UpdateCommand({
        TableName: dynamo(db).table,
        Key: deskKeys.message(message.chatId, message.id),
        UpdateExpression: 'SET #text = :text, editedAt = :now',
        ConditionExpression: 'attribute_exists(pk)',
        ExpressionAttributeNames: { '#text': 'text' },
        ExpressionAttributeValues: { ':text': text, ':now': isoNow(now) },
        ReturnValues: 'ALL_NEW',
      }),
    );
    return messageOf(Attributes!);
  } catch (error) {
    if (isRefused(error)) return undefined;
    throw error;
  }
}

/** Deletes a message; false when it was already gone. */
export async function deleteMessage(db: Db, message: DeskMessage): Promise<boolean> {
  try {
    await dynamo(db).doc.send(new DeleteCommand({ TableName: dynamo(db).table, Key: deskKeys.message(message.chatId, message.id), ConditionExpression: 'attribute_exists(pk)' }));
    return true;
  } catch (error) {
    if (isRefused(error)) return false;
    throw error;
  }
}

// ---- read markers ----

/** Moves a user's read marker forward to `lastMessageId`; false when it already was there or beyond. */
export async function markRead(db: Db, marker: ReadMarker): Promise<boolean> {
  try {
    await dynamo(db).doc.send(
      new UpdateCommand({
        TableName: dynamo(db).table,
        Key: deskKeys.readMarker(marker.chatId, marker.userId),
        UpdateExpression: 'SET lastMessageId = :id, userId = :user, chatId = :chat',
        ConditionExpression: 'attribute_not_exists(lastMessageId) OR lastMessageId < :id',
        ExpressionAttributeValues: { ':id': marker.lastMessageId, ':user': marker.userId, ':chat': marker.chatId },
      }),
    );
    return true;
  } catch (error) {
    if (isRefused(error)) return false;
    throw error;
  }
}

export async function readMarkers(db: Db, chatId: number): Promise<ReadMarker[]> {
  return (await queryPrefix(db, deskKeys.chat(chatId).pk, 'READ#')).map((item) => ({
    chatId: Number(item.chatId),
    userId: Number(item.userId),
    lastMessageId: Number(item.lastMessageId),
  }));
}

/** Ids of message files (the `id` of seed 004's `files`). */
export function nextFileId(db: Db): Promise<number> {
  return nextId(db, DESK_COUNTERS.file);
}
