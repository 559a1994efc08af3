import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type BrowserContext, chromium, type Page } from 'playwright-core';
import { CHROMIUM_PATH, describeMedia } from './support/mediasoup-check';
import { eventually, type Fixture, startFixture, tokenOf } from './support/media-node-fixture';

interface Inbound {
  kind: 'audio' | 'video';
  userId?: number;
  codec?: string;
  bytesReceived: number;
  framesDecoded?: number;
}

const CHROMIUM_ARGS = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--use-fake-device-for-media-stream',
  '--use-fake-ui-for-media-stream',
  '--autoplay-policy=no-user-gesture-required',
];

describeMedia('browser end to end: two Chromium pages in one voice channel', { browser: true }, () => {
  let fixture: Fixture;
  let pageServer: Server;
  let pageUrl: string;
  let userDataDir: string;
  let browser: BrowserContext;

  beforeAll(async () => {
    fixture = await startFixture({ 40: { serverId: 5 } });
    const html = readFileSync(join(__dirname, 'support', 'browser-client.html'));
    // Plain http://127.0.0.1 is a secure context, so getUserMedia works without TLS.
    pageServer = createServer((_request, response) => response.writeHead(200, { 'Content-Type': 'text/html' }).end(html));
    await new Promise<void>((resolve) => pageServer.listen(0, '127.0.0.1', resolve));
    pageUrl = `http://127.0.0.1:${(pageServer.address() as AddressInfo).port}/`;
    userDataDir = mkdtempSync(join(tmpdir(), 'voice-chromium-'));
    browser = await chromium.launchPersistentContext(userDataDir, { executablePath: CHROMIUM_PATH, headless: true, args: CHROMIUM_ARGS });
  }, 60_000);

  afterAll(async () => {
    await browser?.close();
    pageServer?.closeAllConnections();
    await new Promise((resolve) => pageServer?.close(resolve));
    await fixture?.node.stop();
    if (userDataDir) rmSync(userDataDir, { recursive: true, force: true });
  }, 30_000);

  async function openPage(userId: number): Promise<Page> {
    const page = await browser.newPage();
    page.on('console', (message) => {
      if (message.type() === 'error') console.error(`page of user ${userId}: ${message.text()}`);
    });
    const query = new URLSearchParams({ vc: fixture.node.url, channel: '40', token: tokenOf(userId) });
    await page.goto(`${pageUrl}?${query}`);
    await page.evaluate(() => (globalThis as unknown as { ready: Promise<void> }).ready);
    return page;
  }

  const inbound = (page: Page) => page.evaluate(() => (globalThis as unknown as { inbound(): Promise<Inbound[]> }).inbound());
  const from = async (page: Page, userId: number, kind: 'audio' | 'video') =>
    (await inbound(page)).find((entry) => entry.userId === userId && entry.kind === kind);

  test('each page receives the other\'s Opus audio, and VP8 video once one shares', async () => {
    const first = await openPage(1);
    const second = await openPage(2);

    for (const [page, other] of [
      [first, 2],
      [second, 1],
    ] as const) {
      await eventually(async () => ((await from(page, other, 'audio'))?.bytesReceived ?? 0) > 0, `audio from ${other}`, 20_000);
      const before = (await from(page, other, 'audio'))!;
      expect(before.codec).toBe('audio/opus');
      await new Promise((resolve) => setTimeout(resolve, 1000));
      expect((await from(page, other, 'audio'))!.bytesReceived).toBeGreaterThan(before.bytesReceived);
    }
    await eventually(() => fixture.presence.of('joined').length === 2, 'both joined');

    await first.evaluate(() => (globalThis as unknown as { enableVideo(): Promise<void> }).enableVideo());
    await eventually(async () => ((await from(second, 1, 'video'))?.framesDecoded ?? 0) > 0, 'decoded video frames', 20_000);
    expect((await from(second, 1, 'video'))!.codec).toBe('video/VP8');
    expect(fixture.presence.of('changed', 1)).toEqual([{ userId: 1, channelId: 40, serverId: 5, video: 1 }]);

    await second.close();
    await fixture.presence.waitFor((c) => c.kind === 'left' && c.payload.userId === 2);
    await first.close();
  }, 90_000);
});
