import { applied, attr, type Db, ex, isConditionFailure } from '../../domain/db';
import { CONNECT_WINDOW_MS, CONNECTION_TTL_SECONDS, type Recipient } from '../../domain/connections';
import { padId, TTL_ATTRIBUTE } from '../../domain/table';
import { epochSeconds } from '../../domain/time';

/*
 * The desk socket's connections in the one table (docs/data-model.md, "Desk"). Desk users are not ZavodChat
 * users (their ids are the desk's own), so their connections are not in `USER#<id>` partitions: all live desk
 * connections share one partition, sorted by user, so the audience of any desk event is one Query (constant
 * in the number of curators and chats; its size grows with the desk connections online, a few hundred at a
 * support desk). The presence item and the owner item (what `$disconnect`, knowing only the connection id,
 * reads) complete it. Same attributes as the ZavodChat connection items (protocol, TTL, sessionExpiresAt).
 */

export const DESK_PROTOCOL = 'desk';
const CONNECTIONS = 'DESK#CONNECTIONS';
const userPrefix = (userId: number) => `CONN#${padId(userId)}#`;
const connectionKey = (userId: number, connectionId: string) => ({ pk: CONNECTIONS, sk: `${userPrefix(userId)}${connectionId}` });
const ownerKey = (connectionId: string) => ({ pk: `DESKCONN#${connectionId}`, sk: 'OWNER' });
/** `online` and `epoch` (raised by every connect after its connection item is written): see leaveIfLast in presence.ts. */
const presenceKey = (userId: number) => ({ pk: `DESKUSER#${userId}`, sk: 'PRESENCE' });

export function deskRecipient(userId: number, connectionId: string, sessionExpiresAt?: number): Recipient {
  return { userId, connectionId, protocol: DESK_PROTOCOL, ...(sessionExpiresAt !== undefined ? { sessionExpiresAt } : {}) };
}

function recipientsOf(items: Array<Record<string, unknown>>, now: number): Recipient[] {
  const nowSeconds = epochSeconds(now);
  return items
    .filter((item) => Number(item[TTL_ATTRIBUTE] ?? Infinity) > nowSeconds)
    .map((item) => deskRecipient(Number(item.userId), String(item.connectionId), item.sessionExpiresAt === undefined ? undefined : Number(item.sessionExpiresAt)));
}

const PROJECTION = ['userId', 'connectionId', 'sessionExpiresAt', TTL_ATTRIBUTE];

/** Stores a connection: the owner item first ($disconnect reads it), then the item that counts and receives. */
export async function registerDeskConnection(db: Db, recipient: Recipient, now = Date.now()): Promise<void> {
  const ttl = epochSeconds(now) + CONNECTION_TTL_SECONDS;
  await db.put({ ...ownerKey(recipient.connectionId), userId: recipient.userId, [TTL_ATTRIBUTE]: ttl });
  await db.put({
    ...connectionKey(recipient.userId, recipient.connectionId),
    userId: recipient.userId,
    connectionId: recipient.connectionId,
    protocol: DESK_PROTOCOL,
    ...(recipient.sessionExpiresAt !== undefined ? { sessionExpiresAt: recipient.sessionExpiresAt } : {}),
    connectedAt: now,
    [TTL_ATTRIBUTE]: ttl,
  });
}

/** Every live desk connection of these users: one Query of the connections partition, whatever their number. */
export async function deskConnectionsOf(db: Db, userIds: ReadonlySet<number>, now = Date.now()): Promise<Recipient[]> {
  if (userIds.size === 0) return [];
  const items = await db.query({ partition: CONNECTIONS, prefix: 'CONN#', attributes: PROJECTION });
  return recipientsOf(items, now).filter((r) => userIds.has(r.userId));
}

/** One user's live desk connections, read consistently (deciding that he is offline needs that). */
export async function deskConnectionsOfUser(db: Db, userId: number, now = Date.now()): Promise<Recipient[]> {
  return recipientsOf(await db.query({ partition: CONNECTIONS, prefix: userPrefix(userId), attributes: PROJECTION, consistent: true }), now);
}

/**
 * Removes a connection: for sure (`$disconnect`, a session that expired), or, for a 410 (`postedAt`), only if
 * it is older than any `$connect` can be then (a connection inside its `$connect` answers 410 too). Returns
 * the owner's id when this call removed the connection item (so two removals racing count it once).
 */
export async function removeDeskConnection(db: Db, connectionId: string, gone?: { userId: number; postedAt: number }): Promise<number | undefined> {
  const owner = gone?.userId ?? (await db.get(ownerKey(connectionId), { consistent: true }))?.userId;
  if (owner === undefined) return undefined;
  let old: Record<string, unknown> | undefined;
  try {
    old = await db.delete(connectionKey(Number(owner), connectionId), {
      if: gone ? ex`attribute_not_exists(pk) OR connectedAt < ${gone.postedAt - CONNECT_WINDOW_MS}` : undefined,
      returning: 'ALL_OLD',
    });
  } catch (error) {
    if (isConditionFailure(error)) return undefined;
    throw error;
  }
  await db.delete(ownerKey(connectionId));
  return old ? Number(old.userId) : undefined;
}

/**
 * A connection of the user was stored: he is online. True when he was not before (exactly one of several
 * connections opening at once sees that: the updates are serialized on one item).
 */
export async function markOnline(db: Db, userId: number): Promise<boolean> {
  const old = await db.update(presenceKey(userId), { set: { online: true }, add: { epoch: 1 } }, { returning: 'ALL_OLD' });
  return old?.online !== true;
}

export async function presenceOf(db: Db, userId: number): Promise<{ online: boolean; epoch: number }> {
  const item = await db.get(presenceKey(userId), { consistent: true });
  return { online: item?.online === true, epoch: Number(item?.epoch ?? 0) };
}

/**
 * The user goes offline if he still is online and no connect happened since `epoch` was read (that connect
 * stored a connection the caller's Query may have missed). True for the one call that turned him offline.
 */
export async function markOffline(db: Db, userId: number, epoch: number): Promise<boolean> {
  return applied(db.update(presenceKey(userId), { set: { online: false } }, { if: ex`${attr('online')} = ${true} AND ${attr('epoch')} = ${epoch}` }));
}
