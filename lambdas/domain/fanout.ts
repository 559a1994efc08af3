import type { ProtocolRegistry, Rendering } from '../protocols/adapter';
import { PROTOCOLS } from '../protocols/registry';
import { blockersOf } from './blocks';
import { connectionsOfServer, connectionsOfUser, DEFAULT_PROTOCOL, isKnownGone, protocolOf, type Recipient, sessionExpired } from './connections';
import type { Db } from './db';
import type { DomainEvent } from './events';
import { relationsOf } from './friends';
import { log } from './log';
import type { ConnectionSender, OfflineGrace } from './ports';
import { membersOfServer, serverIdsOfUser } from './servers';
// A cycle with presence.ts, which announces through publish: both only call each other inside functions.
import { closeConnections, connectionGone } from './presence';

export interface FanoutContext {
  db: Db;
  /** The Management API of the main socket: delivers to connections of the default protocol. */
  sender: ConnectionSender;
  /**
   * The Management APIs of the other protocols by protocol name, for protocols served by an API of their
   * own (the workspace socket). A protocol without a sender here is not delivered to: its connection ids
   * mean nothing to the main API, whose 410s would prune them.
   */
  senders?: Partial<Record<string, ConnectionSender>>;
  /** The socket protocols events are rendered for; PROTOCOLS (lambdas/protocols/registry.ts) when absent. */
  protocols?: ProtocolRegistry;
  /**
   * Delays the offline of a user whose last connection went (presence.ts); absent: he goes offline at once.
   * Here because a prune after any delivery can be that last connection.
   */
  offlineGrace?: OfflineGrace;
}

/**
 * Who receives an event (docs/upstream.md, "Audiences" with our decisions):
 * - `user`: every connection of one user (AUD-USER);
 * - `users`: every connection of a fixed set of users (DM participants), minus those who blocked `actor`;
 * - `server`: every connection of the members (AUD-SERVER), optionally dropping members who blocked
 *   `actor` and keeping only members the `include` filter accepts (channel visibility);
 * - `observersOf`: every connection of every user sharing a server with the subject or having a friendship
 *   or a pending request with him, minus users who blocked the subject (AUD-OBS); a connection with a
 *   `scope` (bound to one server) only when its server is one the subject is in.
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
      // A connection scoped to one server (a workspace socket's) observes only that server's members: it is
      // reached through its own server, never through another shared one or a friendship.
      const [perServer, perCounterpart] = await Promise.all([
        Promise.all(serverIds.map(async (id) => (await serverRecipients(db, id, { blockers })).filter((r) => r.scope === undefined || r.scope === String(id)))),
        Promise.all(counterparts.map(async (id) => (await connectionsOfUser(db, id)).filter((r) => r.scope === undefined))),
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
  sender: Pick<ConnectionSender, 'post'>,
  payload: string,
  recipients: readonly Recipient[],
  concurrency = DELIVERY_CONCURRENCY,
): Promise<{ sent: number; gone: string[]; failed: number }> {
  return deliverAll(sender, [{ frame: payload, recipients }], concurrency);
}

/** The sender that reaches connections of a protocol: its own API's, the main one for the default protocol. */
export function senderFor(context: Pick<FanoutContext, 'sender' | 'senders'>, protocol: string): ConnectionSender | undefined {
  return context.senders?.[protocol] ?? (protocol === DEFAULT_PROTOCOL ? context.sender : undefined);
}

/**
 * Posts each rendering's frame to its recipients, all with one bound on concurrency. `sender` is one sender
 * for every recipient, or the sender of each recipient's protocol (undefined: that protocol is not delivered).
 */
async function deliverAll(
  sender: Pick<ConnectionSender, 'post'> | ((recipient: Recipient) => Pick<ConnectionSender, 'post'> | undefined),
  renderings: readonly Rendering[],
  concurrency = DELIVERY_CONCURRENCY,
): Promise<{ sent: number; gone: string[]; failed: number }> {
  const senderOf = typeof sender === 'function' ? sender : () => sender;
  const posts = renderings.flatMap(({ frame, recipients }) =>
    recipients.flatMap((recipient) => {
      const to = senderOf(recipient);
      return to ? [{ connectionId: recipient.connectionId, frame, to }] : [];
    }),
  );
  let next = 0;
  let sent = 0;
  let failed = 0;
  const gone: string[] = [];
  const worker = async () => {
    while (next < posts.length) {
      const { connectionId, frame, to } = posts[next++];
      try {
        if ((await to.post(connectionId, frame)) === 'gone') gone.push(connectionId);
        else sent++;
      } catch {
        // One unreachable connection must not stop delivery to the others.
        failed++;
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, posts.length) }, worker));
  return { sent, gone, failed };
}

/**
 * The frames of one event for its recipients: recipients grouped by protocol, each protocol present renders
 * the event once. An adapter may drop the event (no counterpart) or address only some of its recipients;
 * a connection of a protocol no adapter is registered for gets nothing.
 */
export function renderFor(protocols: ProtocolRegistry, event: DomainEvent, recipients: readonly Recipient[]): Rendering[] {
  const byProtocol = new Map<string, Recipient[]>();
  for (const recipient of recipients) {
    const name = protocolOf(recipient);
    const group = byProtocol.get(name);
    if (group) group.push(recipient);
    else byProtocol.set(name, [recipient]);
  }
  const renderings: Rendering[] = [];
  for (const [name, group] of byProtocol) {
    const adapter = protocols.get(name);
    if (!adapter) {
      log().error(`publish ${event.type}`, new Error(`no adapter for protocol '${name}' (${group.length} connections)`));
      continue;
    }
    // An adapter may narrow its recipients, never add any.
    const own = new Set(group.map((r) => r.connectionId));
    for (const rendering of adapter.render(event, group)) {
      const recipientsOfGroup = rendering.recipients.filter((r) => own.has(r.connectionId));
      if (recipientsOfGroup.length > 0) renderings.push({ frame: rendering.frame, recipients: recipientsOfGroup });
    }
  }
  return renderings;
}

/**
 * Resolves the audience, delivers, and prunes connections that turned out to be gone. Several audiences
 * (e.g. the remaining members and the user just removed) get the event once per connection.
 *
 * Never throws: an event follows a change that is already stored, so a failure here (the table or the
 * Management API unreachable) must not turn that change into an error the client would retry and
 * duplicate. What was missed is logged; clients catch up by reading when they reconnect.
 */
export async function publish(context: FanoutContext, message: DomainEvent, target: Audience | Audience[]): Promise<void> {
  try {
    const targets = Array.isArray(target) ? target : [target];
    const resolved = (await Promise.all(targets.map((t) => resolveAudience(context.db, t)))).flat();
    const seen = new Set<string>();
    const recipients = resolved.filter((r) => !seen.has(r.connectionId) && seen.add(r.connectionId));
    await publishTo(context, message, recipients);
  } catch (error) {
    log().error(`publish ${message.type}`, error);
  }
}

/**
 * Delivers to known recipients; those that answer 410 are pruned if that proves them gone (connectionGone).
 * A connection whose session expired gets no more events: it is closed at this, its next delivery.
 */
export async function publishTo(context: FanoutContext, message: DomainEvent, recipients: readonly Recipient[]): Promise<void> {
  // Every post of this delivery is sent after this instant: a 410 proves death only for connections known
  // to be open before it.
  const postedAt = Date.now();
  const expired = recipients.filter((r) => sessionExpired(r, postedAt));
  const targets = recipients.filter((r) => !isKnownGone(r.connectionId) && !sessionExpired(r, postedAt));
  const { gone } = await deliverAll((r) => senderFor(context, protocolOf(r)), renderFor(context.protocols ?? PROTOCOLS, message, targets));
  const byId = new Map(recipients.map((r) => [r.connectionId, r]));
  await Promise.all([
    ...gone.map((connectionId) => connectionGone(context, byId.get(connectionId)!, postedAt)),
    expired.length > 0 ? closeConnections(context, expired) : undefined,
  ]);
}
