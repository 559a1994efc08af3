import { randomUUID } from 'node:crypto';
import { io, type Socket } from 'socket.io-client';
import WebSocket from 'ws';
import { type TestSystem as System, TestSystem, type TestUser } from './support/system';

/*
 * The workspace socket of seed 003 (docs/protocol.md, the workspace protocol) through the local gateway and DynamoDB Local:
 * the real socket.io-client, unmodified, with transports ['websocket'], and raw WebSocket frames for the
 * Engine.IO v4 / Socket.IO v5 behaviour the protocols' documents and test suites specify.
 */

const PING_INTERVAL_MS = 400;
const PING_TIMEOUT_MS = 600;
/** The local gateway's idle timeout, far below API Gateway's 10 minutes: pings must keep connections open. */
const IDLE_TIMEOUT_MS = 1500;

let system: System;
let owner: TestUser;
let member: TestUser;
let outsider: TestUser;
let banned: TestUser;
let serverId: number;
const clients: Socket[] = [];
const raws: RawClient[] = [];

beforeAll(async () => {
  system = await TestSystem.start({
    workspace: true,
    gatewayLimits: { idleTimeoutMs: IDLE_TIMEOUT_MS },
    env: { WORKSPACE_PING_INTERVAL_MS: String(PING_INTERVAL_MS), WORKSPACE_PING_TIMEOUT_MS: String(PING_TIMEOUT_MS) },
  });
  [owner, member, outsider, banned] = [await system.user('Owner'), await system.user('Member'), await system.user('Outsider'), await system.user('Banned')];
  serverId = await system.server(owner, [member, banned]);
  expect(await system.rest('POST', `/servers/${serverId}/bans/${banned.id}?expires=never`, { as: owner })).toMatchObject({ status: 200 });
});

afterEach(() => {
  for (const client of clients.splice(0)) client.disconnect();
  for (const raw of raws.splice(0)) raw.socket.terminate();
});

afterAll(async () => {
  await system?.stop();
});

/** A connected socket.io client (the `/` namespace joined). */
async function connectClient(): Promise<Socket> {
  const socket = io(system.runtime.workspaceUrl!, { transports: ['websocket'], reconnection: false, timeout: 5000 });
  clients.push(socket);
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', () => resolve());
    socket.once('connect_error', reject);
  });
  return socket;
}

function once<T = any>(socket: Socket, event: string, timeoutMs = 5000): Promise<T> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no '${event}' within ${timeoutMs} ms`)), timeoutMs);
    socket.once(event, (data: T) => {
      clearTimeout(timer);
      resolve(data);
    });
  });
}

const auth = (user: TestUser, extra: Record<string, unknown> = {}) => ({ token: user.token, workspaceId: String(serverId), ...extra });

/** A raw WebSocket client recording every frame. */
class RawClient {
  readonly frames: string[] = [];
  readonly closed: Promise<{ code: number; reason: string }>;
  private waiters: Array<() => void> = [];
  constructor(readonly socket: WebSocket) {
    socket.on('message', (data) => {
      this.frames.push(data.toString());
      for (const wake of this.waiters.splice(0)) wake();
    });
    this.closed = new Promise((resolve) => socket.on('close', (code, reason) => resolve({ code, reason: reason.toString() })));
  }

  /** The next frame not yet consumed (pings too unless `skipPings`). */
  async next(options: { skipPings?: boolean; timeoutMs?: number } = {}): Promise<string> {
    const deadline = Date.now() + (options.timeoutMs ?? 5000);
    for (;;) {
      while (this.frames.length > 0) {
        const frame = this.frames.shift()!;
        if (!(options.skipPings && frame === '2')) return frame;
      }
      const left = deadline - Date.now();
      if (left <= 0) throw new Error('no frame in time');
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
  }
}

function wsUrl(query = 'EIO=4&transport=websocket'): string {
  return `${system.runtime.workspaceUrl}/socket.io/?${query}`;
}

/** Opens a raw connection and consumes the open packet. */
async function openRaw(): Promise<{ raw: RawClient; handshake: Record<string, unknown> }> {
  const raw = new RawClient(new WebSocket(wsUrl()));
  raws.push(raw);
  const open = await raw.next();
  expect(open[0]).toBe('0');
  return { raw, handshake: JSON.parse(open.slice(1)) };
}

/** The HTTP status and body of a refused upgrade. */
function refusal(query: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const socket = new WebSocket(wsUrl(query));
    socket.once('open', () => reject(new Error('upgrade accepted')));
    socket.once('error', () => undefined);
    socket.once('unexpected-response', (_request, response) => {
      let body = '';
      response.on('data', (chunk: Buffer) => (body += chunk.toString()));
      response.on('end', () => resolve({ status: response.statusCode ?? 0, body }));
    });
  });
}

describe('socket.io-client against the workspace socket', () => {
  test('connects over WebSocket only and learns the heartbeat from the open packet', async () => {
    const socket = await connectClient();
    expect(socket.connected).toBe(true);
    expect(typeof socket.id).toBe('string');
    expect(socket.io.engine.transport.name).toBe('websocket');
  });

  test('auth succeeds with a session token of REST POST /auth for a workspace the user is a member of', async () => {
    const socket = await connectClient();
    const success = once(socket, 'auth-success');
    socket.emit('auth', auth(member, { transaction: 't-ok', onlineStatus: 'idle' }));
    expect(await success).toEqual({ transaction: 't-ok', userId: String(member.id) });
    // Without a transaction, none in the answer (optional keys are omitted).
    const second = await connectClient();
    const plain = once(second, 'auth-success');
    second.emit('auth', auth(owner));
    expect(await plain).toEqual({ userId: String(owner.id) });
  });

  const failures: Array<[string, () => unknown, string]> = [
    ['a token that is no session', () => auth(member, { token: randomUUID() }), 'Expired or invalid token'],
    ['a malformed token', () => auth(member, { token: 'not-a-token' }), 'Invalid token'],
    ['a missing token', () => ({ workspaceId: String(serverId) }), 'Invalid token'],
    ['an unknown workspace', () => auth(member, { workspaceId: '999999999' }), 'Server does not exist'],
    ['a workspace id that is not a server id string', () => auth(member, { workspaceId: serverId }), 'Invalid workspaceId: expected a server id as a string'],
    ['a workspace the user is not a member of', () => auth(outsider), 'User is not a member of the server'],
    ['a workspace the user is banned from', () => auth(banned), 'User is banned from the server'],
    ['an onlineStatus other than online, idle, offline', () => auth(member, { onlineStatus: 'busy' }), "Invalid onlineStatus: expected 'online', 'idle' or 'offline'"],
    ['data that is not an object', () => 'token', 'Invalid data: expected an object'],
  ];
  test.each(failures)('auth with %s: socket-api-error and socket-api-error-<transaction>', async (_what, data, message) => {
    const socket = await connectClient();
    const payload = data();
    const transaction = `tx-${randomUUID()}`;
    const withTransaction = typeof payload === 'object' ? { ...(payload as object), transaction } : payload;
    const general = once(socket, 'socket-api-error');
    const scoped = typeof payload === 'object' ? once(socket, `socket-api-error-${transaction}`) : undefined;
    let succeeded = false;
    socket.on('auth-success', () => (succeeded = true));
    socket.emit('auth', withTransaction);
    expect(await general).toEqual({ event: 'auth', message });
    if (scoped) expect(await scoped).toEqual({ message });
    // The connection stays usable: a correct auth afterwards succeeds (and is the barrier for "no success before").
    expect(succeeded).toBe(false);
    const success = once(socket, 'auth-success');
    socket.emit('auth', auth(member));
    expect(await success).toEqual({ userId: String(member.id) });
  });

  test('any event before auth is an error; after auth an unknown event is one too, and a second auth', async () => {
    const socket = await connectClient();
    const general = once(socket, 'socket-api-error');
    const scoped = once(socket, 'socket-api-error-early');
    socket.emit('join-channel', { transaction: 'early', channelId: '1' });
    expect(await general).toEqual({ event: 'join-channel', message: 'Not authenticated: send auth first' });
    expect(await scoped).toEqual({ message: 'Not authenticated: send auth first' });
    const success = once(socket, 'auth-success');
    socket.emit('auth', auth(member));
    await success;
    const unknown = once(socket, 'socket-api-error');
    socket.emit('join-channel', {});
    expect(await unknown).toEqual({ event: 'join-channel', message: 'Unknown event' });
    const again = once(socket, 'socket-api-error-again');
    socket.emit('auth', auth(owner, { transaction: 'again' }));
    expect(await again).toEqual({ message: 'Already authenticated: one connection serves one workspace' });
  });

  test('the server sends heartbeats: an idle connection outlives the gateway idle timeout', async () => {
    const socket = await connectClient();
    let pings = 0;
    socket.io.engine.on('ping', () => pings++);
    let disconnected: string | undefined;
    socket.on('disconnect', (reason) => (disconnected = reason));
    const success = once(socket, 'auth-success');
    socket.emit('auth', auth(member));
    await success;
    // Twice the idle timeout with nothing sent by the application: only pings and pongs travel.
    await new Promise((resolve) => setTimeout(resolve, 2 * IDLE_TIMEOUT_MS + 200));
    expect(disconnected).toBeUndefined();
    expect(socket.connected).toBe(true);
    expect(pings).toBeGreaterThanOrEqual(3);
  });
});

describe('Engine.IO v4 / Socket.IO v5 conformance over WebSocket (raw frames)', () => {
  test('handshake: the server speaks first with the open packet and its five fields', async () => {
    const { handshake } = await openRaw();
    expect(Object.keys(handshake).sort()).toEqual(['maxPayload', 'pingInterval', 'pingTimeout', 'sid', 'upgrades']);
    expect(handshake).toMatchObject({ upgrades: [], pingInterval: PING_INTERVAL_MS, pingTimeout: PING_TIMEOUT_MS, maxPayload: 32 * 1024 });
    expect(typeof handshake.sid).toBe('string');
    const other = await openRaw();
    expect(other.handshake.sid).not.toBe(handshake.sid);
  });

  test.each([
    ['no EIO', 'transport=websocket', 5, 'Unsupported protocol version'],
    ['EIO=abc', 'EIO=abc&transport=websocket', 5, 'Unsupported protocol version'],
    ['EIO=3', 'EIO=3&transport=websocket', 5, 'Unsupported protocol version'],
    ['no transport', 'EIO=4', 0, 'Transport unknown'],
    ['transport=polling', 'EIO=4&transport=polling', 0, 'Transport unknown'],
    ['transport=abc', 'EIO=4&transport=abc', 0, 'Transport unknown'],
  ])('handshake with %s is refused with HTTP 400 {code, message}', async (_what, query, code, message) => {
    const refused = await refusal(query);
    expect(refused.status).toBe(400);
    expect(JSON.parse(refused.body)).toEqual({ code, message });
  });

  test('heartbeat: the server pings, the client pongs, and pings keep coming', async () => {
    const { raw } = await openRaw();
    for (let i = 0; i < 3; i++) {
      expect(await raw.next()).toBe('2');
      raw.socket.send('3');
    }
  });

  test('heartbeat: a client that does not answer the ping is closed after pingTimeout', async () => {
    const { raw } = await openRaw();
    expect(await raw.next()).toBe('2');
    const started = Date.now();
    const closed = await raw.closed;
    expect(closed.code).toBe(1000);
    // Found by the next round after the timeout: within pingTimeout plus a ping interval (and scheduling slack).
    expect(Date.now() - started).toBeLessThan(PING_TIMEOUT_MS + 2 * PING_INTERVAL_MS + 1500);
  });

  test('namespace: "/" is joined with a Socket.IO sid, any other is refused with CONNECT_ERROR and the connection stays', async () => {
    const { raw } = await openRaw();
    raw.socket.send('40/random,');
    expect(await raw.next({ skipPings: true })).toBe('44/random,{"message":"Invalid namespace"}');
    raw.socket.send('40');
    const connected = await raw.next({ skipPings: true });
    expect(connected.startsWith('40{')).toBe(true);
    expect(Object.keys(JSON.parse(connected.slice(2)))).toEqual(['sid']);
  });

  test('an event of a namespace not joined is dropped (as the reference server does)', async () => {
    const { raw } = await openRaw();
    raw.socket.send('42["auth",{"transaction":"x"}]');
    raw.socket.send('40');
    // Frames are handled in order: the CONNECT answer comes first, nothing from the event before it.
    expect((await raw.next({ skipPings: true })).startsWith('40{')).toBe(true);
  });

  test('events and acks: an event with an ack id is acknowledged after its events', async () => {
    const { raw } = await openRaw();
    raw.socket.send('40');
    await raw.next({ skipPings: true });
    raw.socket.send(`421["auth",{"transaction":"a","token":"${randomUUID()}","workspaceId":"${serverId}"}]`);
    expect(await raw.next({ skipPings: true })).toBe('42["socket-api-error",{"event":"auth","message":"Expired or invalid token"}]');
    expect(await raw.next({ skipPings: true })).toBe('42["socket-api-error-a",{"message":"Expired or invalid token"}]');
    expect(await raw.next({ skipPings: true })).toBe('431[{"error":"Expired or invalid token"}]');
    raw.socket.send(`427["auth",{"token":"${member.token}","workspaceId":"${serverId}"}]`);
    expect(await raw.next({ skipPings: true })).toBe(`42["auth-success",{"userId":"${member.id}"}]`);
    expect(await raw.next({ skipPings: true })).toBe(`437[{"userId":"${member.id}"}]`);
  });

  test.each([
    ['a close packet (forced close)', '1'],
    ['a DISCONNECT of the main namespace', '41'],
    ['text that is no Engine.IO packet', 'abc'],
    ['an unknown Socket.IO packet type', '4abc'],
    ['an invalid Socket.IO payload', '42{"abc"'],
    ['an event whose name is not a string', '42[1,2]'],
    ['a client ping (v3 heartbeat direction)', '2'],
    ['a binary event header', '451-["x",{"_placeholder":true,"num":0}]'],
    ['an upgrade packet', '5'],
  ])('%s closes the connection', async (_what, frame) => {
    const { raw } = await openRaw();
    raw.socket.send('40');
    await raw.next({ skipPings: true });
    raw.socket.send(frame);
    expect((await raw.closed).code).toBe(1000);
  });

  test('binary frames close with 1003 and frames above 32 KB with 1009 (API Gateway limits)', async () => {
    const binary = await openRaw();
    binary.raw.socket.send(Buffer.from([1, 2, 3]));
    expect((await binary.raw.closed).code).toBe(1003);
    const large = await openRaw();
    large.raw.socket.send(`42["auth","${'x'.repeat(33 * 1024)}"]`);
    expect((await large.raw.closed).code).toBe(1009);
  });

  test('latency from the upgrade request to the open packet (docs/protocol.md, the workspace protocol)', async () => {
    const samples: number[] = [];
    for (let i = 0; i < 20; i++) {
      const started = performance.now();
      const raw = new RawClient(new WebSocket(wsUrl()));
      raws.push(raw);
      expect((await raw.next())[0]).toBe('0');
      samples.push(performance.now() - started);
      raw.socket.close();
    }
    samples.sort((a, b) => a - b);
    const at = (q: number) => samples[Math.min(samples.length - 1, Math.floor(q * samples.length))].toFixed(1);
    console.log(`workspace open packet after the upgrade request: median ${at(0.5)} ms, p90 ${at(0.9)} ms, max ${at(1)} ms (${samples.length} connections)`);
    expect(samples[Math.floor(samples.length / 2)]).toBeLessThan(1000);
  });
});
