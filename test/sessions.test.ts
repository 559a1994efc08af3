import { PutCommand } from '@aws-sdk/lib-dynamodb';
import { randomUUID } from 'node:crypto';
import WebSocket from 'ws';
import { GSI1, keys } from '../lambdas/domain/table';
import { type SocketClient, TestSystem, type TestUser } from './support/system';

/** Sessions end everywhere at once: password change, logout, eviction, expiry (docs/security.md, "Sessions"). */
let system: TestSystem;
beforeAll(async () => {
  system = await TestSystem.start();
});
afterAll(() => system.stop());

async function login(user: TestUser, password = 'password1'): Promise<string> {
  const response = await system.rest('POST', '/auth', { json: { username: user.username, password } });
  expect(response.status).toBe(200);
  return response.text;
}

const me = (token: string) => system.rest('GET', '/users/-1', { token });

/** A status change reaches every connection of the user (he is a member of a server): the barrier that shows who is still open. */
async function announce(token: string, status: number): Promise<void> {
  expect((await system.rest('PUT', `/user_status?status=${status}`, { token })).status).toBe(200);
}

describe('PUT /register', () => {
  test('changing the password or the username needs the current password, in the body', async () => {
    const user = await system.user();
    expect(await system.rest('PUT', '/register', { as: user, form: { password: 'password2' } })).toMatchObject({
      status: 400,
      text: "Changing the username or password needs 'current_password'",
    });
    expect(await system.rest('PUT', '/register', { as: user, form: { username: `${user.username}x` } })).toMatchObject({ status: 400 });
    expect(await system.rest('PUT', '/register', { as: user, form: { password: 'password2', current_password: 'wrong-one' } })).toMatchObject({
      status: 403,
      text: 'Wrong current password',
    });
    expect(await system.rest('PUT', '/register?current_password=password1', { as: user, form: { password: 'password2' } })).toMatchObject({ status: 400 });
    // Nothing changed so far.
    expect((await system.rest('POST', '/auth', { json: { username: user.username, password: 'password2' } })).status).toBe(404);
    // A display name alone needs nothing more.
    expect(await system.rest('PUT', '/register', { as: user, form: { displayname: 'New Name' } })).toMatchObject({ status: 200, text: 'Changed' });
    expect(await system.rest('PUT', '/register', { as: user, form: { password: 'password2', current_password: 'password1' } })).toMatchObject({
      status: 200,
      text: 'Changed',
    });
    expect((await system.rest('POST', '/auth', { json: { username: user.username, password: 'password2' } })).status).toBe(200);
  });

  test('a new password ends every other session and closes its sockets; the session that changed it stays, with its socket', async () => {
    const user = await system.user();
    await system.server(user);
    const [other, third] = [await login(user), await login(user)];
    const mine = await system.connect(user);
    const [otherSocket, thirdSocket] = [await system.connect(undefined, { token: other }), await system.connect(undefined, { token: third, via: 'query' })];
    expect(await system.rest('PUT', '/register', { as: user, form: { password: 'password2', current_password: 'password1' } })).toMatchObject({ status: 200 });

    expect(await me(other)).toMatchObject({ status: 401, text: 'Expired or invalid token' });
    expect(await me(third)).toMatchObject({ status: 401 });
    expect((await me(user.token)).status).toBe(200);
    await Promise.all([otherSocket.closed, thirdSocket.closed]);
    await announce(user.token, 2);
    expect(await mine.next('user_changed', (d) => d.id === user.id)).toEqual({ id: user.id, status: 2 });
    expect(mine.socket.readyState).toBe(WebSocket.OPEN);
  });
});

describe('DELETE /auth (logout)', () => {
  test('ends the current session, clears the cookie and closes its sockets; other sessions stay', async () => {
    const user = await system.user();
    await system.server(user);
    const other = await login(user);
    const [mine, mineToo] = [await system.connect(user), await system.connect(user, { via: 'bearer' })];
    const otherSocket = await system.connect(undefined, { token: other });

    const out = await system.rest('DELETE', '/auth', { as: user });
    expect(out).toMatchObject({ status: 200, text: 'Logged out' });
    expect(out.headers.get('set-cookie')).toMatch(/^zavodchat_token=; Max-Age=0; Path=\//);
    expect(await me(user.token)).toMatchObject({ status: 401 });
    await Promise.all([mine.closed, mineToo.closed]);

    await announce(other, 3);
    expect(await otherSocket.next('user_changed', (d) => d.id === user.id)).toEqual({ id: user.id, status: 3 });
    // Logging out twice: the session is gone.
    expect(await system.rest('DELETE', '/auth', { as: user })).toMatchObject({ status: 401 });
    expect(await system.rest('DELETE', '/auth')).toMatchObject({ status: 400, text: 'Invalid token' });
  });
});

describe('sockets of sessions that are gone', () => {
  test('a session evicted by SESSIONS_PER_USER (8) has its socket closed at once', async () => {
    const user = await system.user();
    const oldest = await system.connect(user);
    const tokens: string[] = [];
    for (let i = 0; i < 7; i++) tokens.push(await login(user));
    expect(oldest.socket.readyState).toBe(WebSocket.OPEN);
    tokens.push(await login(user));
    expect(await oldest.closed).toMatchObject({ code: 1000 });
    expect(await me(user.token)).toMatchObject({ status: 401 });
  });

  test('a socket whose session expired receives nothing more and is closed at its next delivery', async () => {
    const user = await system.user();
    await system.server(user);
    const shortLived = randomUUID();
    // Long enough for the first event to arrive on a slow machine; then the test waits it out.
    const expiresAt = Date.now() + 6000;
    await system.db.doc.send(
      new PutCommand({
        TableName: system.db.table,
        Item: { ...keys.session(shortLived), [GSI1.partition]: keys.sessionsOfUserIndex(user.id), [GSI1.sort]: String(expiresAt).padStart(15, '0'), userId: user.id, expiresAt },
      }),
    );
    const expiring: SocketClient = await system.connect(undefined, { token: shortLived });
    const lasting = await system.connect(user);
    await announce(user.token, 2);
    expect(await expiring.next('user_changed', (d) => d.id === user.id)).toEqual({ id: user.id, status: 2 });
    await lasting.next('user_changed', (d) => d.id === user.id);

    await new Promise((r) => setTimeout(r, expiresAt - Date.now() + 50));
    await announce(user.token, 3);
    expect(await lasting.next('user_changed', (d) => d.id === user.id)).toEqual({ id: user.id, status: 3 });
    expect(await expiring.closed).toMatchObject({ code: 1000 });
    expect(expiring.events.filter((e) => e.name === 'user_changed')).toEqual([]);
  });
});
