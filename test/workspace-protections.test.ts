import type { Socket } from 'socket.io-client';
import WebSocket from 'ws';
import { TestSystem, type TestUser } from './support/system';
import { workspaceClient } from './support/workspace-client';

/*
 * The workspace socket's protections (docs/protocol.md, the workspace protocol's "Frame budget and auth
 * timeout"): the main socket's frame budget per connection, and the close of a connection that never sends
 * `auth`. The local runtime, DynamoDB Local, raw frames and the real socket.io-client.
 */

const BUDGET = 12;
const AUTH_TIMEOUT_MS = 1000;
const PING_INTERVAL_MS = 700;

let system: TestSystem;
let member: TestUser;
let serverId: number;
const clients: Socket[] = [];
const raws: WebSocket[] = [];

beforeAll(async () => {
  system = await TestSystem.start({
    workspace: true,
    env: {
      // A window far longer than the test, so the budget never resets under it.
      RATE_LIMIT_SOCKET: `${BUDGET}/3600`,
      RATE_LIMIT_SOCKET_FREE: '2',
      WORKSPACE_AUTH_TIMEOUT_MS: String(AUTH_TIMEOUT_MS),
      WORKSPACE_PING_INTERVAL_MS: String(PING_INTERVAL_MS),
      WORKSPACE_PING_TIMEOUT_MS: '10000',
    },
  });
  const owner = await system.user('Owner');
  member = await system.user('Member');
  serverId = await system.server(owner, [member]);
});

afterAll(async () => {
  for (const client of clients.splice(0)) client.disconnect();
  for (const raw of raws.splice(0)) raw.terminate();
  await system?.stop();
});

/** A raw connection: every frame it receives, and its close. */
function openRaw() {
  const socket = new WebSocket(`${system.runtime.workspaceUrl}/socket.io/?EIO=4&transport=websocket`);
  raws.push(socket);
  const frames: string[] = [];
  let wake: (() => void) | undefined;
  socket.on('message', (data) => {
    frames.push(data.toString());
    wake?.();
  });
  const closed = new Promise<number>((resolve) => socket.on('close', (code) => resolve(code)));
  const until = async (done: () => boolean, what: string) => {
    const deadline = Date.now() + 15_000;
    while (!done()) {
      if (Date.now() > deadline) throw new Error(`${what} not within 15 s; got ${JSON.stringify(frames)}`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, 100);
        wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
    }
  };
  return { socket, frames, closed, until };
}

test(`frame budget: ${BUDGET} frames handled, the first over it answered once with socket-api-error, the rest ignored, twice the budget closes`, async () => {
  const raw = openRaw();
  await raw.until(() => raw.frames.some((f) => f.startsWith('0{')), 'the open packet');
  raw.socket.send('40'); // frame 1
  await raw.until(() => raw.frames.some((f) => f.startsWith('40{')), 'the namespace connect');
  raw.socket.send(`42["auth",${JSON.stringify({ token: member.token, workspaceId: String(serverId) })}]`); // frame 2
  await raw.until(() => raw.frames.some((f) => f.includes('auth-success')), 'auth-success');
  // Frames 3..BUDGET are handled: each an error (no such event).
  for (let i = 3; i <= BUDGET; i++) raw.socket.send(`42["hello-${i}",{}]`);
  await raw.until(() => raw.frames.filter((f) => f.includes('Unknown event')).length === BUDGET - 2, 'the answers of the budget');
  raw.socket.send('42["over",{}]'); // frame BUDGET + 1: refused, answered once
  await raw.until(() => raw.frames.some((f) => f.includes('too many frames')), 'the refusal');
  const refusal = raw.frames.find((f) => f.includes('too many frames'))!;
  expect(JSON.parse(refusal.slice(2))).toEqual(['socket-api-error', { event: 'over', message: `too many frames: at most ${BUDGET} per 3600 s, the rest of this window is ignored` }]);
  // Ignored, without an answer, up to twice the budget; the next frame closes the connection.
  for (let i = BUDGET + 2; i <= 2 * BUDGET + 1; i++) raw.socket.send(`42["flood-${i}",{}]`);
  expect(await raw.closed).toBe(1000);
  expect(raw.frames.filter((f) => f.startsWith('42') && !f.includes('Unknown event') && !f.includes('auth-success'))).toEqual([refusal]);
});

test(`auth timeout: a connection that sends no auth is closed about ${AUTH_TIMEOUT_MS} ms after its open packet; an authenticated one stays`, async () => {
  const authenticated = await workspaceClient(system, member, serverId, clients);
  const silent = openRaw();
  await silent.until(() => silent.frames.some((f) => f.startsWith('0{')), 'the open packet');
  const openedAt = Date.now();
  silent.socket.send('40');
  // It answers the server's pings (so only the missing auth can close it).
  silent.socket.on('message', (data) => data.toString() === '2' && silent.socket.send('3'));
  expect(await silent.closed).toBe(1000);
  const after = Date.now() - openedAt;
  expect(after).toBeGreaterThanOrEqual(AUTH_TIMEOUT_MS - 100);
  // Closed by the heartbeat round after the timeout: within one ping interval of it (plus scheduling).
  expect(after).toBeLessThan(AUTH_TIMEOUT_MS + PING_INTERVAL_MS + 1500);
  // The authenticated client, connected before, still is and still answers.
  expect(authenticated.socket.connected).toBe(true);
  authenticated.socket.emit('still-there', {});
  expect((await authenticated.next('socket-api-error')).data).toEqual({ event: 'still-there', message: 'Unknown event' });
});
