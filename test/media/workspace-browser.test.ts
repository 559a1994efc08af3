import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type BrowserContext, chromium } from 'playwright-core';
import { TestSystem, type TestUser } from '../support/system';
import { CHROMIUM_PATH, describeMedia } from './support/mediasoup-check';
import { presenceQueuesSettled } from './support/voice-settle';
import { WeriftVoicePeer } from './support/werift-peer';

/*
 * The workspace socket in a browser (issue 16): the socket.io client of the npm package (its browser build,
 * dist/socket.io.min.js, unmodified) in Chromium receives `user-selected-channel` and `media-state-updated`
 * while another participant (a werift peer: real WebRTC through real mediasoup) joins voice and mutes.
 */

const CHROMIUM_ARGS = ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'];

const PAGE = `<!doctype html>
<meta charset="utf-8">
<script src="/socket.io.min.js"></script>
<script>
  window.received = [];
  window.connectWorkspace = (url, token, workspaceId) => new Promise((resolve, reject) => {
    const socket = io(url, { transports: ['websocket'], reconnection: false });
    socket.onAny((name, data) => window.received.push({ name, data }));
    socket.on('connect', () => socket.emit('auth', { token, workspaceId }));
    socket.on('auth-success', resolve);
    socket.on('socket-api-error', (error) => reject(new Error(error.message)));
    socket.on('connect_error', (error) => reject(new Error(String(error))));
  });
</script>`;

describeMedia('the workspace socket in Chromium', { browser: true }, () => {
  let system: TestSystem;
  let pageServer: Server;
  let pageUrl: string;
  let userDataDir: string;
  let browser: BrowserContext;
  let owner: TestUser;
  let member: TestUser;
  let serverId: number;
  const peers: WeriftVoicePeer[] = [];

  beforeAll(async () => {
    system = await TestSystem.start({ voice: true, workspace: true });
    system.settleAlso(presenceQueuesSettled());
    const client = readFileSync(join(__dirname, '..', '..', 'node_modules', 'socket.io-client', 'dist', 'socket.io.min.js'));
    pageServer = createServer((request, response) => {
      if (request.url === '/socket.io.min.js') response.writeHead(200, { 'Content-Type': 'text/javascript' }).end(client);
      else response.writeHead(200, { 'Content-Type': 'text/html' }).end(PAGE);
    });
    await new Promise<void>((resolve) => pageServer.listen(0, '127.0.0.1', resolve));
    pageUrl = `http://127.0.0.1:${(pageServer.address() as AddressInfo).port}/`;
    userDataDir = mkdtempSync(join(tmpdir(), 'workspace-chromium-'));
    browser = await chromium.launchPersistentContext(userDataDir, { executablePath: CHROMIUM_PATH, headless: true, args: CHROMIUM_ARGS });
    [owner, member] = [await system.user('Owner'), await system.user('Member')];
    serverId = await system.server(owner, [member]);
  }, 60_000);

  afterAll(async () => {
    await Promise.all(peers.map((peer) => peer.close().catch(() => undefined)));
    await browser?.close();
    pageServer?.closeAllConnections();
    await new Promise((resolve) => pageServer?.close(resolve));
    await system?.stop();
    if (userDataDir) rmSync(userDataDir, { recursive: true, force: true });
  }, 30_000);

  test('user-selected-channel and media-state-updated reach the page while another participant joins voice and mutes', async () => {
    const channelId = Number((await system.rest('POST', `/servers/${serverId}/channels`, { as: owner, json: { name: 'voice', type: 1 } })).text);
    const page = await browser.newPage();
    page.on('console', (message) => message.type() === 'error' && console.error(`page: ${message.text()}`));
    await page.goto(pageUrl);
    const success = await page.evaluate(([url, token, workspaceId]) => (globalThis as any).connectWorkspace(url, token, workspaceId), [system.runtime.workspaceUrl!, member.token, String(serverId)]);
    expect(success).toEqual({ userId: String(member.id) });

    if (!('url' in system.runtime.voice)) throw new Error(`voice is off: ${system.runtime.voice.disabled}`);
    const peer = await WeriftVoicePeer.join(system.runtime.voice.url, channelId, { cookie: owner.token });
    peers.push(peer);
    peer.startMicrophone(127);
    const received = async (name: string) => {
      const handle = await page.waitForFunction((wanted) => (globalThis as any).received.find((e: { name: string }) => e.name === wanted), name, { timeout: 20_000 });
      return handle.jsonValue();
    };
    const whole = { microphone: true, speakers: true, camera: false, screen: false, speaking: false };
    expect(await received('user-selected-channel')).toEqual({ name: 'user-selected-channel', data: { userId: String(owner.id), channelId: String(channelId), userMediaState: whole } });
    peer.socket.send('change_state', { mute: 1 });
    expect(await received('media-state-updated')).toEqual({ name: 'media-state-updated', data: { userId: String(owner.id), userMediaState: { ...whole, microphone: false } } });
    await page.close();
  }, 60_000);
});
