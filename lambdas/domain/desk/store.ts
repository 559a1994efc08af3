import { absent, applied, attr, collectPage, type Db, ex, exists, isConditionFailure, type Item, nextId, orIfRefused, queryPrefix } from '../db';
import { idRange, MAX_PADDED_ID } from '../table';
import { isoNow } from '../time';
import type { DeskIdentity } from './oidc';
import { DESK_COUNTERS, deskKeys, deskPartitions, deskPrefixes } from './keys';
import type { Chat, DeskFile, DeskMessage, DeskUser, ReadMarker, Topic } from './model';
import { chatAudience, type ChatStatus, type ChatType, type MessageType } from './rules';

/**
 * Every desk read and write of the table (docs/data-model.md, "Desk"), in one file, on the store port
 * (lambdas/domain/db.ts). No authorization here: service.ts decides, this stores.
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
  const item = await db.get(deskKeys.user(userId));
  return item ? userOf(item) : undefined;
}

/**
 * sub -> user id, per process and per store (a process may serve several tables: the tests' local
 * runtimes): a subject never changes its user, so this needs no expiry.
 */
const userIdsByStore = new WeakMap<Db, Map<string, number>>();
const USER_ID_CACHE = 10_000;

/**
 * The desk user of a verified token, created on first sight of its `sub`. His name and roles follow the
 * token: when they differ from what is stored, the profile and the curator list are updated (so the
 * audience of chat events follows a curator who lost his role).
 */
export async function ensureUser(db: Db, identity: DeskIdentity, now = Date.now()): Promise<DeskUser> {
  let userIds = userIdsByStore.get(db);
  if (!userIds) userIdsByStore.set(db, (userIds = new Map()));
  let userId = userIds.get(identity.sub);
  if (userId === undefined) {
    const subject = await db.get(deskKeys.subject(identity.sub), { consistent: true });
    userId = subject ? Number(subject.userId) : await createUser(db, identity, now);
    if (userIds.size >= USER_ID_CACHE) userIds.delete(userIds.keys().next().value!);
    userIds.set(identity.sub, userId);
  }
  const stored = await getUser(db, userId);
  if (!stored) throw new Error(`desk user ${userId} of a known subject has no profile`);
  if (stored.name === identity.name && stored.curator === identity.curator && stored.admin === identity.admin) return stored;
  const updated: DeskUser = { ...stored, name: identity.name, curator: identity.curator, admin: identity.admin };
  await db.transact([
    { put: { ...deskKeys.user(userId), ...updated } },
    updated.curator ? { put: { ...deskKeys.curator(userId), userId } } : { delete: deskKeys.curator(userId) },
  ]);
  return updated;
}

async function createUser(db: Db, identity: DeskIdentity, now: number): Promise<number> {
  const id = await nextId(db, DESK_COUNTERS.user);
  const user: DeskUser = { id, sub: identity.sub, name: identity.name, curator: identity.curator, admin: identity.admin, createdAt: isoNow(now) };
  try {
    await db.transact([
      { put: { ...deskKeys.subject(identity.sub), userId: id }, if: absent },
      { put: { ...deskKeys.user(id), ...user } },
      ...(user.curator ? [{ put: { ...deskKeys.curator(id), userId: id } }] : []),
    ]);
    return id;
  } catch (error) {
    if (!isConditionFailure(error)) throw error;
    // Two first requests of one subject at once: the other created him (this id stays unused).
    const subject = await db.get(deskKeys.subject(identity.sub), { consistent: true });
    return Number(subject!.userId);
  }
}

/** Users holding the curator role when last seen. */
export async function curatorIds(db: Db): Promise<number[]> {
  return (await queryPrefix(db, deskKeys.curatorsPartition(), deskPrefixes.curator)).map((item) => Number(item.userId));
}

export async function getUsers(db: Db, ids: number[]): Promise<DeskUser[]> {
  if (ids.length === 0) return [];
  const found = (await db.getMany(ids.map((id) => deskKeys.user(id)))).map(userOf);
  return found.sort((a, b) => a.id - b.id);
}

// ---- topics ----

function topicOf(item: Item): Topic {
  return { id: Number(item.id), name: String(item.name), createdAt: String(item.createdAt) };
}

export async function createTopic(db: Db, name: string, now = Date.now()): Promise<Topic> {
  const topic: Topic = { id: await nextId(db, DESK_COUNTERS.topic), name, createdAt: isoNow(now) };
  await db.put({ ...deskKeys.topic(topic.id), ...topic });
  return topic;
}

export async function getTopic(db: Db, topicId: number): Promise<Topic | undefined> {
  const item = await db.get(deskKeys.topic(topicId));
  return item ? topicOf(item) : undefined;
}

export async function listTopics(db: Db): Promise<Topic[]> {
  return (await queryPrefix(db, deskKeys.topicsPartition(), deskPrefixes.topic)).map(topicOf);
}

/** Renames a topic; false when it does not exist. */
export async function renameTopic(db: Db, topicId: number, name: string): Promise<Topic | undefined> {
  const renamed = await orIfRefused(db.update(deskKeys.topic(topicId), { set: { name } }, { if: exists, returning: 'ALL_NEW' }), undefined);
  return renamed ? topicOf(renamed) : undefined;
}

/** Gives a curator access to a topic (both directions of the grant, with the topic's existence checked). */
export async function grantTopic(db: Db, topicId: number, userId: number): Promise<boolean> {
  return applied(
    db.transact([
      { check: deskKeys.topic(topicId), if: exists },
      { put: { ...deskKeys.topicCurator(topicId, userId), userId, topicId } },
      { put: { ...deskKeys.curatorTopic(userId, topicId), userId, topicId } },
    ]),
  );
}

export async function revokeTopic(db: Db, topicId: number, userId: number): Promise<void> {
  await db.transact([{ delete: deskKeys.topicCurator(topicId, userId) }, { delete: deskKeys.curatorTopic(userId, topicId) }]);
}

export async function topicCuratorIds(db: Db, topicId: number): Promise<number[]> {
  return (await queryPrefix(db, deskPartitions.topic(topicId), deskPrefixes.topicCurator)).map((item) => Number(item.userId));
}

export async function topicsOfCurator(db: Db, userId: number): Promise<number[]> {
  return (await queryPrefix(db, deskPartitions.user(userId), deskPrefixes.curatorTopic)).map((item) => Number(item.topicId));
}

export async function isTopicCurator(db: Db, topicId: number, userId: number): Promise<boolean> {
  return (await db.get(deskKeys.topicCurator(topicId, userId))) !== undefined;
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
  const created = await applied(
    db.transact([
      { check: deskKeys.topic(fields.topicId), if: exists },
      { put: { ...deskKeys.chat(id), ...chat } },
      { put: { ...deskKeys.chatOfTopic(fields.topicId, id), chatId: id } },
      { put: { ...deskKeys.chatOfCustomer(fields.customerId, id), chatId: id } },
    ]),
  );
  return created ? chat : undefined;
}

export async function getChat(db: Db, chatId: number, consistent = false): Promise<Chat | undefined> {
  const item = await db.get(deskKeys.chat(chatId), { consistent });
  return item ? chatOf(item) : undefined;
}

/**
 * One page of a partition whose sort keys are `<prefix><padded id>`, from `startId` on (newest first, or oldest
 * first with `order` 1): one Query of `count` items. A full page says where the next one starts.
 */
async function pageById<T>(
  db: Db,
  query: { partition: string; prefix: string; attributes?: string[] },
  page: DeskPage,
  take: (items: Item[]) => T[],
  idOf: (result: T) => number,
): Promise<Paged<T>> {
  const startId = page.startId ?? (page.order === 1 ? 0 : Number(MAX_PADDED_ID));
  const { items, next } = await collectPage(
    db,
    { partition: query.partition, ...idRange(query.prefix, startId, page.order), ...(query.attributes ? { attributes: query.attributes } : {}) },
    page.count,
    take,
    { limit: (scanned) => page.count - scanned },
  );
  const last = items[items.length - 1];
  const more = last !== undefined && (items.length >= page.count || next !== undefined);
  return { items, ...(more ? { nextStartId: page.order === 1 ? idOf(last) + 1 : idOf(last) - 1 } : {}) };
}

/** One page of ids from a partition whose sort keys are `<prefix><padded id>`. */
function pageOfIds(db: Db, partition: string, prefix: string, page: DeskPage): Promise<Paged<number>> {
  const idsOf = (items: Item[]) => items.map((item) => Number(String(item.sk).slice(prefix.length)));
  return pageById(db, { partition, prefix, attributes: ['sk'] }, page, idsOf, (id) => id);
}

async function chatsByIds(db: Db, ids: number[]): Promise<Chat[]> {
  if (ids.length === 0) return [];
  const found = new Map<number, Chat>();
  for (const item of await db.getMany(ids.map((id) => deskKeys.chat(id)))) found.set(Number(item.id), chatOf(item));
  return ids.map((id) => found.get(id)).filter((chat): chat is Chat => chat !== undefined);
}

/** A customer's chats, a page at a time (one Query and one BatchGet). */
export async function chatsOfCustomer(db: Db, userId: number, page: DeskPage): Promise<Paged<Chat>> {
  const ids = await pageOfIds(db, deskPartitions.user(userId), deskPrefixes.chat, page);
  return { ...ids, items: await chatsByIds(db, ids.items) };
}

/** A topic's chats, a page at a time. */
export async function chatsOfTopic(db: Db, topicId: number, page: DeskPage): Promise<Paged<Chat>> {
  const ids = await pageOfIds(db, deskPartitions.topic(topicId), deskPrefixes.chat, page);
  return { ...ids, items: await chatsByIds(db, ids.items) };
}

/**
 * Changes a chat's status and/or curator, only if its status is still `from` (a concurrent change makes this
 * return undefined instead of overwriting it).
 */
export async function updateChat(db: Db, chat: Chat, change: { status?: ChatStatus; curatorId?: number }, now = Date.now()): Promise<Chat | undefined> {
  // Undefined changes are left out of the update.
  const set = { updatedAt: isoNow(now), status: change.status, curatorId: change.curatorId };
  const updated = await orIfRefused(
    db.update(deskKeys.chat(chat.id), { set }, { if: ex`${attr('status')} = ${chat.status}`, returning: 'ALL_NEW' }),
    undefined,
  );
  return updated ? chatOf(updated) : undefined;
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
  const open = ex`${attr('status')} <> ${'closed'}`;
  const write = (advance: boolean) =>
    db.transact([
      { put: { ...deskKeys.message(chat.id, id), ...message } },
      {
        update: deskKeys.chat(chat.id),
        changes: { set: advance ? { lastMessageId: id, updatedAt: message.createdAt } : { updatedAt: message.createdAt } },
        if: advance ? ex`${open} AND (attribute_not_exists(lastMessageId) OR lastMessageId < ${id})` : open,
      },
    ]);
  if (await applied(write(true))) return message;
  return (await applied(write(false))) ? message : undefined;
}

export async function getMessage(db: Db, chatId: number, messageId: number): Promise<DeskMessage | undefined> {
  const item = await db.get(deskKeys.message(chatId, messageId));
  return item ? messageOf(item) : undefined;
}

export function listMessages(db: Db, chatId: number, page: DeskPage): Promise<Paged<DeskMessage>> {
  return pageById(db, { partition: deskPartitions.chat(chatId), prefix: deskPrefixes.message }, page, (items) => items.map(messageOf), (message) => message.id);
}

/** New text of a message that still exists; undefined when it was deleted meanwhile. */
export async function editMessage(db: Db, message: DeskMessage, text: string, now = Date.now()): Promise<DeskMessage | undefined> {
  const edited = await orIfRefused(
    db.update(deskKeys.message(message.chatId, message.id), { set: { text, editedAt: isoNow(now) } }, { if: exists, returning: 'ALL_NEW' }),
    undefined,
  );
  return edited ? messageOf(edited) : undefined;
}

/** Deletes a message; false when it was already gone. */
export async function deleteMessage(db: Db, message: DeskMessage): Promise<boolean> {
  return applied(db.delete(deskKeys.message(message.chatId, message.id), { if: exists }));
}

// ---- read markers ----

/** Moves a user's read marker forward to `lastMessageId`; false when it already was there or beyond. */
export async function markRead(db: Db, marker: ReadMarker): Promise<boolean> {
  return applied(
    db.update(
      deskKeys.readMarker(marker.chatId, marker.userId),
      { set: { lastMessageId: marker.lastMessageId, userId: marker.userId, chatId: marker.chatId } },
      { if: ex`attribute_not_exists(lastMessageId) OR lastMessageId < ${marker.lastMessageId}` },
    ),
  );
}

export async function readMarkers(db: Db, chatId: number): Promise<ReadMarker[]> {
  return (await queryPrefix(db, deskPartitions.chat(chatId), deskPrefixes.readMarker)).map((item) => ({
    chatId: Number(item.chatId),
    userId: Number(item.userId),
    lastMessageId: Number(item.lastMessageId),
  }));
}

/** Ids of message files (the `id` of seed 004's `files`). */
export function nextFileId(db: Db): Promise<number> {
  return nextId(db, DESK_COUNTERS.file);
}
