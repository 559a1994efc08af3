/**
 * Issue 18, the web-facing items, over real HTTP and WebSockets against the local runtime (the browser's view,
 * two origins in Chromium, is test/security-browser.test.ts): the origin check on state-changing requests and
 * on the main socket, JSON only as JSON, the session cookie's SameSite, the body limit, login input bounds, the
 * Management API's bad input, and `count=0`.
 */
import { request } from 'node:http';
import WebSocket from 'ws';
import { TestSystem, type TestUser, UpgradeRefused } from './support/system';

const ALLOWED = 'http://127.0.0.1:5173';
const CROSS_SITE_ALLOWED = 'https://chat.example';
const FOREIGN = 'https://evil.example';

let system: TestSystem;
let owner: TestUser;
let member: TestUser;
let serverId: number;
let channelId: number;

beforeAll(async () => {
  system = await TestSystem.start({ env: { CORS_ORIGINS: `${ALLOWED}/, ${CROSS_SITE_ALLOWED}` } });
  [owner, member] = [await system.user('Owner'), await system.user('Member')];
  serverId = await system.server(owner, [member]);
  channelId = Number((await system.rest('POST', `/servers/${serverId}/channels`, { as: owner, json: { name: 'general', type: 0 } })).text);
});
afterAll(() => system?.stop());

async function messageTexts(): Promise<string[]> {
  const page = await system.rest('GET', `/channels/${channelId}/messages?start_id=2147483647&count=50`, { as: owner });
  return page.json.map((m: { text: string }) => m.text);
}

/** Opens a main socket with exactly these headers; resolves with the open socket or the refusal's HTTP status. */
function openSocket(headers: Record<string, string>): Promise<WebSocket | number> {
  const socket = new WebSocket(`${system.runtime.wsUrl}/`, { headers });
  return new Promise((resolve, reject) => {
    socket.once('open', () => resolve(socket));
    socket.once('unexpected-response', (_request, response) => resolve(response.statusCode ?? 0));
    socket.once('error', reject);
  });
}

describe('CSRF: state-changing requests from pages of other origins', () => {
  test('a foreign Origin, a foreign Referer without Origin, and the opaque `null` origin are refused with 403 before the route runs', async () => {
    const post = (headers: Record<string, string>, text: string) =>
      system.rest('POST', `/channels/${channelId}/messages`, { as: owner, json: { text }, headers });
    expect(await post({ origin: FOREIGN }, 'via foreign origin')).toMatchObject({ status: 403, text: 'Origin not allowed' });
    expect(await post({ referer: `${FOREIGN}/page.html` }, 'via foreign referer')).toMatchObject({ status: 403, text: 'Origin not allowed' });
    expect(await post({ origin: 'null' }, 'via null origin')).toMatchObject({ status: 403, text: 'Origin not allowed' });
    // Same host, another port: another origin.
    expect(await post({ origin: 'http://127.0.0.1:5174' }, 'via another port')).toMatchObject({ status: 403 });
    expect((await system.rest('DELETE', `/servers/${serverId}`, { as: owner, headers: { origin: FOREIGN } })).status).toBe(403);
    expect((await system.rest('POST', `/servers/${serverId}/users/${member.id}/roles/1`, { as: owner, headers: { origin: FOREIGN } })).status).toBe(403);
    // Login CSRF: logging the victim into the attacker's account.
    expect((await system.rest('POST', '/auth', { json: { username: member.username, password: 'password1' }, headers: { origin: FOREIGN } })).status).toBe(403);
    expect(await messageTexts()).toEqual([]);
  });

  test('the allowed origins (as the client sends them), their Referer, and callers naming no origin at all pass', async () => {
    const post = (headers: Record<string, string>, text: string) =>
      system.rest('POST', `/channels/${channelId}/messages`, { as: owner, json: { text }, headers });
    expect((await post({ origin: ALLOWED }, 'from the client')).status).toBe(200);
    expect((await post({ origin: CROSS_SITE_ALLOWED }, 'from the hosted client')).status).toBe(200);
    expect((await post({ referer: `${ALLOWED}/channels/1` }, 'by referer')).status).toBe(200);
    expect((await post({}, 'from a native app')).status).toBe(200);
    // Reads are never refused for their origin (a link or an <img> from anywhere).
    expect((await system.rest('GET', `/servers/${serverId}`, { as: owner, headers: { origin: FOREIGN } })).status).toBe(200);
    expect(await messageTexts()).toEqual(['from a native app', 'by referer', 'from the hosted client', 'from the client']);
  });

  test('CORS answers for exactly the same list: preflights and responses of allowed origins only', async () => {
    const preflight = async (origin: string) => (await system.rest('OPTIONS', '/auth', { headers: { origin } })).headers.get('access-control-allow-origin');
    expect(await preflight(ALLOWED)).toBe(ALLOWED);
    expect(await preflight(CROSS_SITE_ALLOWED)).toBe(CROSS_SITE_ALLOWED);
    expect(await preflight(FOREIGN)).toBeNull();
  });

  test('JSON bodies only under a JSON Content-Type: text/plain, urlencoded and none get 415', async () => {
    const body = JSON.stringify({ text: 'typed wrong' });
    for (const type of ['text/plain', 'text/plain;charset=UTF-8', 'application/x-www-form-urlencoded', 'multipart/form-data; boundary=x']) {
      const answer = await system.rest('POST', `/channels/${channelId}/messages`, { as: owner, json: body, headers: { 'content-type': type } });
      expect({ type, status: answer.status }).toEqual({ type, status: 415 });
    }
    const login = await system.rest('POST', '/auth', { json: JSON.stringify({ username: member.username, password: 'password1' }), headers: { 'content-type': 'text/plain' } });
    expect(login).toMatchObject({ status: 415, text: 'Expected a JSON body (Content-Type: application/json)' });
    expect((await system.rest('POST', `/channels/${channelId}/messages`, { as: owner, json: { text: 'json' }, headers: { 'content-type': 'application/json; charset=utf-8' } })).status).toBe(200);
    expect(await messageTexts()).not.toContain('typed wrong');
  });

  test("the session cookie is SameSite=Lax for a page on REST's own site, None for an allowed page on another site", async () => {
    const login = async (headers: Record<string, string>) =>
      (await system.rest('POST', '/auth', { json: { username: member.username, password: 'password1' }, headers })).headers.get('set-cookie') ?? '';
    // Node's fetch sends Host: 127.0.0.1:<port>; the page http://127.0.0.1:5173 is on that site.
    expect(await login({ origin: ALLOWED })).toMatch(/; SameSite=Lax; Secure; HttpOnly/);
    expect(await login({ origin: CROSS_SITE_ALLOWED })).toMatch(/; SameSite=None; Secure; HttpOnly/);
    expect(await login({})).toMatch(/; SameSite=Lax;/);
  });
});

describe('main socket: upgrades from pages of other origins', () => {
  test('a foreign Origin is refused with 403 even with a valid session; an allowed one and none at all connect', async () => {
    const cookie = `zavodchat_token=${member.token}`;
    expect(await openSocket({ cookie, origin: FOREIGN })).toBe(403);
    expect(await openSocket({ cookie, origin: 'null' })).toBe(403);
    expect(await openSocket({ origin: FOREIGN })).toBe(403);
    for (const headers of [{ cookie, origin: ALLOWED }, { cookie, origin: CROSS_SITE_ALLOWED }, { cookie }] as Array<Record<string, string>>) {
      const socket = await openSocket(headers);
      expect(socket).toBeInstanceOf(WebSocket);
      (socket as WebSocket).close();
    }
    await expect(system.connect(member)).resolves.toBeDefined();
    await expect(system.connect(undefined)).rejects.toEqual(new UpgradeRefused(401));
  });
});

describe('request bodies', () => {
  /** A raw POST (fetch would not send a body this large this fast); the answer's status and text. */
  function rawPost(path: string, type: string, body: Buffer, headers: Record<string, string> = {}): Promise<{ status: number; text: string }> {
    return new Promise((resolve, reject) => {
      const req = request(`${system.runtime.restUrl}${path}`, { method: 'POST', headers: { 'content-type': type, 'content-length': String(body.length), ...headers } }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8') }));
      });
      req.on('error', reject);
      req.end(body);
    });
  }

  test('a body above 64 KB is refused with 413 before it is parsed: nested JSON, a huge form, a long message', async () => {
    const nested = Buffer.from('['.repeat(5_000_000) + ']'.repeat(5_000_000));
    expect(await rawPost('/auth', 'application/json', nested)).toEqual({ status: 413, text: 'Request body is larger than 65536 bytes' });
    const fields = Buffer.from(Array.from({ length: 900_000 }, (_, i) => `f${i}=1`).join('&'));
    expect((await rawPost(`/servers/${serverId}/invites?expires=never`, 'application/x-www-form-urlencoded', fields, { cookie: `zavodchat_token=${owner.token}` })).status).toBe(413);
    const long = Buffer.from(JSON.stringify({ text: 'x'.repeat(70 * 1024) }));
    expect((await rawPost(`/channels/${channelId}/messages`, 'application/json', long, { cookie: `zavodchat_token=${owner.token}` })).status).toBe(413);
    // Just under the limit is parsed (and then refused by the route for its own reasons).
    const under = Buffer.from(JSON.stringify({ text: 'x'.repeat(60 * 1024) }));
    expect(await rawPost(`/channels/${channelId}/messages`, 'application/json', under, { cookie: `zavodchat_token=${owner.token}` })).toEqual({
      status: 400,
      text: 'Message text should be at most 2000 characters long',
    });
  });

  test('uploads keep their own limit: a 1 MB file is stored', async () => {
    const form = new FormData();
    form.append('ext', 'bin');
    form.append('file', new Blob([new Uint8Array(1024 * 1024)]), 'big.bin');
    const response = await fetch(`${system.runtime.restUrl}/files/upload`, { method: 'POST', body: form, headers: { cookie: `zavodchat_token=${owner.token}` } });
    expect(response.status).toBe(200);
  });
});

describe('login and registration inputs', () => {
  test('a 3,000-character username at POST /auth is a 400, checked before any table call', async () => {
    const username = 'u'.repeat(3000);
    expect(await system.rest('POST', '/auth', { json: { username, password: 'password1' } })).toMatchObject({
      status: 400,
      text: 'Username should be at most 64 characters long',
    });
    expect((await system.rest('POST', '/auth', { json: { username: '', password: 'password1' } })).status).toBe(400);
    expect((await system.rest('POST', '/auth', { json: { username: member.username, password: 'p'.repeat(5000) } })).status).toBe(400);
    expect((await system.rest('POST', '/register', { json: { username, displayname: 'x', password: 'password1' } })).status).toBe(400);
    expect((await system.rest('POST', '/register', { json: { username: 'long_name_user', displayname: 'd'.repeat(3000), password: 'password1' } })).status).toBe(400);
    expect((await system.rest('POST', '/register', { json: { username: 'long_pass_user', displayname: 'x', password: 'p'.repeat(5000) } })).status).toBe(400);
    expect((await system.rest('PUT', `/register?username=${username}`, { as: member })).status).toBe(400);
  });
});

describe('local runtime robustness', () => {
  test('the Management API answers malformed percent-encoding with 400, and the runtime keeps serving', async () => {
    const response = await fetch(`${system.runtime.managementEndpoint}/@connections/%E0%A4%A`);
    expect(response.status).toBe(400);
    expect(response.headers.get('x-amzn-errortype')).toBe('BadRequestException');
    expect((await system.rest('GET', '/users/-1', { as: owner })).status).toBe(200);
  });
});

describe('pagination', () => {
  test('count=0 returns no items on every paginated route', async () => {
    await system.rest('POST', `/channels/${channelId}/messages`, { as: owner, json: { text: 'one' } });
    await system.rest('POST', `/servers/${serverId}/bans/${member.id}?expires=never`, { as: owner });
    const [dmText] = (await system.rest('POST', `/dms/${member.id}`, { as: owner })).json;
    await system.rest('POST', `/channels/${dmText}/messages`, { as: owner, json: { text: 'dm' } });
    const zero = 'start_id=2147483647&count=0';
    const up = 'start_id=0&count=0&order=1';
    const answers = {
      users: await system.rest('GET', `/users?${up}`),
      members: await system.rest('GET', `/servers/${serverId}/users?${up}`, { as: owner }),
      messages: await system.rest('GET', `/channels/${channelId}/messages?${zero}`, { as: owner }),
      search: await system.rest('POST', `/channels/${channelId}/messages_search?${zero}`, { as: owner, json: {} }),
      bans: await system.rest('GET', `/servers/${serverId}/bans?${up}`, { as: owner }),
      dms: await system.rest('GET', `/dms?${zero}`, { as: owner }),
    };
    for (const [route, answer] of Object.entries(answers)) expect({ route, status: answer.status, json: answer.json }).toEqual({ route, status: 200, json: [] });
    expect((await system.rest('GET', `/users?start_id=0&count=1&order=1`)).json).toHaveLength(1);
  });
});
