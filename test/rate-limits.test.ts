import { request } from 'node:http';
import { GetCommand } from '@aws-sdk/lib-dynamodb';
import { DEFAULT_RATE_LIMITS, rateLimitsFromEnv } from '../lambdas/domain/config';
import { dynamoDbRequestCounter } from '../lambdas/aws/dynamodb-store';
import { frameLimitText, windowOf } from '../lambdas/domain/rate-limits';
import { keys } from '../lambdas/domain/table';
import { type SocketClient, TestSystem, type TestUser } from './support/system';

/** Small budgets in 3 s windows, so every limit is reached with a handful of requests. */
const WINDOW_S = 3;
const LIMITS = {
  RATE_LIMIT_REST: `6/${WINDOW_S}`,
  RATE_LIMIT_MESSAGES: `3/${WINDOW_S}`,
  RATE_LIMIT_LOGIN: `3/${WINDOW_S}`,
  RATE_LIMIT_LOGIN_NAME: `5/${WINDOW_S}`,
  RATE_LIMIT_REGISTER: `3/${WINDOW_S}`,
  RATE_LIMIT_SOCKET: `5/${WINDOW_S}`,
  RATE_LIMIT_SOCKET_FREE: '2',
};
const SOCKET_LIMIT = { requests: 5, windowSeconds: WINDOW_S };

let system: TestSystem;
let names = 0;

beforeAll(async () => {
  system = await TestSystem.start({ env: LIMITS });
});
afterAll(() => system?.stop());

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Windows are aligned to the epoch: start right after a boundary so a short burst stays in one window. */
async function freshWindow(): Promise<void> {
  const { end } = windowOf(SOCKET_LIMIT);
  await sleep(end * 1000 - Date.now() + 30);
}

type Reply = Awaited<ReturnType<TestSystem['rest']>>;

/** Setup calls must not fail on the limits the test is about: a 429 waits out its window and retries. */
async function patient(call: () => Promise<Reply>): Promise<Reply> {
  for (;;) {
    const reply = await call();
    if (reply.status !== 429) return reply;
    await sleep(Number(reply.headers.get('retry-after')) * 1000 + 50);
  }
}

async function user(): Promise<TestUser> {
  const username = `rl${++names}_${Date.now() % 100000}`;
  const registered = await patient(() => system.rest('POST', '/register', { json: { username, displayname: username, password: 'password1' } }));
  expect(registered.status).toBe(200);
  const login = await patient(() => system.rest('POST', '/auth', { json: { username, password: 'password1' } }));
  expect(login.status).toBe(200);
  const me = await patient(() => system.rest('GET', '/users/-1', { headers: { authorization: `Bearer ${login.text}` } }));
  return { id: me.json.id, username, name: username, token: login.text };
}

function expectTooMany(reply: Reply): number {
  expect(reply.status).toBe(429);
  expect(reply.text).toBe('Too many requests');
  const retryAfter = Number(reply.headers.get('retry-after'));
  expect(retryAfter).toBeGreaterThanOrEqual(1);
  expect(retryAfter).toBeLessThanOrEqual(WINDOW_S);
  return retryAfter;
}

/** A JSON POST from another loopback address: the server sees another source IP. */
function postFrom(localAddress: string, path: string, json: unknown): Promise<{ status: number; text: string }> {
  const url = new URL(path, system.runtime.restUrl);
  return new Promise((resolve, reject) => {
    const req = request(url, { method: 'POST', localAddress, headers: { 'content-type': 'application/json' } }, (response) => {
      const chunks: Buffer[] = [];
      response.on('data', (chunk: Buffer) => chunks.push(chunk));
      response.on('end', () => resolve({ status: response.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8') }));
    });
    req.on('error', reject);
    req.end(JSON.stringify(json));
  });
}

describe('settings', () => {
  test('production defaults unless overridden as <requests>/<seconds>; off disables one budget or, as RATE_LIMITS, all', () => {
    expect(rateLimitsFromEnv({})).toEqual(DEFAULT_RATE_LIMITS);
    expect(DEFAULT_RATE_LIMITS).toMatchObject({ rest: { requests: 600, windowSeconds: 60 }, messages: { requests: 30, windowSeconds: 10 } });
    const custom = rateLimitsFromEnv({ RATE_LIMIT_REST: '5/2', RATE_LIMIT_LOGIN: 'off', RATE_LIMIT_SOCKET_FREE: '0' });
    expect(custom).toEqual({ ...DEFAULT_RATE_LIMITS, rest: { requests: 5, windowSeconds: 2 }, loginFailures: undefined, socketFreeFrames: 0 });
    expect(rateLimitsFromEnv({ RATE_LIMITS: 'off' })).toEqual({ socketFreeFrames: DEFAULT_RATE_LIMITS.socketFreeFrames });
    for (const bad of ['5', '5/0', '0/60', 'x/60', '-1/60']) expect(() => rateLimitsFromEnv({ RATE_LIMIT_MESSAGES: bad })).toThrow(/RATE_LIMIT_MESSAGES/);
  });
});

describe('REST', () => {
  test('the limit-th request passes, the next is 429 with Retry-After; another user is unaffected; the next window serves again', async () => {
    const [alice, bob] = [await user(), await user()];
    await freshWindow();
    for (let i = 1; i <= 6; i++) expect((await system.rest('GET', '/users/-1', { as: alice })).status).toBe(200);
    const refused = await system.rest('GET', '/users/-1', { as: alice });
    const retryAfter = expectTooMany(refused);
    // A different route shares the budget; another user has his own.
    expectTooMany(await system.rest('GET', '/notifications', { as: alice }));
    expect((await system.rest('GET', '/users/-1', { as: bob })).status).toBe(200);
    // GET /params reads no table and is not counted (anonymous calls count per address: 6 would be the end).
    for (let i = 0; i < 7; i++) expect((await system.rest('GET', '/params')).status).toBe(200);
    await sleep(retryAfter * 1000);
    expect((await system.rest('GET', '/users/-1', { as: alice })).status).toBe(200);
  });

  test('a refused message POST stores nothing and announces nothing; message writes have their own budget', async () => {
    const [alice, bob] = [await user(), await user()];
    const serverId = Number((await patient(() => system.rest('POST', '/servers?name=limits', { as: alice }))).text);
    const invite = await patient(() => system.rest('POST', `/servers/${serverId}/invites?expires=never`, { as: alice }));
    expect((await patient(() => system.rest('POST', `/server_invites/${invite.text}`, { as: bob }))).status).toBe(200);
    const channelId = Number((await patient(() => system.rest('POST', `/servers/${serverId}/channels`, { as: alice, json: { name: 'chat', type: 0 } }))).text);
    const [bobSocket] = await system.connectAll(bob);

    await freshWindow();
    const posted: number[] = [];
    for (let i = 1; i <= 3; i++) {
      const reply = await system.rest('POST', `/channels/${channelId}/messages`, { as: alice, json: { text: `m${i}` } });
      expect(reply.status).toBe(200);
      posted.push(Number(reply.text));
    }
    const retryAfter = expectTooMany(await system.rest('POST', `/channels/${channelId}/messages`, { as: alice, json: { text: 'refused' } }));
    // Edits share the message budget; other requests and other users' messages do not.
    expectTooMany(await system.rest('PUT', `/messages/${posted[0]}`, { as: alice, json: { text: 'edited' } }));
    expect((await system.rest('GET', '/users/-1', { as: alice })).status).toBe(200);
    expect((await system.rest('POST', `/channels/${channelId}/messages`, { as: bob, json: { text: 'from bob' } })).status).toBe(200);

    for (let i = 1; i <= 3; i++) expect((await bobSocket.next('message_created', (m) => m.author_id === alice.id)).text).toBe(`m${i}`);
    await bobSocket.next('message_created', (m) => m.author_id === bob.id);
    await bobSocket.expectNothing();
    const history = await system.rest('GET', `/channels/${channelId}/messages?start_id=2147483647&count=50`, { as: bob });
    expect(history.json.map((m: { text: string }) => m.text).sort()).toEqual(['from bob', 'm1', 'm2', 'm3']);

    await sleep(retryAfter * 1000);
    expect((await system.rest('POST', `/channels/${channelId}/messages`, { as: alice, json: { text: 'later' } })).status).toBe(200);
    expect((await bobSocket.next('message_created', (m) => m.author_id === alice.id)).text).toBe('later');
  });

  test('failed logins lock the username out, even with the right password, until the window ends; right ones do not count', async () => {
    const [carol, dave] = [await user(), await user()];
    await freshWindow();
    for (let i = 0; i < 3; i++) {
      expect((await system.rest('POST', '/auth', { json: { username: carol.username, password: 'wrong-password' } })).status).toBe(404);
    }
    const locked = await system.rest('POST', '/auth', { json: { username: carol.username, password: 'password1' } });
    const retryAfter = expectTooMany(locked);
    expect(locked.headers.get('set-cookie')).toBeNull();
    expect((await system.rest('POST', '/auth', { json: { username: dave.username, password: 'password1' } })).status).toBe(200);
    await sleep(retryAfter * 1000);
    expect((await system.rest('POST', '/auth', { json: { username: carol.username, password: 'password1' } })).status).toBe(200);

    await freshWindow();
    for (let i = 0; i < 4; i++) {
      expect((await system.rest('POST', '/auth', { json: { username: dave.username, password: 'password1' } })).status).toBe(200);
    }
    expect((await system.rest('POST', '/auth', { json: { username: dave.username, password: 'wrong-password' } })).status).toBe(404);
  });

  test('failures count per username and source: a guesser elsewhere does not lock the owner out; past the per-name budget only sources that failed are refused', async () => {
    const owner = await user();
    const wrong = { username: owner.username, password: 'wrong-password' };
    await freshWindow();
    for (let i = 0; i < 3; i++) expect((await postFrom('127.0.0.2', '/auth', wrong)).status).toBe(404);
    expect((await postFrom('127.0.0.2', '/auth', { ...wrong, password: 'password1' })).status).toBe(429);
    // The owner, at his own address, logs in with the right password.
    expect((await system.rest('POST', '/auth', { json: { username: owner.username, password: 'password1' } })).status).toBe(200);
    // Another address may fail too, until the name's budget over all sources (5) is spent ...
    for (let i = 0; i < 2; i++) expect((await postFrom('127.0.0.3', '/auth', wrong)).status).toBe(404);
    // ... then a source that failed is refused even with the right password, and one that did not still gets its attempt.
    expect((await postFrom('127.0.0.3', '/auth', { ...wrong, password: 'password1' })).status).toBe(429);
    expect((await system.rest('POST', '/auth', { json: { username: owner.username, password: 'password1' } })).status).toBe(200);
    expect((await postFrom('127.0.0.4', '/auth', wrong)).status).toBe(404);
    expect((await postFrom('127.0.0.4', '/auth', wrong)).status).toBe(429);
  });

  test('a wrong current_password at PUT /register counts as a failed login of the account', async () => {
    const owner = await user();
    await freshWindow();
    const change = (current: string) => system.rest('PUT', '/register', { as: owner, form: { password: 'password2', current_password: current } });
    for (let i = 0; i < 3; i++) expect(await change('wrong-password')).toMatchObject({ status: 403, text: 'Wrong current password' });
    expectTooMany(await change('password1'));
    expect((await system.rest('POST', '/auth', { json: { username: owner.username, password: 'password1' } })).status).toBe(429);
  });

  test('registrations are limited per source IP', async () => {
    const fresh = () => ({ username: `reg${++names}_${Date.now() % 100000}`, displayname: 'someone', password: 'password1' });
    await freshWindow();
    for (let i = 0; i < 3; i++) expect((await system.rest('POST', '/register', { json: fresh() })).status).toBe(200);
    const refusedUser = fresh();
    const retryAfter = expectTooMany(await system.rest('POST', '/register', { json: refusedUser }));
    // Another address has its own budget.
    expect(await postFrom('127.0.0.2', '/register', fresh())).toEqual({ status: 200, text: 'Registered' });
    await sleep(retryAfter * 1000);
    expect((await system.rest('POST', '/auth', { json: { username: refusedUser.username, password: 'password1' } })).status).toBe(404);
  });
});

describe('main socket', () => {
  /**
   * The events received once every frame sent has been handled (`count`: how many the caller expects), sorted: frames are handled concurrently, as API Gateway
   * invokes a Lambda per frame, so an answer may overtake an earlier frame's.
   */
  async function settle(client: SocketClient, _count: number): Promise<string[]> {
    // Every frame read and handled, every answer received (the callers compare them all); a pong, not a
    // marker frame, which would count against the budget under test.
    await client.barrier({ marker: 'pong' });
    return client.events
      .splice(0)
      .map((e) => `${e.name}: ${String(e.data)}`)
      .sort();
  }

  const answer = 'error: invalid JSON data';
  const limited = `error: ${frameLimitText(SOCKET_LIMIT)}`;

  test('the client keepalive costs no DynamoDB request; frames beyond the free allowance are counted in the table', async () => {
    const client = await system.connect(await user());
    const connectionId = [...system.runtime.gateway.connections.keys()].at(-1)!;
    await freshWindow();
    dynamoDbRequestCounter.reset();
    client.send({ name: 'ping', data: '' });
    client.send('x');
    expect(await settle(client, 1)).toEqual([answer]);
    expect(dynamoDbRequestCounter.total()).toBe(0);
    // The third frame adds the two free ones and itself.
    client.send('x');
    expect(await settle(client, 1)).toEqual([answer]);
    expect(dynamoDbRequestCounter.snapshot()).toEqual({ UpdateItemCommand: 1 });
    const { Item } = await system.db.doc.send(
      new GetCommand({ TableName: system.db.table, Key: keys.rateWindow('socket', connectionId, windowOf(SOCKET_LIMIT).start) }),
    );
    expect(Item).toMatchObject({ count: 3, ttl: windowOf(SOCKET_LIMIT).end });
    await client.close();
  });

  test('over the budget frames are ignored and the error event comes once per window; the next window serves again', async () => {
    const client = await system.connect(await user());
    await freshWindow();
    // Pings count too: 2 pings + 3 answered frames fill the budget of 5; the rest of the window is ignored.
    client.send({ name: 'ping', data: '' });
    client.send({ name: 'ping', data: '' });
    for (let i = 0; i < 7; i++) client.send('x');
    expect(await settle(client, 4)).toEqual([answer, answer, answer, limited].sort());

    await freshWindow();
    for (let i = 0; i < 8; i++) client.send('x');
    expect(await settle(client, 6)).toEqual([answer, answer, answer, answer, answer, limited].sort());
    expect(client.socket.readyState).toBe(client.socket.OPEN);
    await client.close();
  });

  test('a connection that sends twice its budget within one window is closed', async () => {
    const client = await system.connect(await user());
    await freshWindow();
    // The answers are awaited before the last frame: a close may otherwise overtake a pending answer.
    for (let i = 0; i < 10; i++) client.send('x');
    expect(await settle(client, 6)).toEqual([answer, answer, answer, answer, answer, limited].sort());
    expect(client.socket.readyState).toBe(client.socket.OPEN);
    client.send('x');
    expect((await client.closed).code).toBe(1000);
    expect(client.events).toEqual([]);
  });
});
