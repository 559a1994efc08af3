import { BROADCAST_MENTION_PREFIX, BROADCAST_MENTIONS_KEPT, type Channel } from './channels';
import { allOf, applied, attr, collectPage, type Db, ex, exists, type Expr, type Item, nextId, orThrow, type TransactWrite } from './db';
import { DEFAULT_MAX_SCAN_ITEMS } from './config';
import { idRange, keys, partitions, prefixes } from './table';
import { build } from './items';
import { badRequest, forbidden, notFound, TEXT } from './errors';
import { log } from './log';
import { isoNow } from './time';
import type { Page } from './users';

export const MAX_MESSAGE_LENGTH = 2000;
export const MAX_ATTACHMENT_LENGTH = 512;
export const MAX_MENTIONS = 32;
export const MESSAGE_NOT_FOUND = 'Message does not exist';

export const ATTACHMENT_TYPE = { LINK: 0, FILE: 1, IMAGE: 2 } as const;
export const MENTION_TYPE = { USER: 1, ROLE: 2, EVERYONE: 3 } as const;

export interface Attachment {
  type: number;
  content: string;
}

export interface Mention {
  type: number;
  begin_i: number;
  end_i: number;
  id?: number;
}

/** The message object of REST and of message events. */
export interface Message {
  id: number;
  author_id: number;
  sent: string;
  edited: string;
  text: string;
  attachments: Attachment[];
  mentions: Mention[];
}

export interface StoredMessage extends Message {
  channelId: number;
  serverId?: number;
  /** User id -> how much the message added to his mention count (see addMentions): what deleting it takes back. */
  notified?: Map<number, number>;
}

function messageFromItem(item: Item): StoredMessage {
  const message: StoredMessage = {
    id: Number(item.id),
    author_id: Number(item.authorId),
    sent: String(item.sent),
    edited: String(item.edited),
    text: String(item.text),
    attachments: (item.attachments as Attachment[]) ?? [],
    mentions: (item.mentions as Mention[]) ?? [],
    channelId: Number(item.channelId),
  };
  if (item.serverId !== undefined) message.serverId = Number(item.serverId);
  if (item.notified) message.notified = new Map(Object.entries(item.notified as Record<string, number>).map(([userId, count]) => [Number(userId), Number(count)]));
  return message;
}

/** The wire object: the stored message without the keys that events carry as `channel_id`/`server_id`. */
export function messageView(message: StoredMessage): Message {
  const { id, author_id, sent, edited, text, attachments, mentions } = message;
  return { id, author_id, sent, edited, text, attachments, mentions };
}

/** Validates `text` and `attachments` of a post or an edit; returns the attachments in canonical form. */
export function validateContent(text: string, attachments: unknown, maxAttachments: number): Attachment[] {
  if (text.length > MAX_MESSAGE_LENGTH) throw badRequest(`Message text should be at most ${MAX_MESSAGE_LENGTH} characters long`);
  if (attachments === undefined) attachments = [];
  if (!Array.isArray(attachments)) throw badRequest("Couldn't parse 'attachments': expected an array");
  if (attachments.length > maxAttachments) throw forbidden(`Cannot attach more than ${maxAttachments} files`);
  const parsed = attachments.map((a: unknown) => {
    const { type, content } = (a ?? {}) as { type?: unknown; content?: unknown };
    if (type !== 0 && type !== 1 && type !== 2) throw badRequest("Couldn't parse attachment 'type': expected 0, 1 or 2");
    if (typeof content !== 'string' || content.length === 0 || content.length > MAX_ATTACHMENT_LENGTH) {
      throw badRequest(`Couldn't parse attachment 'content': expected 1 to ${MAX_ATTACHMENT_LENGTH} characters`);
    }
    return { type, content };
  });
  if (text.length === 0 && parsed.length === 0) throw badRequest('Message should have text or attachments');
  return parsed;
}

/**
 * Mentions in a server message: `@u<id>` (a member), `@r<id>` (a role of the server), `@e` (everyone);
 * unknown targets are dropped, at most 32 are kept. `begin_i` is the index of `@`, `end_i` is inclusive.
 */
export function parseMentions(text: string, isMember: (userId: number) => boolean, isRole: (roleId: number) => boolean): Mention[] {
  const mentions: Mention[] = [];
  for (const match of text.matchAll(/@(?:([ur])(\d{1,10})|e)/g)) {
    if (mentions.length >= MAX_MENTIONS) break;
    const begin = match.index!;
    const end = begin + match[0].length - 1;
    if (match[1] === undefined) {
      mentions.push({ type: MENTION_TYPE.EVERYONE, begin_i: begin, end_i: end });
      continue;
    }
    const id = Number(match[2]);
    if (match[1] === 'u' && isMember(id)) mentions.push({ type: MENTION_TYPE.USER, begin_i: begin, end_i: end, id });
    if (match[1] === 'r' && isRole(id)) mentions.push({ type: MENTION_TYPE.ROLE, begin_i: begin, end_i: end, id });
  }
  return mentions;
}

/**
 * The channel's side of a new message: its last message id (only ever moved forward: two posts may commit
 * out of id order) and, when the message mentions @everyone or roles in a server channel, that mention
 * (BroadcastMention in channels.ts) in place of the oldest one kept. One write whatever the member count;
 * readers count these mentions against their read marker.
 */
function channelWrite(channel: Channel, messageId: number, authorId: number, mentions: Mention[], advance: boolean): TransactWrite {
  const everyone = mentions.filter((m) => m.type === MENTION_TYPE.EVERYONE).length;
  const roles = mentions.filter((m) => m.type === MENTION_TYPE.ROLE).map((m) => m.id!);
  const key = keys.channel(channel.id);
  const set: Record<string, unknown> = {};
  const remove: string[] = [];
  const condition = allOf(exists, advance && ex`(attribute_not_exists(lastMessageId) OR lastMessageId < ${messageId})`)!;
  if (advance) set.lastMessageId = messageId;
  if (channel.serverId !== undefined && (everyone > 0 || roles.length > 0)) {
    set[`${BROADCAST_MENTION_PREFIX}${messageId}`] = { authorId, everyone, roles };
    const kept = channel.broadcastMentions ?? [];
    for (const stale of kept.slice(0, Math.max(0, kept.length + 1 - BROADCAST_MENTIONS_KEPT))) remove.push(`${BROADCAST_MENTION_PREFIX}${stale.messageId}`);
  }
  if (Object.keys(set).length === 0) return { check: key, if: condition };
  return { update: key, changes: { set, remove }, if: condition };
}

/** Stores a message, its id pointer and the channel's new last message id, all or nothing. */
export async function postMessage(
  db: Db,
  channel: Channel,
  authorId: number,
  content: { text: string; attachments: Attachment[]; mentions: Mention[]; notified?: Map<number, number> },
  now = Date.now(),
): Promise<StoredMessage> {
  const id = await nextId(db, 'message');
  const sent = isoNow(now);
  const { notified, ...shown } = content;
  const message: StoredMessage = { id, author_id: authorId, sent, edited: sent, ...shown, channelId: channel.id, serverId: channel.serverId, notified };
  const write = (advance: boolean) =>
    db.transact([
      { put: build.message({ id, channelId: channel.id, serverId: channel.serverId, authorId, sent, ...shown, notified }) },
      { put: build.messagePointer(id, channel.id) },
      channelWrite(channel, id, authorId, content.mentions, advance),
    ]);
  // Either the channel is gone, or a newer message committed first and keeps its place as the last one.
  if (!(await applied(write(true)))) await orThrow(write(false), () => notFound(TEXT.channelNotFound));
  return message;
}

/** A message by id, with the channel it belongs to (via its pointer). */
export async function findMessage(db: Db, messageId: number): Promise<StoredMessage | undefined> {
  const pointer = await db.get(keys.messagePointer(messageId), { consistent: true });
  if (!pointer) return undefined;
  const item = await db.get(keys.message(Number(pointer.channelId), messageId), { consistent: true });
  return item ? messageFromItem(item) : undefined;
}

export async function editMessage(
  db: Db,
  message: StoredMessage,
  change: { text: string; attachments: Attachment[]; mentions: Mention[] },
  now = Date.now(),
): Promise<StoredMessage> {
  const edited = isoNow(now);
  await orThrow(
    db.transact([
      {
        update: keys.message(message.channelId, message.id),
        changes: { set: { text: change.text, attachments: change.attachments, mentions: change.mentions, edited } },
        if: exists,
      },
    ]),
    () => notFound(MESSAGE_NOT_FOUND),
  );
  return { ...message, ...change, edited };
}

/**
 * Deletes a message and takes it out of its channel's state: its @everyone/@role mention no longer counts
 * for anyone, and when it was the newest the channel's last message id goes back to the newest left, so a
 * deleted message leaves nobody an unread channel and a DM keeps its place by what is still there.
 */
export async function deleteMessage(db: Db, message: StoredMessage, channel: Channel): Promise<void> {
  const mentionAttribute = `${BROADCAST_MENTION_PREFIX}${message.id}`;
  const hadBroadcastMention = (channel.broadcastMentions ?? []).some((mention) => mention.messageId === message.id);
  await orThrow(
    db.transact([
      { delete: keys.message(message.channelId, message.id), if: exists },
      { delete: keys.messagePointer(message.id) },
      ...(hadBroadcastMention ? [{ update: keys.channel(channel.id), changes: { remove: [mentionAttribute] }, if: exists }] : []),
    ]),
    () => notFound(MESSAGE_NOT_FOUND),
  );
  if (message.id < channel.lastMessageId) return;
  // The message is gone: a failure here leaves the channel placed as before, it does not fail the deletion.
  await rewindLastMessageId(db, channel.id, message.id).catch((error) => log().error(`rewinding channel ${channel.id} after deleting message ${message.id}`, error));
}

/**
 * Points the channel's last message id at the newest message left, only while it still names the deleted
 * one: a post committed meanwhile has moved it forward and wins. (Two newest messages deleted at once can
 * leave it naming the second, which only keeps the channel's place, as before this existed.)
 */
async function rewindLastMessageId(db: Db, channelId: number, deletedId: number): Promise<void> {
  const { items } = await db.queryPage({
    partition: partitions.channel(channelId),
    prefix: prefixes.message,
    attributes: ['id'],
    descending: true,
    limit: 1,
    consistent: true,
  });
  const newest = items[0] ? Number(items[0].id) : 0;
  await applied(db.update(keys.channel(channelId), { set: { lastMessageId: newest } }, { if: ex`lastMessageId = ${deletedId}` }));
}

export interface MessageFilter {
  /** Every string must occur in the text (case-sensitive). */
  content?: string[];
  authorId?: number;
  from?: string;
  until?: string;
}

/** One page of a channel's messages by id (`order` 0 = newest first), hidden authors skipped, filters applied. */
export async function listMessages(db: Db, channelId: number, page: Page, hiddenAuthors: Set<number>, filter: MessageFilter = {}): Promise<Message[]> {
  return (await scanMessages(db, channelId, page, hiddenAuthors, filter)).items;
}

/** A page that may have stopped at the scan budget: `nextStartId` is where the next request goes on. */
export interface ScannedPage<T> {
  items: T[];
  /** Set when the budget ran out before the page was full and more items remain: the next `start_id`. */
  nextStartId?: number;
}

/** The `start_id` right after an item of sort key `...#<padded id>` in the page's direction. */
export function nextStartAfter(sortKey: unknown, order: 0 | 1): number | undefined {
  const id = Number(/(\d+)$/.exec(String(sortKey))?.[1]);
  if (!Number.isSafeInteger(id)) return undefined;
  const next = order === 1 ? id + 1 : id - 1;
  return next < 0 ? undefined : next;
}

/**
 * listMessages evaluating at most `maxScan` stored messages (filters and hidden authors make a page cost
 * up to the whole channel otherwise); when the budget ends first, the page is what was found so far.
 */
export async function scanMessages(
  db: Db,
  channelId: number,
  page: Page,
  hiddenAuthors: Set<number>,
  filter: MessageFilter = {},
  maxScan = DEFAULT_MAX_SCAN_ITEMS,
): Promise<ScannedPage<Message>> {
  const conditions: Expr[] = [
    ...(filter.content ?? []).map((text) => ex`contains(${attr('text')}, ${text})`),
    ...(filter.authorId !== undefined ? [ex`authorId = ${filter.authorId}`] : []),
    ...(filter.from !== undefined ? [ex`sent >= ${filter.from}`] : []),
    ...(filter.until !== undefined ? [ex`sent <= ${filter.until}`] : []),
  ];
  const filtered = conditions.length > 0 || hiddenAuthors.size > 0;
  // A full page must always be possible: the budget is never below the page size.
  const budget = Math.max(maxScan, page.count);
  const { items, next } = await collectPage(
    db,
    { partition: partitions.channel(channelId), ...idRange(prefixes.message, page.startId, page.order), filter: allOf(...conditions) },
    page.count,
    (found) =>
      found
        .map(messageFromItem)
        .filter((message) => !hiddenAuthors.has(message.author_id))
        .map(messageView),
    {
      budget,
      // A filter can drop most items: larger pages then save round trips, within what is left of the budget.
      limit: (scanned) => Math.min(budget - scanned, filtered ? Math.max(page.count * 2, 100) : Math.max(page.count, 1) * 2),
    },
  );
  const nextStartId = next ? nextStartAfter(next.sk, page.order) : undefined;
  return nextStartId === undefined ? { items } : { items, nextStartId };
}
