import { randomUUID } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type BrowserContext, chromium, type Page } from 'playwright-core';
import { io } from 'socket.io-client';
import WebSocket from 'ws';
import { DESK_SOCKET_TEXT } from '../lambdas/protocols/desk/session';
import { type LocalRuntime, startLocalRuntime } from '../local/runtime';
import { GENEROUS_RATE_LIMITS } from './support/system';

const CHROMIUM_PATH = '/usr/bin/chromium';
const CHROMIUM_ARGS = ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'];

/**
 * The page a client build would be: it knows only relative paths (`/api/`, `/socket`), as a client built
 * with relative base URLs does, and never sees its token (the cookie is HttpOnly).
 */
const PAGE = `<!doctype html><meta charset="utf-8"><title>one origin</title><script>
const received = [];
let socket;
async function call(method, path, body) {
  const response = await fetch('/api' + path, {
    method, credentials: 'same-origin',
    headers: body ? { 'Content-Type': 'application/json' } : {},
    body: body ? JSON.stringify(body) : undefined,
  });
  return { status: response.status, text: await response.text() };
}
globalThis.signUp = async (username) => {
  const registered = await call('POST', '/register', { username, displayname: username, password: 'password1' });
  const login = await call('POST', '/auth', { username, password: 'password1' });
  return { registered: registered.status, login: login.status, cookieVisible: document.cookie.includes('zavodchat_token') };
};
globalThis.join = (code) => call('POST', '/server_invites/' + code);
globalThis.openSocket = () => new Promise((resolve, reject) => {
  const url = new URL('/socket', location.href);
  url.protocol = url.protocol === 'https:' ? 'wss:' : 'ws:';
  socket = new WebSocket(url);
  socket.onmessage = (message) => received.push(JSON.parse(message.data));
  socket.onopen = () => resolve(url.href);
  socket.onclose = (event) => reject(new Error('closed ' + event.code));
});
globalThis.received = () => received;
</script>`;

async function until<T>(probe: () => Promise<T | undefined>, what: string, timeoutMs = 10_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

describe('one origin (ORIGIN_PORT): the cloud layout on one local port', () => {
  let runtime: LocalRuntime;
  let baseDir: string;
  let clientDir: string;
  let userDataDir: string;
  let browser: BrowserContext;
  let origin: string;

  /** Another user, through the same origin from Node: Bearer token, no browser. */
  async function api(method: string, path: string, token?: string, body?: unknown) {
    const response = await fetch(`${origin}/api${path}`, {
      method,
      headers: { ...(token ? { authorization: `Bearer ${token}` } : {}), ...(body ? { 'content-type': 'application/json' } : {}) },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    return { status: response.status, text: await response.text() };
  }

  beforeAll(async () => {
    const endpoint = process.env.TEST_DYNAMODB_ENDPOINT;
    if (!endpoint) throw new Error('TEST_DYNAMODB_ENDPOINT is not set: run through jest');
    baseDir = mkdtempSync(join(tmpdir(), 'zavodchat-origin-'));
    clientDir = join(baseDir, 'client');
    mkdirSync(clientDir);
    // Next to the build, where a path with `..` would lead.
    writeFileSync(join(baseDir, 'secret.txt'), 'not for the web');
    writeFileSync(join(clientDir, 'index.html'), PAGE);
    writeFileSync(join(clientDir, 'app.js'), 'export const built = true;\n');
    writeFileSync(join(clientDir, 'favicon.ico'), '');
    runtime = await startLocalRuntime({
      host: '127.0.0.1',
      restPort: 0,
      wsPort: 0,
      vcPort: false,
      workspacePort: 0,
      deskPort: 0,
      originPort: 0,
      clientDir,
      dynamoDbEndpoint: endpoint,
      tableName: `t${randomUUID().replace(/-/g, '')}`,
      env: GENEROUS_RATE_LIMITS,
      log: (line) => console.error(line),
    });
    origin = runtime.originUrl!;
    userDataDir = mkdtempSync(join(tmpdir(), 'origin-chromium-'));
    browser = await chromium.launchPersistentContext(userDataDir, { executablePath: CHROMIUM_PATH, headless: true, args: CHROMIUM_ARGS });
  }, 60_000);

  afterAll(async () => {
    await browser?.close();
    await runtime?.stop();
    for (const dir of [baseDir, userDataDir]) if (dir) rmSync(dir, { recursive: true, force: true });
  }, 30_000);

  test('a page of the origin registers via /api/, opens /socket with the cookie alone and gets a message live', async () => {
    const owner = `owner_${randomUUID().slice(0, 8)}`;
    expect((await api('POST', '/register', undefined, { username: owner, displayname: owner, password: 'password1' })).status).toBe(200);
    const ownerToken = (await api('POST', '/auth', undefined, { username: owner, password: 'password1' })).text;
    const serverId = Number((await api('POST', '/servers?name=origin', ownerToken)).text);
    const channelId = Number((await api('POST', `/servers/${serverId}/channels`, ownerToken, { name: 'chat', type: 0 })).text);
    const invite = (await api('POST', `/servers/${serverId}/invites?expires=never`, ownerToken)).text;

    const page: Page = await browser.newPage();
    page.on('console', (message) => {
      if (message.type() === 'error') console.error(`page: ${message.text()}`);
    });
    // A client route, not a file: the origin answers with index.html, as CloudFront's function makes S3 do.
    await page.goto(`${origin}/servers/${serverId}`);
    const member = `member_${randomUUID().slice(0, 8)}`;
    expect(await page.evaluate((name) => (globalThis as any).signUp(name), member)).toEqual({ registered: 200, login: 200, cookieVisible: false });
    expect(await page.evaluate((code) => (globalThis as any).join(code), invite)).toMatchObject({ status: 200 });
    const socketUrl: string = await page.evaluate(() => (globalThis as any).openSocket());
    expect(socketUrl).toBe(`${origin.replace('http', 'ws')}/socket`);

    // Any event proves the connection is registered for fan-out; then the owner posts.
    const posted = await api('POST', `/channels/${channelId}/messages`, ownerToken, { text: 'hello through one origin' });
    expect(posted.status).toBe(200);
    const event = await until(async () => {
      const events: Array<{ name: string; data: { text?: string; channel_id?: number } }> = await page.evaluate(() => (globalThis as any).received());
      return events.find((e) => e.name === 'message_created');
    }, 'message_created on the page');
    expect(event.data).toMatchObject({ text: 'hello through one origin', channel_id: channelId });
    await page.close();
  }, 60_000);

  test('/socket without the cookie is refused: the cookie is what the page authenticated with', async () => {
    const status = await new Promise<number>((resolve, reject) => {
      const socket = new WebSocket(`${origin.replace('http', 'ws')}/socket`);
      socket.once('unexpected-response', (_request, response) => resolve(response.statusCode ?? 0));
      socket.once('open', () => reject(new Error('opened without credentials')));
      socket.once('error', reject);
    });
    expect(status).toBe(401);
  });

  test('client files are served from the build folder and nothing outside it', async () => {
    const file = await fetch(`${origin}/app.js`);
    expect(file.status).toBe(200);
    expect(file.headers.get('content-type')).toMatch(/^text\/javascript/);
    expect(await file.text()).toContain('built');
    // Sent as they are (fetch would resolve dot segments before sending).
    const rawStatus = (path: string) =>
      new Promise<number>((resolve, reject) => {
        httpRequest(`${origin}/`, { path }, (response) => {
          response.resume();
          resolve(response.statusCode ?? 0);
        })
          .on('error', reject)
          .end();
      });
    for (const path of ['/../secret.txt', '/..%2fsecret.txt', '/%2e%2e/secret.txt', '/x/..%2f..%2fsecret.txt', '/missing.js']) {
      expect([path, await rawStatus(path)]).toEqual([path, 404]);
    }
    expect((await fetch(`${origin}/app.js`, { method: 'POST' })).status).toBe(405);
    expect((await fetch(`${origin}/socket`)).status).toBe(426);
    expect((await fetch(`${origin}/socket.io/`)).status).toBe(426);
  });

  test('/connect/ is the desk socket: its own $connect answers (here: the desk is not configured, 404 with its text)', async () => {
    const refusal = await new Promise<{ status: number; body: string }>((resolve, reject) => {
      const socket = new WebSocket(`${origin.replace('http', 'ws')}/connect/?token=x`);
      socket.once('unexpected-response', (_request, response) => {
        let body = '';
        response.on('data', (chunk: Buffer) => (body += chunk.toString()));
        response.on('end', () => resolve({ status: response.statusCode ?? 0, body }));
      });
      socket.once('open', () => reject(new Error('opened without a configured desk')));
      socket.once('error', reject);
    });
    expect(refusal).toEqual({ status: 404, body: DESK_SOCKET_TEXT.notConfigured });
  });

  test('/socket.io/ is the workspace socket: the unmodified socket.io client connects at its default path and is answered', async () => {
    const socket = io(origin, { transports: ['websocket'], reconnection: false, timeout: 5000 });
    try {
      await new Promise<void>((resolve, reject) => {
        socket.once('connect', () => resolve());
        socket.once('connect_error', reject);
      });
      const error = new Promise((resolve) => socket.once('socket-api-error', resolve));
      socket.emit('auth', { token: 'not-a-session', workspaceId: '1' });
      expect(await error).toEqual({ event: 'auth', message: expect.any(String) });
    } finally {
      socket.close();
    }
  });
});
