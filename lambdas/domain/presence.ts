import {
  CONNECT_WINDOW_MS,
  DEFAULT_PROTOCOL,
  type ConnectionOrigin,
  connectionsOfUser,
  markConnectionOpen,
  protocolOf,
  type Recipient,
  registerConnection,
  removeConnection,
  subscribe,
} from './connections';
import { attr, ex, exists, orIfRefused, queryPrefix } from './db';
import { type Audience, audience, type FanoutContext, publish, publishTo, renderFor, resolveAudience, senderFor } from './fanout';
import { log } from './log';
import { events } from './events';
import { PROTOCOLS } from '../protocols/registry';
import { serverIdsOfUser } from './servers';
import { keys, partitions, prefixes, TTL_ATTRIBUTE } from './table';
import { epochSeconds } from './time';

export const STATUS = { OFFLINE: 0, ONLINE: 1, AWAY: 2, DO_NOT_DISTURB: 3 } as const;

/** `?status=` and `PUT /user_status` take 0..3; anything else is refused by the caller. */
export function parseStatus(raw: string): number | undefined {
  return /^[0-3]$/.test(raw) ? Number(raw) : undefined;
}

/*
 * Presence (docs/data-model.md, "Connections and presence"). A user is offline (status 0) exactly when he
 * has no live connection item. Nothing counts connections: whoever removes one asks the table whether any
 * is left (a consistent Query) and turns the user offline only if no connect began since it looked, which
 * `presenceEpoch` (raised by every connect, after its connection item is written) tells. So a connect
 * racing the last disconnect always keeps its user online, and items removed by TTL never leave a count off.
 */

/** The user's presence fields, read consistently. */
async function presenceOf(context: FanoutContext, userId: number): Promise<{ status: number; epoch: number } | undefined> {
  const item = await context.db.get(keys.user(userId), { consistent: true, attributes: ['status', 'presenceEpoch'] });
  return item ? { status: Number(item.status ?? 0), epoch: Number(item.presenceEpoch ?? 0) } : undefined;
}

/**
 * Tells `target` that the user's status is now `status`, then checks the table again: when another change
 * (a connect racing a disconnect, two status changes) was stored meanwhile, its announcement may have been
 * overtaken by this one, so the current status is announced once more. The last announcement a connection
 * receives is then always the stored status.
 */
async function announceStatus(context: FanoutContext, userId: number, status: number, target: Audience | readonly Recipient[]): Promise<void> {
  const send = (value: number) => {
    const message = events.userChanged(userId, { status: value });
    return Array.isArray(target) ? publishTo(context, message, target as readonly Recipient[]) : publish(context, message, target as Audience);
  };
  await send(status);
  const now = await presenceOf(context, userId).catch(() => undefined);
  if (now && now.status !== status) await send(now.status);
}

/**
 * A main-socket connection opens: store it, subscribe it to the user's servers, apply the status
 * (`requestedStatus`, or the status he had when his last connection closed) and tell observers if it
 * changed. Nothing can be posted to the opening connection itself until its `$connect` has returned: it
 * learns its own status from `confirmConnectionOpen`, run after `$connect`.
 */
export async function openConnection(
  context: FanoutContext,
  connection: Recipient,
  requestedStatus: number | undefined,
  now = Date.now(),
  origin: ConnectionOrigin = {},
): Promise<number> {
  const { db } = context;
  await registerConnection(db, connection, now, origin);
  // Connections that died without $disconnect and expired meanwhile: tidy up (they no longer count anyway).
  const stale = (await queryPrefix(db, partitions.user(connection.userId), prefixes.connection)).filter((item) => Number(item[TTL_ATTRIBUTE]) <= epochSeconds(now));
  await Promise.all(stale.map((item) => removeConnection(db, String(item.connectionId))));
  // Raising the epoch after the connection item is written is what keeps a racing disconnect from
  // turning this user offline (closeConnection).
  const before =
    (await db.update(
      keys.user(connection.userId),
      { set: { status: requestedStatus ?? ex`if_not_exists(lastStatus, ${STATUS.ONLINE})` }, remove: ['offlineAt'], add: { presenceEpoch: 1 } },
      { if: exists, returning: 'ALL_OLD' },
    )) ?? {};
  const applied = requestedStatus ?? Number(before.lastStatus ?? STATUS.ONLINE);
  await subscribe(db, [connection], await serverIdsOfUser(db, connection.userId), now);
  if (Number(before.status ?? 0) !== applied) {
    // Posts to the opening connection answer 410 and are not taken for its death (connectionGone). A
    // connection of another protocol opens from an already open socket (the workspace socket's `auth`): it
    // is left out, its protocol tells it the outcome first (`auth-success`).
    const observers = audience.observersOf(connection.userId);
    await announceStatus(
      context,
      connection.userId,
      applied,
      protocolOf(connection) === DEFAULT_PROTOCOL ? observers : (await resolveAudience(db, observers)).filter((r) => r.connectionId !== connection.connectionId),
    );
  }
  return applied;
}

/**
 * Run once `$connect` has returned (the gateway then accepts posts): tells the new connection its own
 * status, as upstream's server does when it registers a socket, and marks the connection open, which makes
 * a later 410 proof of its death. Posts are retried while the connection may still be inside `$connect`.
 * Returns whether the connection was reached.
 */
export async function confirmConnectionOpen(context: FanoutContext, connection: Recipient, connectedAt: number): Promise<boolean> {
  const clock = Date.now;
  const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));
  const connectionKey = keys.connection(connection.userId, connection.connectionId);
  for (let delay = 10; ; delay = Math.min(delay * 2, 1000)) {
    // Closed meanwhile ($disconnect removed it): nothing to confirm.
    const stored = await context.db.get(connectionKey, { consistent: true });
    const presence = stored && (await presenceOf(context, connection.userId));
    if (!presence) return false;
    // Rendered in the connection's own protocol (stored with it); a protocol without the event posts nothing.
    const recipient: Recipient = {
      ...connection,
      ...(stored.protocol !== undefined ? { protocol: String(stored.protocol) } : {}),
      ...(stored.scope !== undefined ? { scope: String(stored.scope) } : {}),
    };
    const [rendering] = renderFor(context.protocols ?? PROTOCOLS, events.userChanged(connection.userId, { status: presence.status }), [recipient]);
    const postedAt = clock();
    const outcome = rendering ? await context.sender.post(connection.connectionId, rendering.frame) : 'sent';
    if (outcome === 'sent') {
      if (!(await markConnectionOpen(context.db, connection, clock()))) return false;
      // A status change stored while this one travelled may have reached the connection first.
      const after = await presenceOf(context, connection.userId);
      if (after && after.status !== presence.status) await announceStatus(context, connection.userId, after.status, [connection]);
      return true;
    }
    if (postedAt - connectedAt > CONNECT_WINDOW_MS) {
      // Never opened, or already gone: a 410 this late is proof.
      await connectionGone(context, connection, postedAt);
      return false;
    }
    await sleep(delay);
  }
}

/**
 * After one of the user's connections was removed: when it was his last one, he goes offline: `lastStatus`
 * keeps his status for the next connect and observers get `user_changed {status: 0}` (unless he was
 * already invisible). The epoch is read before looking for connections: a connect that raises it later has
 * written its connection before, so either the Query sees that connection or the update's condition fails.
 */
async function leaveIfLast(context: FanoutContext, userId: number): Promise<void> {
  const { db } = context;
  const epochBefore = (await presenceOf(context, userId))?.epoch;
  if (epochBefore === undefined || (await connectionsOfUser(db, userId, Date.now(), true)).length > 0) return;
  const old = await orIfRefused(
    db.update(
      keys.user(userId),
      { set: { lastStatus: ex`${attr('status')}`, status: STATUS.OFFLINE, offlineAt: Date.now() } },
      {
        // A connect since `epochBefore` was read has stored a connection this Query may have missed. And only
        // the first removal after a connect goes offline (`offlineAt`, which a connect removes): a second one
        // (two devices closing at once) would copy the offline status into lastStatus.
        if: ex`attribute_exists(pk) AND attribute_not_exists(offlineAt) AND (presenceEpoch = ${epochBefore} OR (attribute_not_exists(presenceEpoch) AND ${epochBefore} = ${0}))`,
        returning: 'UPDATED_OLD',
      },
    ),
    null,
  );
  if (old === null) return;
  const previousStatus = Number(old?.status ?? 0);
  if (previousStatus !== STATUS.OFFLINE) await announceStatus(context, userId, STATUS.OFFLINE, audience.observersOf(userId));
}

/** The removal of a protocol that stores its connections itself (ProtocolAdapter.connections), if it does. */
function lifecycleOf(context: FanoutContext, recipient: Recipient) {
  return (context.protocols ?? PROTOCOLS).get(protocolOf(recipient))?.connections;
}

/** `$disconnect`: the connection is closed for sure. */
export async function closeConnection(context: FanoutContext, connectionId: string): Promise<void> {
  const userId = await removeConnection(context.db, connectionId);
  if (typeof userId === 'number') await leaveIfLast(context, userId);
}

/**
 * Ends connections from the server's side (a session ended or expired): forgets them first, so no event
 * reaches them even if the close fails, then closes them. The `$disconnect` that follows finds nothing left.
 */
export async function closeConnections(context: FanoutContext, connections: ReadonlyArray<string | Recipient>): Promise<void> {
  await Promise.all(
    connections.map(async (connection) => {
      // A bare id is a main-socket connection; a recipient is closed through its protocol's API.
      const connectionId = typeof connection === 'string' ? connection : connection.connectionId;
      const own = typeof connection === 'string' ? undefined : lifecycleOf(context, connection);
      await (own ? own.close(context, connectionId) : closeConnection(context, connectionId));
      try {
        await senderFor(context, typeof connection === 'string' ? DEFAULT_PROTOCOL : protocolOf(connection))?.close?.(connectionId);
      } catch (error) {
        log().error(`closing connection ${connectionId}`, error);
      }
    }),
  );
}

/**
 * A post sent at `postedAt` answered 410 Gone. That proves the connection dead only if it was known to be
 * open before then (or older than any `$connect` can be): a connection still inside its `$connect` answers
 * 410 too, and pruning it would silently cut it off and show its user offline (a reconnect storm did exactly
 * that).
 */
export async function connectionGone(context: FanoutContext, recipient: Recipient, postedAt: number): Promise<void> {
  const own = lifecycleOf(context, recipient);
  if (own) return own.gone(context, recipient, postedAt);
  const userId = await removeConnection(context.db, recipient.connectionId, { kind: 'gone', userId: recipient.userId, postedAt });
  if (typeof userId === 'number') await leaveIfLast(context, userId);
}

/**
 * `PUT /user_status`: sets the presence and tells observers when it changed. Without a live connection the
 * user stays offline and the status is kept for his next connect.
 */
export async function changeStatus(context: FanoutContext, userId: number, status: number): Promise<void> {
  const { db } = context;
  const online = (await connectionsOfUser(db, userId, Date.now(), true)).length > 0;
  const before = await db.update(keys.user(userId), { set: online ? { status } : { lastStatus: status } }, { if: exists, returning: 'ALL_OLD' });
  const previous = Number(before?.status ?? 0);
  if (online && previous !== status) await announceStatus(context, userId, status, audience.observersOf(userId));
}
