import { UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { blockersOf } from './blocks';
import { connectionsOfServer, connectionsOfUser, type Recipient, removeConnection, sessionExpired } from './connections';
import type { Db } from './db';
import { event, type SocketEvent } from './events';
import { relationsOf } from './friends';
import { logError } from './log';
import { membersOfServer, serverIdsOfUser } from './servers';
import { keys } from './table';

/** Sends one serialized event to one connection. `gone` means the connection no longer exists (HTTP 410). */
export interface ConnectionSender {
  post(connectionId: string, payload: string): Promise<'sent' | 'gone'>;
  /** Closes a connection from the server's side (DeleteConnection); absent in senders that cannot. */
  close?(connectionId: string): Promise<void>;
  /** Whether the connection still exists (GetConnection); absent in senders that cannot tell. */
  exists?(connectionId: string): Promise<boolean>;
}

export interface FanoutContext {
  db: Db;
  sender: ConnectionSender;
}

/**
 * Who receives an event (PROTOCOL.md Part B §2.7 with the Part A fixes):
 * - `user`: every connection of one user (AUD-USER);
 * - `users`: every connection of a fixed set of users (DM participants), minus those who blocked `actor`;
 * - `server`: every connection of the members (AUD-SERVER), optionally dropping members who blocked
 *   `actor` and keeping only members the `include` filter accepts (channel visibility);
 * - `observersOf`: every connection of every user sharing a server with the subject or having a friendship
 *   or a pending request with him, minus users who blocked the subject (AUD-OBS).
 */
export type Audience =
  | { kind: 'user'; userId: number }
  | { kind: 'users'; userIds: readonly number[]; actor?: number }
  | { kind: 'server'; serverId: number; actor?: number; include?: MemberFilter }
  | { kind: 'observers'; userId: number };

/** Decides, from a member's id and roles, whether he is in an audience (e.g. can see a private channel). */
export type MemberFilter = (userId: number, roles: readonly number[]) => boolean;

export const audience = {
  user: (userId: number): Audience => ({ kind: 'user', userId }),
  /** Fixed users (DM participants), minus those who blocked the actor. */
  users: (userIds: readonly number[], actor?: number): Audience => ({ kind: 'users', userIds, actor }),
  server: (serverId: number, options: { actor?: number; include?: MemberFilter } = {}): Audience => ({
    kind: 'server',
    serverId,
    ...options,
  }),
  observersOf: (userId: number): Audience => ({ kind: 'observers', userId }),
};

async function serverRecipients(
  db: Db,
  serverId: number,
  filter: { blockers?: Set<number> | Promise<Set<number>>; include?: MemberFilter },
): Promise<Recipient[]> {
  // Subscriptions say who is connected; the member list (same partition, one more Query) says who still
  // belongs, so a connection subscribed in a race with a kick never receives the server's events. The
  // blockers, when asked for, are read at the same time.
  const [connections, members, blockers] = await Promise.all([connectionsOfServer(db, serverId), membersOfServer(db, serverId), filter.blockers]);
  return connections.filter(({ userId }) => {
    const roles = members.get(userId);
    if (!roles) return false;
    if (blockers?.has(userId)) return false;
    return filter.include ? filter.include(userId, roles) : true;
  });
}

/** The live connections an audience stands for, each once. */
export async function resolveAudience(db: Db, target: Audience): Promise<Recipient[]> {
  let recipients: Recipient[];
  switch (target.kind) {
    case 'user':
      recipients = await connectionsOfUser(db, target.userId);
      break;
    case 'users': {
      const blockers = target.actor !== undefined ? await blockersOf(db, target.actor) : new Set<number>();
      const wanted = target.userIds.filter((id) => !blockers.has(id));
      recipients = (await Promise.all(wanted.map((id) => connectionsOfUser(db, id)))).flat();
      break;
    }
    case 'server': {
      const blockers = target.actor !== undefined ? blockersOf(db, target.actor) : undefined;
      recipients = await serverRecipients(db, target.serverId, { blockers, include: target.include });
      break;
    }
    case 'observers': {
      const [serverIds, blockers, relations] = await Promise.all([
        serverIdsOfUser(db, target.userId),
        blockersOf(db, target.userId),
        relationsOf(db, target.userId),
      ]);
      const counterparts = relations.map((r) => r.userId).filter((id) => !blockers.has(id));
      const [perServer, perCounterpart] = await Promise.all([
        Promise.all(serverIds.map((id) => serverRecipients(db, id, { blockers }))),
        Promise.all(counterparts.map((id) => connectionsOfUser(db, id))),
      ]);
      recipients = [...perServer.flat(), ...perCounterpart.flat()];
      break;
    }
  }
  const seen = new Set<string>();
  return recipients.filter((r) => !seen.has(r.connectionId) && seen.add(r.connectionId));
}

/** How many posts to the Management API run at once per event. */
export const DELIVERY_CONCURRENCY = 64;

/** Posts one payload to every recipient with bounded concurrency; returns the connections that are gone. */
export async function deliver(
  sender: ConnectionSender,
  payload: string,
  recipients: readonly Recipient[],
  concurrency = DELIVERY_CONCURRENCY,
): Promise<{ sent: number; gone: string[]; failed: number }> {
  let next = 0;
  let sent = 0;
  let failed = 0;
  const gone: string[] = [];
  const worker = async () => {
    while (next < recipients.length) {
      const { connectionId } = recipients[next++];
      try {
        if ((await sender.post(connectionId, payload)) === 'gone') gone.push(connectionId);
        else sent++;
      } catch {
        // One unreachable connection must not stop delivery to the others.
        failed++;
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, recipients.length) }, worker));
  return { sent, gone, failed };
}

export interface PublishOptions {
  /** A connection that must not be posted to (the one being opened inside `$connect`). */
  exceptConnection?: string;
}

/**
 * Resolves the audience, delivers, and prunes connections that turned out to be gone. Several audiences
 * (e.g. the remaining members and the user just removed) get the event once per connection.
 *
 * Never throws: an event follows a change that is already stored, so a failure here (the table or the
 * Management API unreachable) must not turn that change into an error the client would retry and
 * duplicate. What was missed is logged; clients catch up by reading when they reconnect.
 */
export async function publish(context: FanoutContext, message: SocketEvent, target: Audience | Audience[], options: PublishOptions = {}): Promise<void> {
  try {
    const targets = Array.isArray(target) ? target : [target];
    const resolved = (await Promise.all(targets.map((t) => resolveAudience(context.db, t)))).flat();
    const seen = new Set<string>();
    const recipients = resolved.filter((r) => !seen.has(r.connectionId) && seen.add(r.connectionId));
    await publishTo(context, message, recipients, options);
  } catch (error) {
    logError(`publish ${message.name}`, error);
  }
}

export async function publishTo(
  context: FanoutContext,
  message: SocketEvent,
  recipients: readonly Recipient[],
  options: PublishOptions = {},
): Promise<void> {
  const payload = JSON.stringify(message);
  const now = Date.now();
  const wanted = options.exceptConnection ? recipients.filter((r) => r.connectionId !== options.exceptConnection) : recipients;
  // A connection whose session expired gets no more events: it is closed at this, its next delivery.
  const expired = wanted.filter((r) => sessionExpired(r, now)).map((r) => r.connectionId);
  const targets = expired.length > 0 ? wanted.filter((r) => !sessionExpired(r, now)) : wanted;
  const { gone } = await deliver(context.sender, payload, targets);
  // The connection being opened must stay untouched by whatever the pruning announces, too.
  await Promise.all([
    ...gone.map((connectionId) => dropConnection(context, connectionId, options)),
    expired.length > 0 ? closeConnections(context, expired, options) : undefined,
  ]);
}

/**
 * Ends connections from the server's side (a session ended or expired): forgets them first, so no event
 * reaches them even if the close fails, then closes them. The `$disconnect` that follows finds nothing left.
 */
export async function closeConnections(context: FanoutContext, connectionIds: readonly string[], options: PublishOptions = {}): Promise<void> {
  await Promise.all(
    connectionIds.map(async (connectionId) => {
      await dropConnection(context, connectionId, options);
      try {
        await context.sender.close?.(connectionId);
      } catch (error) {
        logError(`closing connection ${connectionId}`, error);
      }
    }),
  );
}

/**
 * Forgets a connection (`$disconnect`, or a post that answered 410 Gone). When it was the user's last
 * one, the user goes offline: `last_status` keeps his status for the next connect and observers get
 * `user_changed {status: 0}` (unless he was already invisible).
 */
export async function dropConnection(context: FanoutContext, connectionId: string, options: PublishOptions = {}): Promise<void> {
  const { db } = context;
  const userId = await removeConnection(db, connectionId);
  if (userId === undefined) return;
  const counted = await db.doc.send(
    new UpdateCommand({
      TableName: db.table,
      Key: keys.user(userId),
      UpdateExpression: 'ADD connections :minusOne',
      ConditionExpression: 'attribute_exists(pk)',
      ExpressionAttributeValues: { ':minusOne': -1 },
      ReturnValues: 'ALL_NEW',
    }),
  ).catch(() => undefined);
  if (!counted || Number(counted.Attributes?.connections ?? 0) > 0) return;
  let previousStatus: number;
  try {
    // Conditional: a connection opened meanwhile has raised the count again and keeps the user online.
    const result = await db.doc.send(
      new UpdateCommand({
        TableName: db.table,
        Key: keys.user(userId),
        UpdateExpression: 'SET lastStatus = #status, #status = :offline, connections = :zero',
        ConditionExpression: 'connections <= :zero',
        ExpressionAttributeNames: { '#status': 'status' },
        ExpressionAttributeValues: { ':offline': 0, ':zero': 0 },
        ReturnValues: 'UPDATED_OLD',
      }),
    );
    previousStatus = Number(result.Attributes?.status ?? 0);
  } catch {
    return;
  }
  if (previousStatus !== 0) {
    await publish(context, event('user_changed', { id: userId, status: 0 }), audience.observersOf(userId), options);
  }
}
