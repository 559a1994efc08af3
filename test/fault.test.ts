import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { GetCommand } from '@aws-sdk/lib-dynamodb';
import WebSocket from 'ws';
import { keys } from '../lambdas/domain/table';
import { type DynamoDbLocal, startDynamoDbLocal } from '../local/dynamodb';
import { type SocketClient, TestSystem, type TestUser, UpgradeRefused } from './support/system';

/** How long any request may take while the table is away (ECONNREFUSED fails in well under a second). */
const BOUND_MS = 8000;
/** A frozen table answers nothing: a request waits out the timeouts of each table call before it fails. */
const FROZEN_BOUND_MS = 15_000;

interface Outcome {
  label: string;
  status: number;
  text: string;
  retryAfter: string | null;
  ms: number;
}

let dynamo: DynamoDbLocal;
let dataDir: string;
let system: TestSystem;
let alice: TestUser;
let bob: TestUser;
let carol: TestUser;
let dave: TestUser;
let serverId: number;
let channelId: number;
/** Error lines the runtime logs; kept out of the output and checked to be store failures only. */
const logged: string[] = [];
let consoleError: jest.SpyInstance;

async function timed(label: string, run: () => Promise<{ status: number; text: string; headers: Headers }>): Promise<Outcome> {
  const started = Date.now();
  const response = await Promise.race([
    run(),
    new Promise<never>((_, reject) => setTimeout(() => reject(new Error(`${label}: no answer within ${FROZEN_BOUND_MS * 2} ms`)), FROZEN_BOUND_MS * 2).unref()),
  ]);
  return { label, status: response.status, text: response.text, retryAfter: response.headers.get('retry-after'), ms: Date.now() - started };
}

function expectUnavailable(outcome: Outcome, boundMs = BOUND_MS): void {
  expect({ label: outcome.label, status: outcome.status, text: outcome.text, retryAfter: outcome.retryAfter }).toEqual({
    label: outcome.label,
    status: 503,
    text: 'Service unavailable',
    retryAfter: '5',
  });
  expect(outcome.ms).toBeLessThan(boundMs);
}

async function connectOutcome(user: TestUser): Promise<{ status: number; ms: number; socket?: SocketClient }> {
  const started = Date.now();
  try {
    const socket = await system.connect(user);
    return { status: 101, ms: Date.now() - started, socket };
  } catch (error) {
    if (error instanceof UpgradeRefused) return { status: error.status, ms: Date.now() - started };
    throw error;
  }
}

/** Polls until REST answers 200 again: the service must come back by itself, without a restart of the runtime. */
async function untilServing(deadlineMs = 20_000): Promise<number> {
  const started = Date.now();
  for (;;) {
    const response = await system.rest('GET', `/servers/${serverId}/channels`, { as: alice });
    if (response.status === 200) return Date.now() - started;
    if (Date.now() - started > deadlineMs) throw new Error(`still ${response.status} ${response.text} after ${deadlineMs} ms`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

/** The whole history of the channel, oldest first. */
async function history(as: TestUser): Promise<Array<{ id: number; text: string }>> {
  const all: Array<{ id: number; text: string }> = [];
  for (let startId = 0; ; ) {
    const page = await system.rest('GET', `/channels/${channelId}/messages?start_id=${startId}&count=50&order=1`, { as });
    expect(page.status).toBe(200);
    all.push(...(page.json as Array<{ id: number; text: string }>).map(({ id, text }) => ({ id, text })));
    if (page.json.length < 50) return all;
    startId = page.json[page.json.length - 1].id + 1;
  }
}

beforeAll(async () => {
  consoleError = jest.spyOn(console, 'error').mockImplementation((...args: unknown[]) => {
    logged.push(args.map(String).join(' '));
  });
  dataDir = mkdtempSync(join(tmpdir(), 'zavodchat-fault-'));
  // Its own DynamoDB Local on disk: the data must survive the JVM being killed.
  dynamo = await startDynamoDbLocal({ dataDir });
  // A frozen table must fail a request within seconds here.
  system = await TestSystem.start({ dynamoDbEndpoint: dynamo.endpoint, env: { DYNAMODB_REQUEST_TIMEOUT_MS: '1000' } });
  [alice, bob, carol, dave] = await Promise.all([system.user(), system.user(), system.user(), system.user()]);
  serverId = await system.server(alice, [bob, carol, dave]);
  const created = await system.rest('POST', `/servers/${serverId}/channels`, { as: alice, json: { name: 'general', type: 0 } });
  expect(created.status).toBe(200);
  channelId = Number(created.text);
}, 60_000);

afterAll(async () => {
  await system?.stop();
  dynamo?.resume();
  await dynamo?.stop();
  consoleError?.mockRestore();
  if (dataDir) rmSync(dataDir, { recursive: true, force: true });
}, 30_000);

describe('DynamoDB Local killed and restarted mid-traffic', () => {
  let aliceSocket: SocketClient;
  let bobSocket: SocketClient;
  let daveSocket: SocketClient;
  /** Ids in the `name` events that reached Alice's or Bob's open socket. */
  const published = (name: string): Set<number> =>
    new Set([...aliceSocket.events, ...bobSocket.events].filter((e) => e.name === name).map((e) => Number((e.data as { id?: unknown }).id)));
  const posts: Array<Outcome & { writer: string; id?: number }> = [];
  const channelPosts: Outcome[] = [];

  test('during the outage: 503 with Retry-After, bounded, the runtime and open sockets keep going', async () => {
    [aliceSocket, bobSocket, daveSocket] = await system.connectAll(alice, bob, dave);
    const first = await system.rest('POST', `/channels/${channelId}/messages`, { as: alice, json: { text: 'before' } });
    expect(first.status).toBe(200);
    expect(await bobSocket.next('message_created', (d) => d.text === 'before')).toMatchObject({ id: Number(first.text), channel_id: channelId });

    // Two writers post messages and one creates channels, until told to stop.
    let running = true;
    const writer = async (user: TestUser, name: string) => {
      for (let i = 0; running; i++) {
        const text = `${name}-${i}`;
        const outcome = await timed(text, () => system.rest('POST', `/channels/${channelId}/messages`, { as: user, json: { text } }));
        posts.push({ ...outcome, writer: name, ...(outcome.status === 200 ? { id: Number(outcome.text) } : {}) });
        if (outcome.status !== 200) await new Promise((r) => setTimeout(r, 50));
      }
    };
    const channelMaker = async () => {
      for (let i = 0; running && i < 20; i++) {
        const name = `room-${i}`;
        channelPosts.push(await timed(name, () => system.rest('POST', `/servers/${serverId}/channels`, { as: alice, json: { name, type: 0 } })));
        await new Promise((r) => setTimeout(r, 100));
      }
    };
    const traffic = Promise.all([writer(alice, 'a'), writer(bob, 'b'), channelMaker()]);
    const succeeded = (name: string) => posts.filter((p) => p.writer === name && p.status === 200).length;
    const failed = (name: string) => posts.filter((p) => p.writer === name && p.status !== 200).length;
    const waitFor = async (what: string, condition: () => boolean) => {
      const deadline = Date.now() + 20_000;
      while (!condition()) {
        if (Date.now() > deadline) throw new Error(`traffic: ${what} did not happen: ${JSON.stringify(posts)}`);
        await new Promise((r) => setTimeout(r, 20));
      }
    };
    const duringOutage = async () => {
      await waitFor('three posts each', () => succeeded('a') >= 3 && succeeded('b') >= 3);

      await dynamo.kill();
      const failedBefore = { a: failed('a'), b: failed('b') };
      await waitFor('three failed posts each', () => failed('a') >= failedBefore.a + 3 && failed('b') >= failedBefore.b + 3);

      // Every REST route that needs the table says so, quickly; a route that does not still answers.
      expectUnavailable(await timed('history', () => system.rest('GET', `/channels/${channelId}/messages?start_id=0&count=10`, { as: bob })));
      expectUnavailable(await timed('channel', () => system.rest('POST', `/servers/${serverId}/channels`, { as: alice, json: { name: 'x', type: 0 } })));
      expectUnavailable(await timed('notifications', () => system.rest('GET', '/notifications', { as: bob })));
      expect((await system.rest('GET', '/params')).status).toBe(200);

      // A new main socket is refused with 503 (not a hang, not a 500); open ones stay open and still answer.
      const refused = await connectOutcome(carol);
      expect(refused.status).toBe(503);
      expect(refused.ms).toBeLessThan(BOUND_MS);
      aliceSocket.send('not json');
      expect(await aliceSocket.next('error')).toBeDefined();
      // Dave leaves while the table is away: his $disconnect cannot be recorded.
      await daveSocket.close();
    };
    try {
      await duringOutage();
    } finally {
      running = false;
      await traffic;
    }
    expect(aliceSocket.socket.readyState).toBe(WebSocket.OPEN);
    expect(bobSocket.socket.readyState).toBe(WebSocket.OPEN);

    // Everything that failed failed the same way: 503, Retry-After, within the bound.
    for (const outcome of [...posts, ...channelPosts].filter((o) => o.status !== 200)) expectUnavailable(outcome);
    expect(channelPosts.some((o) => o.status === 503)).toBe(true);
    for (const outcome of [...posts, ...channelPosts]) expect(outcome.ms).toBeLessThan(BOUND_MS);
  }, 60_000);

  test('after a restart on the same port the service resumes by itself, with nothing half-written', async () => {
    dynamo = await startDynamoDbLocal({ dataDir, port: dynamo.port });
    expect(await untilServing()).toBeLessThan(20_000);

    const stored = await history(bob);
    const ids = stored.map((m) => m.id);
    const texts = stored.map((m) => m.text);
    expect(new Set(ids).size).toBe(ids.length);
    expect(new Set(texts).size).toBe(texts.length);
    // A 200 means stored, exactly once, under the id it answered. One exception, DynamoDB Local's and not
    // AWS's: it answers TransactWriteItems before its SQLite COMMIT has run (the COMMIT is queued behind the
    // answer), so a kill in that gap loses a transaction it acknowledged, whole. Every later request waits
    // for that COMMIT, and publishing an event reads the table first, so a write whose event went out is
    // durable: only the one acknowledged last, whose event the dying table could not send, may be missing.
    const lostAcknowledged: string[] = [];
    const sentMessages = published('message_created');
    for (const post of posts.filter((p) => p.status === 200)) {
      const found = stored.filter((m) => m.text === post.label);
      if (found.length === 0 && !sentMessages.has(post.id!)) {
        lostAcknowledged.push(post.label);
        expect((await system.rest('GET', `/messages/${post.id}`, { as: bob })).status).toBe(404);
        continue;
      }
      expect(found).toEqual([{ id: post.id, text: post.label }]);
    }
    // A 503 means not stored, except for the one post per writer in flight when DynamoDB died: its
    // transaction may have committed with the answer lost. Then it is stored once and whole (below).
    for (const name of ['a', 'b']) {
      const storedAnyway = posts.filter((p) => p.writer === name && p.status !== 200 && texts.includes(p.label));
      expect(storedAnyway.length).toBeLessThanOrEqual(1);
    }
    // Every stored message is whole: its id pointer resolves (GET /messages/{id}), and the channel's
    // last-message pointer names a stored message.
    for (const message of stored) {
      const single = await system.rest('GET', `/messages/${message.id}`, { as: bob });
      expect({ id: message.id, status: single.status, text: single.json?.text }).toEqual({ id: message.id, status: 200, text: message.text });
    }
    const channelItem = await system.db.doc.send(new GetCommand({ TableName: system.db.table, Key: keys.channel(channelId), ConsistentRead: true }));
    expect(ids).toContain(Number(channelItem.Item?.lastMessageId));

    // Channels: each 200 is listed once and opens (but for the acknowledged-and-lost one above); a 503 is
    // absent (or, in flight at the kill, whole). The order lists only channels that exist.
    const listed = (await system.rest('GET', `/servers/${serverId}/channels`, { as: alice })).json as Array<{ id: number; name: string }>;
    const order = await system.db.doc.send(new GetCommand({ TableName: system.db.table, Key: keys.channelOrder(serverId), ConsistentRead: true }));
    expect((order.Item?.order as number[]).map(Number)).toEqual(listed.map((ch) => ch.id));
    const sentChannels = published('channel_created');
    for (const created of channelPosts.filter((o) => o.status === 200)) {
      const found = listed.filter((ch) => ch.name === created.label);
      if (found.length === 0 && !sentChannels.has(Number(created.text))) {
        lostAcknowledged.push(created.label);
        expect((await system.rest('GET', `/channels/${created.text}`, { as: alice })).status).toBe(404);
        continue;
      }
      expect(found).toEqual([expect.objectContaining({ id: Number(created.text) })]);
    }
    // Only one transaction can be between its answer and its COMMIT when the JVM dies.
    expect(lostAcknowledged.length).toBeLessThanOrEqual(1);
    expect(channelPosts.filter((o) => o.status !== 200 && listed.some((ch) => ch.name === o.label)).length).toBeLessThanOrEqual(1);
    for (const channel of listed) expect((await system.rest('GET', `/channels/${channel.id}`, { as: alice })).status).toBe(200);
    expect((await system.rest('GET', '/notifications', { as: bob })).status).toBe(200);

    // The refused $connect left Carol offline.
    expect((await system.rest('GET', `/users/${carol.id}`)).json.status).toBe(0);
  }, 60_000);

  test('sockets that stayed open get events again, new ones connect, a lost $disconnect heals', async () => {
    const carolSocket = await system.connect(carol);
    expect(await aliceSocket.next('user_changed', (d) => d.id === carol.id)).toEqual({ id: carol.id, status: 1 });

    const after = await system.rest('POST', `/channels/${channelId}/messages`, { as: alice, json: { text: `after @u${bob.id}` } });
    expect(after.status).toBe(200);
    for (const socket of [aliceSocket, bobSocket, carolSocket]) {
      expect(await socket.next('message_created', (d) => d.id === Number(after.text), 10_000)).toMatchObject({ channel_id: channelId, server_id: serverId });
    }
    // Posting to Dave's dead connection (Carol's arrival, or this message) answered 410: it is pruned and
    // Dave goes offline for everyone.
    expect(await aliceSocket.next('user_changed', (d) => d.id === dave.id, 10_000)).toEqual({ id: dave.id, status: 0 });
    expect((await system.rest('GET', `/users/${dave.id}`)).json.status).toBe(0);

    // The channel's pointers are current again: newest message, Bob's mention counted.
    const channelItem = await system.db.doc.send(new GetCommand({ TableName: system.db.table, Key: keys.channel(channelId), ConsistentRead: true }));
    expect(Number(channelItem.Item?.lastMessageId)).toBe(Number(after.text));
    const bobChannels = (await system.rest('GET', `/servers/${serverId}/channels`, { as: bob })).json as Array<{ id: number; notifications?: number }>;
    expect(bobChannels.find((ch) => ch.id === channelId)?.notifications).toBeGreaterThanOrEqual(1);

    const reply = await system.rest('POST', `/channels/${channelId}/messages`, { as: bob, json: { text: 'reply' } });
    expect(reply.status).toBe(200);
    expect(await carolSocket.next('message_created', (d) => d.text === 'reply')).toMatchObject({ id: Number(reply.text) });
    expect(await aliceSocket.next('message_created', (d) => d.text === 'reply')).toMatchObject({ id: Number(reply.text) });
  }, 60_000);

  test('a frozen DynamoDB (SIGSTOP) fails requests within the client timeouts, and they resume on SIGCONT', async () => {
    dynamo.pause();
    try {
      const [listing, refused] = await Promise.all([
        timed('frozen listing', () => system.rest('GET', `/servers/${serverId}/channels`, { as: alice })),
        connectOutcome(bob),
      ]);
      // Each call to the table gives up after 3 attempts of 1 s plus backoff; without a request timeout both
      // would wait forever.
      expectUnavailable(listing, FROZEN_BOUND_MS);
      expect(refused.status).toBe(503);
      expect(refused.ms).toBeLessThan(FROZEN_BOUND_MS);
    } finally {
      dynamo.resume();
    }
    await untilServing();
    const socket = await system.connect(bob);
    expect(socket.socket.readyState).toBe(WebSocket.OPEN);
  }, 60_000);

  // An unhandled rejection or uncaught exception anywhere in the runtime fails the running test (jest-circus).
  test('nothing else went wrong: every error the runtime logged is the table being away', () => {
    const storeFailure = /ECONNREFUSED|ECONNRESET|EPIPE|socket hang up|TimeoutError|timed out|timeout/i;
    const other = logged.filter((line) => !storeFailure.test(line));
    expect(other).toEqual([]);
  });
});
