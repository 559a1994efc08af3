import { type Channel, CHANNEL_TYPE } from './channels';
import { absent, type Db, exists, type Item, isConditionFailure, nextId, queryPrefix } from './db';
import { badRequest, notFound, TEXT } from './errors';
import { listMessages, type Message } from './messages';
import { channelNotifications, readMarkersOf } from './notifications';
import { keys, partitions, prefixes } from './table';
import { build } from './items';
import type { Page } from './users';

/**
 * Two users' DM channels (a text and a voice channel, created together on first use). Each user's
 * partition indexes his DM pairs (`USER#u / DM#other`), so finding a pair or listing them is one request.
 */
export interface DmPair {
  otherId: number;
  textId: number;
  voiceId: number;
}

/** An entry of `GET /dms`: the DM text channel with the other participant and its last message. */
export interface DmListEntry {
  id: number;
  type: number;
  wl_users: number[];
  wl_roles: number[];
  user_id: number;
  notifications?: number;
  last_message?: Message;
}

const dmKey = keys.dmPair;

function pairFromItem(item: Item): DmPair {
  return { otherId: Number(item.otherId), textId: Number(item.textId), voiceId: Number(item.voiceId) };
}

/** Every DM pair of a user (one Query). */
export async function dmPairsOf(db: Db, userId: number): Promise<DmPair[]> {
  return (await queryPrefix(db, partitions.user(userId), prefixes.dm)).map(pairFromItem);
}

async function findPair(db: Db, userId: number, otherId: number): Promise<DmPair | undefined> {
  const item = await db.get(dmKey(userId, otherId), { consistent: true });
  return item ? pairFromItem(item) : undefined;
}

/**
 * `POST /dms/{uid}`: the pair of DM channels with another user, created on first use. The creation is one
 * transaction conditioned on neither index item existing, so two users opening the same DM at once end
 * up with one pair (the loser reads the winner's). No friendship or block check, as upstream.
 */
export async function openDm(db: Db, userId: number, otherId: number): Promise<DmPair> {
  if (userId === otherId) throw badRequest('Cannot open a DM with yourself');
  const existing = await findPair(db, userId, otherId);
  if (existing) return existing;
  const [first, second] = await Promise.all([nextId(db, 'channel'), nextId(db, 'channel')]);
  const [textId, voiceId] = [Math.min(first, second), Math.max(first, second)];
  const participants = [userId, otherId].sort((a, b) => a - b);
  const channel = (id: number, type: number): Channel => ({ id, type, participants: participants as [number, number], wlUsers: [], wlRoles: [], overrides: {}, lastMessageId: 0 });
  const putNew = (item: Item) => ({ put: item, if: absent });
  try {
    await db.transact([
      putNew(build.dmPair(userId, otherId, textId, voiceId)),
      putNew(build.dmPair(otherId, userId, textId, voiceId)),
      putNew(build.channel(channel(textId, CHANNEL_TYPE.TEXT))),
      putNew(build.channel(channel(voiceId, CHANNEL_TYPE.VOICE))),
      { check: keys.user(otherId), if: exists },
    ]);
  } catch (error) {
    if (!isConditionFailure(error)) throw error;
    const created = await findPair(db, userId, otherId);
    if (created) return created;
    const other = await db.get(keys.user(otherId));
    if (!other) throw notFound(TEXT.userNotFound);
    throw error;
  }
  return { otherId, textId, voiceId };
}

async function lastMessageIds(db: Db, channelIds: number[]): Promise<Map<number, number>> {
  const out = new Map<number, number>();
  const items = await db.getMany(channelIds.map((id) => keys.channel(id)), { attributes: ['id', 'lastMessageId'] });
  for (const item of items) out.set(Number(item.id), Number(item.lastMessageId ?? 0));
  return out;
}

const NEWEST: Page = { startId: 2147483647, count: 1, order: 0 };

/**
 * `GET /dms`: the user's DM text channels that have messages, paged by their last message id like
 * messages are (`order` 0 = most recent first), each with its newest message and unread count.
 * The order key is the channel's last message id, which a deletion of the newest message moves back.
 */
export async function listDms(db: Db, userId: number, page: Page, hidden: Set<number> = new Set()): Promise<DmListEntry[]> {
  const [pairs, markers] = await Promise.all([dmPairsOf(db, userId), readMarkersOf(db, userId)]);
  const lastIds = await lastMessageIds(db, pairs.map((pair) => pair.textId));
  const inPage = (id: number) => id > 0 && (page.order === 1 ? id >= page.startId : id <= page.startId);
  const candidates = pairs
    .map((pair) => ({ pair, lastId: lastIds.get(pair.textId) ?? 0 }))
    .filter(({ lastId }) => inPage(lastId))
    .sort((a, b) => (page.order === 1 ? a.lastId - b.lastId : b.lastId - a.lastId));

  const entries: DmListEntry[] = [];
  // Channels whose messages were all deleted drop out, so fetch in chunks until the page is full.
  for (let i = 0; i < candidates.length && entries.length < page.count; i += page.count) {
    const chunk = candidates.slice(i, i + page.count);
    // Messages of a user the caller blocked are not his last message, nor do they make the DM unread.
    const newest = await Promise.all(chunk.map(({ pair }) => listMessages(db, pair.textId, NEWEST, hidden)));
    chunk.forEach(({ pair }, index) => {
      const lastMessage = newest[index][0];
      if (!lastMessage || entries.length >= page.count) return;
      const channel: Channel = { id: pair.textId, type: CHANNEL_TYPE.TEXT, wlUsers: [], wlRoles: [], overrides: {}, lastMessageId: lastMessage.id };
      const notifications = channelNotifications(channel, markers.get(pair.textId));
      entries.push({
        id: pair.textId,
        type: CHANNEL_TYPE.TEXT,
        wl_users: [],
        wl_roles: [],
        user_id: pair.otherId,
        ...(notifications !== undefined ? { notifications } : {}),
        last_message: lastMessage,
      });
    });
  }
  return entries;
}
