/**
 * Issue 18 items 1 and 2 as an attacker runs them: real Chromium, the victim logged in through the stock
 * client's calls on an allowed origin, and attacker pages on two other origins: `http://127.0.0.1:<port>`
 * (another site) and `http://localhost:<other port>` (the same site as REST, so even a SameSite=Lax cookie
 * goes along and only the origin check stands in the way). The attacker pages hold plain HTML forms (no
 * script, no preflight) and, for the socket, one `new WebSocket(...)`. Chromium itself withholds a
 * SameSite=None cookie from another site's WebSocket (third-party cookie blocking), so the same-site page is
 * the one that fails without our checks there; top-level form posts carried the cookie from both.
 */
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type BrowserContext, chromium, type Page } from 'playwright-core';
import { PERM1_DEFAULT } from '../lambdas/domain/permissions';
import { TestSystem, type TestUser } from './support/system';

const CHROMIUM_PATH = process.env.CHROMIUM_PATH || '/usr/bin/chromium';
const CHROMIUM_ARGS = ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'];

/** A page server on loopback: `pages` maps a path to its HTML (a blank page for any other path). */
async function pageServer(pages: Map<string, string>): Promise<{ server: Server; port: number }> {
  const server = createServer((request, response) => {
    const html = pages.get((request.url ?? '/').split('?')[0]) ?? '<!doctype html><title>page</title>';
    response.writeHead(200, { 'Content-Type': 'text/html; charset=utf-8' }).end(html);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { server, port: (server.address() as AddressInfo).port };
}

const haveChromium = existsSync(CHROMIUM_PATH);
if (!haveChromium) console.warn(`skipping the browser security tests: no Chromium at ${CHROMIUM_PATH} (set CHROMIUM_PATH)`);
(haveChromium || process.env.REQUIRE_MEDIASOUP === '1' ? describe : describe.skip)('CSRF and socket hijacking from other origins, in Chromium', () => {
  let system: TestSystem;
  let client: { server: Server; port: number };
  let attacker: { server: Server; port: number };
  const attackPages = new Map<string, string>();
  let userDataDir: string;
  let browser: BrowserContext;
  let victimPage: Page;
  let owner: TestUser;
  let member: TestUser;
  let serverId: number;
  let channelId: number;
  let adminRoleId: number;
  let rest: string;
  let socketUrl: string;

  beforeAll(async () => {
    client = await pageServer(new Map());
    attacker = await pageServer(attackPages);
    // The stock client's origin is the only allowed one; every service is addressed as `localhost` like a user would.
    system = await TestSystem.start({ env: { CORS_ORIGINS: `http://localhost:${client.port}` } });
    rest = system.runtime.restUrl.replace('127.0.0.1', 'localhost');
    socketUrl = `${system.runtime.wsUrl.replace('127.0.0.1', 'localhost')}/`;
    [owner, member] = [await system.user('Owner'), await system.user('Member')];
    serverId = await system.server(owner, [member]);
    channelId = Number((await system.rest('POST', `/servers/${serverId}/channels`, { as: owner, json: { name: 'general', type: 0 } })).text);
    const [defaultRole] = (await system.rest('GET', `/servers/${serverId}/roles`, { as: owner })).json;
    const roles = [{ id: -1, name: 'admin', color: '#ff0000', perms1: PERM1_DEFAULT }, defaultRole];
    expect((await system.rest('PUT', `/servers/${serverId}/roles`, { as: owner, json: roles })).status).toBe(200);
    adminRoleId = (await system.rest('GET', `/servers/${serverId}/roles`, { as: owner })).json.find((r: { name: string }) => r.name === 'admin').id;

    userDataDir = mkdtempSync(join(tmpdir(), 'security-chromium-'));
    browser = await chromium.launchPersistentContext(userDataDir, { executablePath: CHROMIUM_PATH, headless: true, args: CHROMIUM_ARGS });
    victimPage = await browser.newPage();
    await victimPage.goto(`http://localhost:${client.port}/`);
  }, 60_000);

  afterAll(async () => {
    await browser?.close();
    for (const s of [client, attacker]) {
      s?.server.closeAllConnections();
      await new Promise((resolve) => s?.server.close(resolve));
    }
    await system?.stop();
    if (userDataDir) rmSync(userDataDir, { recursive: true, force: true });
  }, 30_000);

  /** A call as the stock client makes it (axios with `withCredentials`, JSON bodies as application/json). */
  function clientCall(method: string, path: string, json?: unknown): Promise<{ status: number; text: string }> {
    return victimPage.evaluate(
      async ({ url, method, json }) => {
        const response = await fetch(url, {
          method,
          credentials: 'include',
          headers: json === undefined ? {} : { 'Content-Type': 'application/json' },
          body: json === undefined ? undefined : JSON.stringify(json),
        });
        return { status: response.status, text: await response.text() };
      },
      { url: `${rest}${path}`, method, json },
    );
  }

  /** Opens the main socket from `page` with whatever cookies the browser attaches: `open` or `refused`. */
  function openSocketFrom(page: Page): Promise<string> {
    return page.evaluate(
      (url) =>
        new Promise<string>((resolve) => {
          const socket = new WebSocket(url);
          socket.onopen = () => {
            resolve('open');
            socket.close();
          };
          socket.onerror = () => resolve('refused');
        }),
      socketUrl,
    );
  }

  async function memberRoles(): Promise<number[]> {
    return (await system.rest('GET', `/servers/${serverId}/users/${member.id}`, { as: owner })).json.roles;
  }

  async function messageTexts(): Promise<string[]> {
    return (await system.rest('GET', `/channels/${channelId}/messages?start_id=2147483647&count=50`, { as: owner })).json.map((m: { text: string }) => m.text);
  }

  /** Submits the page's form `id` (a click, no script on the page) and returns the status of REST's answer. */
  async function submit(page: Page, id: string): Promise<number> {
    const [response] = await Promise.all([page.waitForResponse((r) => r.url().startsWith(rest)), page.click(`#${id} button`)]);
    return response.status();
  }

  function attackHtml(): string {
    const action = (path: string) => `${rest}${path}`;
    return `<!doctype html><title>cute cats</title>
      <iframe name="sink"></iframe>
      <form id="role" method="POST" target="sink" action="${action(`/servers/${serverId}/users/${member.id}/roles/${adminRoleId}`)}"
            enctype="application/x-www-form-urlencoded"><input type="hidden" name="x" value="1"><button>cats</button></form>
      <form id="message" method="POST" target="sink" action="${action(`/channels/${channelId}/messages`)}" enctype="text/plain">
        <input type="hidden" name='{"text":"posted by the attacker","x":"' value='"}'><button>more cats</button></form>
      <form id="login" method="POST" target="sink" action="${action('/auth')}" enctype="text/plain">
        <input type="hidden" name='{"username":"${member.username}","password":"password1","x":"' value='"}'><button>even more</button></form>`;
  }

  test('the stock client on its allowed origin logs in with credentials, posts, and opens the main socket with its cookie', async () => {
    const login = await clientCall('POST', '/auth', { username: owner.username, password: 'password1' });
    expect(login.status).toBe(200);
    const cookies = await browser.cookies(rest);
    // The client's page and REST are on one site (localhost): the cookie is SameSite=Lax.
    expect(cookies.find((c) => c.name === 'zavodchat_token')).toMatchObject({ value: login.text, sameSite: 'Lax', httpOnly: true });
    const me = await clientCall('GET', '/users/-1');
    expect(JSON.parse(me.text)).toMatchObject({ id: owner.id });
    expect(await clientCall('POST', `/channels/${channelId}/messages`, { text: 'from the stock client' })).toMatchObject({ status: 200 });
    expect(await openSocketFrom(victimPage)).toBe('open');
    expect(await messageTexts()).toEqual(['from the stock client']);
  });

  for (const [site, host] of [
    ['another site (http://127.0.0.1)', '127.0.0.1'],
    ['the same site, another origin (http://localhost on another port)', 'localhost'],
  ] as const) {
    test(`plain HTML forms on ${site} change nothing: role assignment, message, login`, async () => {
      attackPages.set('/cats.html', attackHtml());
      const page = await browser.newPage();
      try {
        await page.goto(`http://${host}:${attacker.port}/cats.html`);
        // The forms post into a frame of the page, as a hidden attack would: the page itself stays put.
        for (const form of ['role', 'message', 'login']) expect([form, await submit(page, form)]).toEqual([form, 403]);
      } finally {
        await page.close();
      }
      expect(await memberRoles()).not.toContain(adminRoleId);
      expect(await messageTexts()).toEqual(['from the stock client']);
      // The victim is still himself (no login CSRF swapped his session).
      expect(JSON.parse((await clientCall('GET', '/users/-1')).text)).toMatchObject({ id: owner.id });
    });

    test(`a WebSocket from ${site} cannot open the main socket as the victim`, async () => {
      const page = await browser.newPage();
      try {
        await page.goto(`http://${host}:${attacker.port}/`);
        expect(await openSocketFrom(page)).toBe('refused');
      } finally {
        await page.close();
      }
      // The victim's own page still connects.
      expect(await openSocketFrom(victimPage)).toBe('open');
    });
  }
});
