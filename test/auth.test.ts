import { PutCommand } from '@aws-sdk/lib-dynamodb';
import { randomUUID } from 'node:crypto';
import { keys } from '../lambdas/domain/table';
import { TestSystem, UpgradeRefused } from './support/system';

let system: TestSystem;
beforeAll(async () => {
  system = await TestSystem.start();
});
afterAll(() => system.stop());

async function refusal(promise: Promise<unknown>): Promise<number> {
  try {
    await promise;
  } catch (error) {
    if (error instanceof UpgradeRefused) return error.status;
    throw error;
  }
  throw new Error('the upgrade was accepted');
}

describe('registration and login', () => {
  test('register, log in, and use the session by cookie, Bearer and on the socket by ?token=', async () => {
    const registered = await system.rest('POST', '/register', { json: { username: 'carol', displayname: 'Carol', password: 'password1' } });
    expect(registered).toMatchObject({ status: 200, text: 'Registered' });
    // From the web client's dev server (a default allowed origin), another site than http://127.0.0.1: the
    // cookie must cross sites (docs/security.md, "CSRF").
    const login = await system.rest('POST', '/auth', { json: { username: 'carol', password: 'password1' }, headers: { origin: 'https://localhost:5173' } });
    expect(login.status).toBe(200);
    expect(login.text).toMatch(/^[0-9a-f-]{36}$/);
    const cookie = login.headers.get('set-cookie') ?? '';
    expect(cookie).toContain(`zavodchat_token=${login.text}`);
    expect(cookie).toContain('Max-Age=2592000');
    expect(cookie).toContain('SameSite=None');

    const byCookie = await system.rest('GET', '/users/-1', { headers: { cookie: `zavodchat_token=${login.text}` } });
    const byBearer = await system.rest('GET', '/users/-1', { headers: { authorization: `Bearer ${login.text}` } });
    expect(byCookie.json).toEqual({ id: byCookie.json.id, name: 'Carol', status: 0 });
    expect(byBearer.json).toEqual(byCookie.json);
  });

  test('refusals: duplicate username, short password, wrong password, malformed body', async () => {
    await system.rest('POST', '/register', { json: { username: 'dave', displayname: 'Dave', password: 'password1' } });
    expect(await system.rest('POST', '/register', { json: { username: 'dave', displayname: 'D2', password: 'password1' } })).toMatchObject({
      status: 403,
      text: 'Username already exists',
    });
    expect((await system.rest('POST', '/register', { json: { username: 'eve', displayname: 'Eve', password: 'short' } })).status).toBe(400);
    expect((await system.rest('POST', '/register', { json: { username: 'e', displayname: 'Eve', password: 'password1' } })).status).toBe(400);
    expect((await system.rest('POST', '/register', { json: { username: 42, displayname: 'Eve', password: 'password1' } })).status).toBe(400);
    expect((await system.rest('POST', '/register', { json: '{not json' })).status).toBe(400);
    expect(await system.rest('POST', '/auth', { json: { username: 'dave', password: 'wrong-password' } })).toMatchObject({
      status: 404,
      text: 'Invalid username or password',
    });
    expect((await system.rest('POST', '/auth', { json: { username: 'nobody', password: 'password1' } })).status).toBe(404);
  });

  test('REST: missing or malformed token is 400, unknown or expired token is 401', async () => {
    expect(await system.rest('GET', '/servers')).toMatchObject({ status: 400, text: 'Invalid token' });
    expect(await system.rest('GET', '/servers', { headers: { cookie: 'zavodchat_token=garbage' } })).toMatchObject({ status: 400 });
    expect(await system.rest('GET', '/servers', { headers: { cookie: `zavodchat_token=${randomUUID()}` } })).toMatchObject({
      status: 401,
      text: 'Expired or invalid token',
    });
  });

  test('PUT /register changes username and password; the old credentials stop working', async () => {
    const user = await system.user();
    const newName = `${user.username}_renamed`;
    const changed = await system.rest('PUT', '/register', { as: user, form: { username: newName, password: 'password2', current_password: 'password1' } });
    expect(changed).toMatchObject({ status: 200, text: 'Changed' });
    expect((await system.rest('POST', '/auth', { json: { username: user.username, password: 'password1' } })).status).toBe(404);
    expect((await system.rest('POST', '/auth', { json: { username: newName, password: 'password2' } })).status).toBe(200);
  });

  test('at most 8 sessions per user: the oldest is dropped', async () => {
    const user = await system.user();
    const tokens = [user.token];
    for (let i = 0; i < 8; i++) {
      tokens.push((await system.rest('POST', '/auth', { json: { username: user.username, password: 'password1' } })).text);
    }
    const statuses = await Promise.all(tokens.map((t) => system.rest('GET', '/users/-1', { headers: { authorization: `Bearer ${t}` } })));
    expect(statuses.map((s) => s.status)).toEqual([401, 200, 200, 200, 200, 200, 200, 200, 200]);
  });
});

describe('main socket authentication', () => {
  test('cookie, ?token= and Bearer all open the socket', async () => {
    const user = await system.user();
    for (const via of ['cookie', 'query', 'bearer'] as const) {
      const client = await system.connect(user, { via });
      await client.close();
    }
  });

  test('missing, garbage, unknown and expired tokens are refused with HTTP 401', async () => {
    const user = await system.user();
    const expired = randomUUID();
    await system.db.doc.send(
      new PutCommand({ TableName: system.db.table, Item: { ...keys.session(expired), userId: user.id, expiresAt: Date.now() - 1000 } }),
    );
    expect(await refusal(system.connect(undefined))).toBe(401);
    expect(await refusal(system.connect(undefined, { token: 'garbage' }))).toBe(401);
    expect(await refusal(system.connect(undefined, { token: randomUUID() }))).toBe(401);
    expect(await refusal(system.connect(undefined, { token: expired }))).toBe(401);
    expect(await refusal(system.connect(undefined, { token: expired, via: 'query' }))).toBe(401);
    // The expired session is no good for REST either.
    expect((await system.rest('GET', '/servers', { headers: { authorization: `Bearer ${expired}` } })).status).toBe(401);
  });

  test('an invalid ?status= is refused with HTTP 400', async () => {
    const user = await system.user();
    for (const status of ['4', '-1', 'abc', '1.5', '']) {
      expect(await refusal(system.connect(user, { query: `status=${status}` }))).toBe(400);
    }
  });
});
