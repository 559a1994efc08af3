import { applied, batchWrite, type Db, ex, exists, isConditionFailure, type Key, keyOf, queryIndexPrefix, queryPrefix } from './db';
import { build, type ConnectionFields, type ConnectionItem } from './items';
import { GSI1, keys, padId, partitions, prefixes, TTL_ATTRIBUTE } from './table';
import { epochSeconds } from './time';

/** gsi1sk of a connection-cap slot (connection-caps.ts): removed with its connection, conditionally. */
export const SLOT_INDEX_PREFIX = prefixes.slotOfConnection;

/**
 * Frees a slot only while this connection holds it: the index is eventually consistent, and the slot
 * may have expired and been claimed by another connection meanwhile.
 */
export async function releaseSlot(db: Db, key: Key, connectionId: string): Promise<void> {
  await applied(db.delete(key, { if: ex`connectionId = ${connectionId}` }));
}

/** API Gateway closes every WebSocket after 2 hours; items live 15 minutes longer, then TTL removes them. */
export const CONNECTION_TTL_SECONDS = 2 * 3600 + 15 * 60;

/**
 * How long a connection may still be inside its `$connect` after it was stored: API Gateway's integration
 * timeout (29 s) plus a margin. A post to such a connection answers 410 exactly as a post to a dead one,
 * so a 410 proves nothing until the connection is known to be open or is older than this.
 */
export const CONNECT_WINDOW_MS = 30_000;

/**
 * What this process has learned of connections without asking the table again: removed for good (an id is
 * never reused), or young (inside its `$connect`) until a given time. A reconnect storm posts every user's
 * announcement to hundreds of connections that are closing or still opening; without this, each of those
 * 410s costs a table write. Bounded: the oldest entries go first.
 */
const LEARNED_LIMIT = 50_000;
const knownGone = new Set<string>();
const youngUntil = new Map<string, number>();
function learn<T>(store: Set<string> | Map<string, T>, connectionId: string, value?: T): void {
  store.delete(connectionId);
  if (store instanceof Set) store.add(connectionId);
  else store.set(connectionId, value as T);
  if (store.size > LEARNED_LIMIT) store.delete(store.keys().next().value as string);
}

/** The connection was removed (by this process): posting to it is pointless. */
export function isKnownGone(connectionId: string): boolean {
  return knownGone.has(connectionId);
}

/** The protocol of connection items stored without a `protocol` attribute (all of them before there were several). */
export const DEFAULT_PROTOCOL = 'zavodchat';

/** One live socket connection of one user: the unit events are delivered to. */
export interface Recipient {
  userId: number;
  connectionId: string;
  /** When the session the connection was opened with expires: it receives nothing after (docs/security.md). */
  sessionExpiresAt?: number;
  /** The socket protocol it speaks (lambdas/protocols/registry.ts); absent means DEFAULT_PROTOCOL. */
  protocol?: string;
  /**
   * The server the connection is bound to within its protocol (a workspace socket's workspace id); its adapter
   * reads it. The fan-out reaches a scoped connection through that server only (observers, `resolveAudience`),
   * and presence closes it when its user's membership of that server ends (`closeConnectionsScopedTo`).
   */
  scope?: string;
}

export function protocolOf(recipient: Recipient): string {
  return recipient.protocol ?? DEFAULT_PROTOCOL;
}

/** A recipient as its connection and subscription items store it (items.ts), its protocol resolved. */
function connectionFields(recipient: Recipient): ConnectionFields {
  return { ...recipient, protocol: protocolOf(recipient) };
}

/** What `$connect` knows of a new connection beyond its recipient: its session and source address. */
export interface ConnectionOrigin {
  /** sessionRefOf(token): lets a logout or password change find the session's connections. */
  session?: string;
  sourceIp?: string;
}

/** Only what a recipient needs: a fan-out reads one item per connected member, so each byte counts. */
const RECIPIENT_PROJECTION = ['userId', 'connectionId', TTL_ATTRIBUTE, 'sessionExpiresAt', 'protocol', 'scope'];

function live(items: Array<Record<string, unknown>>, now: number): Recipient[] {
  const nowSeconds = epochSeconds(now);
  return items
    .filter((item) => Number(item[TTL_ATTRIBUTE] ?? Infinity) > nowSeconds)
    .map((item) => ({
      userId: Number(item.userId),
      connectionId: String(item.connectionId),
      ...(item.sessionExpiresAt !== undefined ? { sessionExpiresAt: Number(item.sessionExpiresAt) } : {}),
      // Recipients of the default protocol carry none: most connections, and what an item without one means.
      ...(item.protocol !== undefined && item.protocol !== DEFAULT_PROTOCOL ? { protocol: String(item.protocol) } : {}),
      ...(item.scope !== undefined ? { scope: String(item.scope) } : {}),
    }));
}

/** The session this connection was opened with has expired: deliver nothing, close it instead. */
export function sessionExpired(recipient: Recipient, now = Date.now()): boolean {
  return recipient.sessionExpiresAt !== undefined && recipient.sessionExpiresAt <= now;
}

/** The item that stands for one live connection. */
export function connectionItem(recipient: Recipient, now = Date.now(), origin: ConnectionOrigin = {}): ConnectionItem {
  return build.connection(connectionFields(recipient), now, epochSeconds(now) + CONNECTION_TTL_SECONDS, origin);
}

/**
 * Stores a connection: its owner item first (what `$disconnect` reads to find the user; the index that also
 * leads there is eventually consistent and may not show a connection that closes right after opening), then
 * the connection item that counts for presence and delivery.
 */
export async function registerConnection(db: Db, recipient: Recipient, now = Date.now(), origin: ConnectionOrigin = {}): Promise<void> {
  const item = connectionItem(recipient, now, origin);
  await db.put(build.connectionOwner(recipient.connectionId, recipient.userId, item[TTL_ATTRIBUTE]));
  await db.put(item);
}

/**
 * The connections of a user opened with one of the given sessions (by sessionRefOf). Strongly consistent,
 * so a connection registered before its session was deleted is found (see the socket's `$connect`).
 */
export async function connectionsOfSessions(db: Db, userId: number, sessions: readonly string[]): Promise<Recipient[]> {
  if (sessions.length === 0) return [];
  const wanted = new Set(sessions);
  const items = await queryPrefix(db, partitions.user(userId), prefixes.connection, { consistent: true, attributes: ['connectionId', 'session', 'protocol'] });
  // With its protocol: a connection of another protocol is closed through that protocol's API.
  return items
    .filter((item) => typeof item.session === 'string' && wanted.has(item.session))
    .map((item) => ({
      userId,
      connectionId: String(item.connectionId),
      ...(item.protocol !== undefined && item.protocol !== DEFAULT_PROTOCOL ? { protocol: String(item.protocol) } : {}),
    }));
}

/**
 * Records that a post reached the connection, so its `$connect` is over: from now on a 410 is proof that it
 * is gone. False when the connection item no longer exists (closed meanwhile).
 */
export async function markConnectionOpen(db: Db, recipient: Recipient, now = Date.now()): Promise<boolean> {
  if (!(await applied(db.update(keys.connection(recipient.userId, recipient.connectionId), { set: { openedAt: now } }, { if: exists })))) return false;
  youngUntil.delete(recipient.connectionId);
  return true;
}

/**
 * Every live connection of one user (one Query). `consistent` reads what the last write left, as deciding
 * whether a user is offline must.
 */
export async function connectionsOfUser(db: Db, userId: number, now = Date.now(), consistent = false): Promise<Recipient[]> {
  return live(await queryPrefix(db, partitions.user(userId), prefixes.connection, { attributes: RECIPIENT_PROJECTION, consistent }), now);
}

/**
 * Whether any main-socket connection is live (one Query of at most one item, eventually consistent): the
 * owner items are indexed by expiry, so the first one not yet expired answers. A connection whose
 * `$disconnect` was lost counts until it is pruned or expires.
 */
export async function anyLiveConnection(db: Db, now = Date.now()): Promise<boolean> {
  const page = await db.queryPage({ index: true, partition: keys.allConnectionsIndex(), after: padId(epochSeconds(now)), limit: 1 });
  return page.items.length > 0;
}

/**
 * Every live connection of every member of a server: one Query (plus pages), whatever the member count,
 * because each connection is subscribed to each of its user's servers by an item in the server's partition.
 */
export async function connectionsOfServer(db: Db, serverId: number, now = Date.now()): Promise<Recipient[]> {
  return live(await queryPrefix(db, partitions.server(serverId), prefixes.connection, { attributes: RECIPIENT_PROJECTION }), now);
}

/** Subscribes connections to servers (idempotent puts); the items expire with their connection. */
export async function subscribe(db: Db, connections: Recipient[], serverIds: number[], now = Date.now()): Promise<void> {
  const ttl = epochSeconds(now) + CONNECTION_TTL_SECONDS;
  await batchWrite(
    db,
    connections.flatMap((c) =>
      serverIds.map((serverId) => ({ put: build.subscription(serverId, connectionFields(c), ttl) })),
    ),
  );
}

/** After the user joined a server: his open connections start receiving its events. */
export async function subscribeUserToServer(db: Db, userId: number, serverId: number): Promise<void> {
  await subscribe(db, await connectionsOfUser(db, userId), [serverId]);
}

/** After the user left a server (kick, ban): his connections stop receiving its events. */
export async function unsubscribeUserFromServer(db: Db, userId: number, serverId: number): Promise<void> {
  const items = await queryPrefix(db, partitions.server(serverId), prefixes.subscriptionsOfUser(userId));
  await batchWrite(
    db,
    items.map((item) => ({ delete: keyOf(item) })),
  );
}

/**
 * How a connection is removed: for sure (`$disconnect`), or only if a 410 proves it gone (pruning).
 * `postedAt` is when the post that answered 410 was sent: it proves death only if the connection was known
 * to be open before then (a 410 to a connection still inside `$connect` may arrive after it opened).
 */
export type Removal = { kind: 'closed' } | { kind: 'gone'; userId: number; postedAt: number };

/**
 * Removes a connection, its subscriptions and its connection-cap slots. Returns the owner's id when this
 * call is the one that removed the connection item (so `$disconnect` and a 410 prune racing each other count
 * it once), and `'young'` when a prune was refused because the connection may still be inside its `$connect`.
 *
 * The connection item goes first, conditionally for a prune, so a refused prune leaves everything in place.
 * Subscriptions and slots come from the index (eventually consistent): one it does not show yet stays until
 * its TTL (each post to it then answers 410 and costs one refused write).
 */
export async function removeConnection(db: Db, connectionId: string, removal: Removal = { kind: 'closed' }): Promise<number | 'young' | undefined> {
  if (removal.kind === 'gone') {
    if (knownGone.has(connectionId)) return undefined;
    if ((youngUntil.get(connectionId) ?? 0) > removal.postedAt) return 'young';
  }
  const ownerKey = keys.connectionOwner(connectionId);
  const owner =
    removal.kind === 'gone'
      ? removal.userId
      : ((await db.get(ownerKey, { consistent: true }))?.userId as number | undefined);
  let removedUser: number | undefined;
  if (owner !== undefined) {
    try {
      const old = await db.delete(keys.connection(Number(owner), connectionId), {
        // Gone for sure: already removed, or open before the post, or too old to be inside $connect then.
        if: removal.kind === 'gone' ? ex`attribute_not_exists(pk) OR openedAt < ${removal.postedAt} OR connectedAt < ${removal.postedAt - CONNECT_WINDOW_MS}` : undefined,
        // A refusal shows when the connection began (the old item comes with it): it stays young (no more writes) until 30 s after.
        returning: 'ALL_OLD',
      });
      if (old) removedUser = Number(old.userId);
      learn(knownGone, connectionId);
    } catch (error) {
      if (!isConditionFailure(error)) throw error;
      const item = error.item;
      const connectedAt = Number(item?.connectedAt);
      // Opened since the post was sent: a later 410 will be proof, so nothing to remember.
      if (item?.openedAt === undefined) learn(youngUntil, connectionId, Number.isFinite(connectedAt) ? connectedAt + CONNECT_WINDOW_MS : Date.now() + 1000);
      return 'young';
    }
    // A 410 for a connection already removed: its removal (a `$disconnect` that ran a moment earlier) takes
    // its other items too. In a reconnect storm every closing user's announcement meets hundreds of these,
    // so they must cost the one write above and nothing more.
    if (removal.kind === 'gone' && removedUser === undefined) return undefined;
  }
  const items = (await queryIndexPrefix(db, keys.itemsOfConnectionIndex(connectionId))).filter((item) => item[GSI1.sort] !== 'USER');
  const slots = items.filter((item) => String(item[GSI1.sort]).startsWith(SLOT_INDEX_PREFIX));
  const subscriptions = items.filter((item) => !slots.includes(item));
  await Promise.all([
    batchWrite(db, [ownerKey, ...subscriptions.map(keyOf)].map((key) => ({ delete: key }))),
    ...slots.map((slot) => releaseSlot(db, keyOf(slot), connectionId)),
  ]);
  return removedUser;
}
