/**
 * Property: the audience of the desk socket's events as the desk actually resolves it (the event sink of
 * lambdas/protocols/desk/presence.ts, reading DynamoDB Local) equals a small, independent reference written
 * from issue 17's words, over random worlds (desk users, curators, topics, grants, chats, 0..2 desk
 * connections per user) and random change sequences (grant, revoke, curator role gained or lost, connection
 * opened, closed, or left behind past its TTL). After the initial state and after every change one chat
 * event per chat and one `user_status` are delivered; the connection ids they are posted to are compared
 * with the reference: zero leaks, zero misses. test/desk-rules.test.ts checks the pure rule alone; this one
 * checks what the table, the store and the sink make of it.
 */
import fc from 'fast-check';
import { CONNECTION_TTL_SECONDS } from '../lambdas/domain/connections';
import { batchWrite, keyOf, reserveIds } from '../lambdas/domain/db';
import type { DeskEventSink } from '../lambdas/domain/desk/events';
import { DESK_COUNTERS, deskKeys } from '../lambdas/domain/desk/keys';
import type { Chat, DeskContext, DeskMessage, DeskUser } from '../lambdas/domain/desk/model';
import { ensureUser, grantTopic, revokeTopic } from '../lambdas/domain/desk/store';
import type { FanoutContext } from '../lambdas/domain/fanout';
import type { ConnectionSender } from '../lambdas/domain/ports';
import { deskSink } from '../lambdas/protocols/desk/presence';
import { deskRecipient, registerDeskConnection, removeDeskConnection } from '../lambdas/protocols/desk/store';
import { TestSystem } from './support/system';

const CASES = Number(process.env.DESK_AUDIENCE_PROPERTY_CASES ?? 1000);
const SEED = Number(process.env.DESK_AUDIENCE_PROPERTY_SEED ?? 20261207);
/** Cases run concurrently (their own users, topics and connections), so the table's latency overlaps. */
const CONCURRENCY = 8;
const USERS = 5;
const TOPICS = 2;
const MAX_CHATS = 2;
/** Where protocols/desk/store.ts keeps every desk connection (read here only to clean up after a case). */
const CONNECTIONS_PARTITION = 'DESK#CONNECTIONS';

const CHAT_EVENTS = ['new_chat', 'new_message', 'update_message', 'delete_message', 'assign_curator', 'update_chat_status', 'read_chat_message'] as const;
type ChatEvent = (typeof CHAT_EVENTS)[number];

type Change =
  | { kind: 'grant' | 'revoke'; user: number; topic: number }
  | { kind: 'role'; user: number; curator: boolean }
  | { kind: 'open' | 'stale'; user: number }
  | { kind: 'close'; user: number; which: number };

interface Step {
  change: Change;
  /** Which chat event is delivered after it (every sink method resolves its audience the same way, each is exercised). */
  event: ChatEvent;
  /** Whose `user_status` is delivered after it. */
  statusOf: number;
}

interface World {
  users: Array<{ curator: boolean; connections: number }>;
  grants: Array<[number, number]>;
  /** `assigned`: a user assigned to the chat; that alone gives him nothing (he receives only while he may see the chat). */
  chats: Array<{ customer: number; topic: number; assigned: number | null }>;
  first: ChatEvent;
  steps: Step[];
}

const user = fc.nat(USERS - 1);
const topic = fc.nat(TOPICS - 1);
const chatEvent = fc.constantFrom(...CHAT_EVENTS);
const change: fc.Arbitrary<Change> = fc.oneof(
  { weight: 3, arbitrary: fc.record({ kind: fc.constantFrom('grant' as const, 'revoke' as const), user, topic }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('role' as const), user, curator: fc.boolean() }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constantFrom('open' as const, 'stale' as const), user }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('close' as const), user, which: fc.nat(2) }) },
);
const world: fc.Arbitrary<World> = fc.record({
  users: fc.array(fc.record({ curator: fc.boolean(), connections: fc.nat(2) }), { minLength: USERS, maxLength: USERS }),
  grants: fc.array(fc.tuple(user, topic), { maxLength: 6 }),
  chats: fc.array(fc.record({ customer: user, topic, assigned: fc.option(user) }), { minLength: 1, maxLength: MAX_CHATS }),
  first: chatEvent,
  steps: fc.array(fc.record({ change, event: chatEvent, statusOf: user }), { minLength: 1, maxLength: 4 }),
});

/** The reference's whole state: who holds the curator role, which grants exist, which connections are live. */
interface ReferenceState {
  curator: boolean[];
  grants: Set<string>;
  live: string[][];
}

/**
 * The reference, from issue 17's words alone: chat events go "each to the chat's customer and the curators
 * who may see the chat" (a curator sees the chats of the topics he has access to, while he holds the role);
 * curators without access and other customers never. Every live connection of such a user receives it.
 */
function chatReceivers(state: ReferenceState, chat: { customer: number; topic: number }): string[] {
  return state.live.flatMap((connections, u) => (u === chat.customer || (state.curator[u] && state.grants.has(`${u}/${chat.topic}`)) ? connections : []));
}

/** `user_status`: "to every curator". */
function statusReceivers(state: ReferenceState): string[] {
  return state.live.flatMap((connections, u) => (state.curator[u] ? connections : []));
}

let system: TestSystem;
/** The first of the ids every case's users, topics and chats take, reserved from the store's counters at once. */
const ids = { users: 0, topics: 0, chats: 0 };
beforeAll(async () => {
  system = await TestSystem.start();
  [ids.users, ids.topics, ids.chats] = await Promise.all([
    reserveIds(system.db, DESK_COUNTERS.user, USERS * CASES),
    reserveIds(system.db, DESK_COUNTERS.topic, TOPICS * CASES),
    reserveIds(system.db, DESK_COUNTERS.chat, MAX_CHATS * CASES),
  ]);
});
afterAll(() => system.stop());

const tally = { leaks: 0, misses: 0, checks: 0, events: 0 };
const findings: string[] = [];

/**
 * A fan-out context like the handlers' (presence.ts delivers only with one), whose desk Management API
 * records what it is asked to post: the resolved recipients, as the sink hands them to the fan-out.
 */
function recordingContext(): { context: DeskContext & FanoutContext; posted: Array<{ connectionId: string; eventType: string }> } {
  const posted: Array<{ connectionId: string; eventType: string }> = [];
  const recorder = (api: string): ConnectionSender => ({
    post: async (connectionId, payload) => {
      posted.push({ connectionId, eventType: `${api}${(JSON.parse(payload) as { event_type: string }).event_type}` });
      return 'sent';
    },
    close: async () => undefined,
    exists: async () => true,
  });
  // A desk connection posted to through the main API would be a leak too: its eventType says so.
  return { context: { db: system.db, files: system.runtime.context.files, sender: recorder('main:'), senders: { desk: recorder('') } }, posted };
}

/** Compares who was posted to with who should have been, connection by connection. */
function compare(label: string, posted: Array<{ connectionId: string; eventType: string }>, expected: string[], eventType: string, mine: (id: string) => boolean, universe: string[]): void {
  tally.events++;
  const got = posted.filter((p) => mine(p.connectionId));
  const wanted = new Set(expected);
  const seen = new Set<string>();
  const leaks: string[] = [];
  for (const p of got) {
    // A wrong event, a second copy, or a connection that should get nothing.
    if (p.eventType !== eventType || seen.has(p.connectionId) || !wanted.has(p.connectionId)) leaks.push(`${p.connectionId}:${p.eventType}`);
    seen.add(p.connectionId);
  }
  const misses = expected.filter((id) => !seen.has(id));
  tally.leaks += leaks.length;
  tally.misses += misses.length;
  // Every connection of the world (and everything posted) is one verdict.
  tally.checks += new Set([...universe, ...got.map((p) => p.connectionId)]).size;
  if ((leaks.length > 0 || misses.length > 0) && findings.length < 5) findings.push(`${label}: leaks ${JSON.stringify(leaks)} misses ${JSON.stringify(misses)}`);
}

let caseNumber = 0;

async function check(w: World): Promise<void> {
  const n = ++caseNumber;
  const db = system.db;
  const identity = (u: number, curator: boolean) => ({ sub: `desk-property-${n}-${u}`, name: `u${u}`, roles: curator ? ['curator'] : [], curator, admin: false });
  // Fresh users and topics per case (ids reserved from the store's counters): cases share only the table. They are
  // stored as ensureUser and createTopic store them, in one batch instead of a dozen requests; every later
  // role change goes through ensureUser, the path a token's roles take at a user's next request.
  const firstUser = ids.users + (n - 1) * USERS;
  const firstTopic = ids.topics + (n - 1) * TOPICS;
  const firstChat = ids.chats + (n - 1) * MAX_CHATS;
  const createdAt = new Date().toISOString();
  const users: DeskUser[] = w.users.map((u, i) => ({ id: firstUser + i, sub: identity(i, u.curator).sub, name: `u${i}`, curator: u.curator, admin: false, createdAt }));
  const topics = Array.from({ length: TOPICS }, (_, t) => ({ id: firstTopic + t, name: `case ${n} topic ${t}`, createdAt }));
  await batchWrite(db, [
    ...users.flatMap((user) => [
      { put: { ...deskKeys.subject(user.sub), userId: user.id } },
      { put: { ...deskKeys.user(user.id), ...user } },
      ...(user.curator ? [{ put: { ...deskKeys.curator(user.id), userId: user.id } }] : []),
    ]),
    ...topics.map((topic) => ({ put: { ...deskKeys.topic(topic.id), ...topic } })),
  ]);
  const state: ReferenceState = { curator: w.users.map((u) => u.curator), grants: new Set(), live: w.users.map(() => []) };
  const stale: string[] = [];
  let connectionCount = 0;
  const connectionId = (u: number) => `dp${n}-${u}-${connectionCount++}`;
  const mine = (id: string) => id.startsWith(`dp${n}-`);

  const open = async (u: number, past = false) => {
    const id = connectionId(u);
    // `past`: a connection whose TTL has passed (its item may outlive it until DynamoDB's TTL deletes it).
    await registerDeskConnection(db, deskRecipient(users[u].id, id), past ? Date.now() - (CONNECTION_TTL_SECONDS + 60) * 1000 : Date.now());
    (past ? stale : state.live[u]).push(id);
  };
  await Promise.all([
    ...w.grants.map(([u, t]) => grantTopic(db, topics[t].id, users[u].id).then(() => state.grants.add(`${u}/${t}`))),
    ...w.users.flatMap((u, i) => Array.from({ length: u.connections }, () => open(i))),
  ]);
  // The chats as the sink receives them (the audience reads the grants and the curator list, never the
  // stored chat), their ids from the store's counter; some assigned, as after assign_curator.
  const chats: Chat[] = w.chats.map((c, i) => ({
    id: firstChat + i,
    chatType: 'topic',
    customerId: users[c.customer].id,
    topicId: topics[c.topic].id,
    ...(c.assigned === null ? { status: 'new' as const } : { status: 'in_progress' as const, curatorId: users[c.assigned].id }),
    createdAt,
    updatedAt: createdAt,
  }));

  const deliver = async (label: string, event: ChatEvent, statusOf: number | undefined) => {
    const universe = [...state.live.flat(), ...stale];
    await Promise.all([
      ...chats.map(async (chat, c) => {
        const { context, posted } = recordingContext();
        const message: DeskMessage = { id: 1, chatId: chat.id, senderId: chat.customerId, text: 'hi', messageType: 'text', createdAt: chat.createdAt };
        const sink: DeskEventSink = deskSink;
        switch (event) {
          case 'new_chat':
            await sink.newChat(context, chat);
            break;
          case 'new_message':
            await sink.newMessage(context, chat, message);
            break;
          case 'update_message':
            await sink.updateMessage(context, chat, message);
            break;
          case 'delete_message':
            await sink.deleteMessage(context, chat, message);
            break;
          case 'assign_curator':
            await sink.assignCurator(context, chat, chat.curatorId ?? users[0].id);
            break;
          case 'update_chat_status':
            await sink.updateChatStatus(context, chat);
            break;
          case 'read_chat_message':
            await sink.readChatMessage(context, chat, { chatId: chat.id, userId: chat.customerId, lastMessageId: 1 });
            break;
        }
        // Every recipient must be of this case: its users are the only ones with access to its topics.
        compare(`case ${n} ${label} ${event} chat ${c}`, posted, chatReceivers(state, w.chats[c]), event, () => true, universe);
      }),
      (async () => {
        if (statusOf === undefined) return;
        const { context, posted } = recordingContext();
        await deskSink.userStatus(context, users[statusOf], 'online');
        // Every curator of the table receives it, those of the cases running alongside too: judged on this case's connections.
        compare(`case ${n} ${label} user_status`, posted, statusReceivers(state), 'user_status', mine, universe);
      })(),
    ]);
  };

  await deliver('initial', w.first, 0);
  for (const [s, step] of w.steps.entries()) {
    const ch = step.change;
    switch (ch.kind) {
      case 'grant':
        await grantTopic(db, topics[ch.topic].id, users[ch.user].id);
        state.grants.add(`${ch.user}/${ch.topic}`);
        break;
      case 'revoke':
        await revokeTopic(db, topics[ch.topic].id, users[ch.user].id);
        state.grants.delete(`${ch.user}/${ch.topic}`);
        break;
      case 'role':
        // The role is the token's, recorded at his next request (ensureUser): the audience reads it from then on.
        await ensureUser(db, identity(ch.user, ch.curator));
        state.curator[ch.user] = ch.curator;
        break;
      case 'open':
      case 'stale':
        await open(ch.user, ch.kind === 'stale');
        break;
      case 'close': {
        const live = state.live[ch.user];
        if (live.length === 0) break;
        const [id] = live.splice(ch.which % live.length, 1);
        await removeDeskConnection(db, id);
        break;
      }
    }
    // user_status's audience changes only with roles and connections: checked after those.
    await deliver(`step ${s} ${JSON.stringify(ch)}`, step.event, ch.kind === 'grant' || ch.kind === 'revoke' ? undefined : step.statusOf);
  }

  // Leave the shared partitions (the desk's connections, the curator list) as small as they were: every
  // delivery reads all desk connections. In two batches instead of two requests a connection; the count
  // check fails loudly should the connections' layout (protocols/desk/store.ts) move.
  const leftovers = (await db.query({ partition: CONNECTIONS_PARTITION, prefix: 'CONN#' })).filter((item) => mine(String(item.connectionId)));
  expect(leftovers.length).toBe(state.live.flat().length + stale.length);
  await batchWrite(db, [
    ...leftovers.map((item) => ({ delete: keyOf(item) })),
    ...users.flatMap((user, u) => (state.curator[u] ? [{ delete: deskKeys.curator(user.id) }] : [])),
  ]);
}

test(`desk event audiences resolved through DynamoDB Local match the reference over ${CASES} random worlds and change sequences`, async () => {
  const worlds = fc.sample(world, { numRuns: CASES, seed: SEED });
  let next = 0;
  const errors: string[] = [];
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      while (next < worlds.length && errors.length === 0) {
        const w = worlds[next++];
        const before = tally.leaks + tally.misses;
        try {
          await check(w);
        } catch (error) {
          errors.push(`${(error as Error).stack}\nworld: ${JSON.stringify(w)}`);
        }
        // A failing world is printed to replay it.
        if (tally.leaks + tally.misses > before && findings.length <= 5) findings.push(`world: ${JSON.stringify(w)}`);
      }
    }),
  );
  expect(errors).toEqual([]);
  expect({ leaks: tally.leaks, misses: tally.misses, findings }).toEqual({ leaks: 0, misses: 0, findings: [] });
  expect(next).toBe(CASES);
  expect(tally.checks).toBeGreaterThan(CASES);
}, 600_000);
