import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import WebSocket from 'ws';
import { InMemoryEc2 } from '../lambdas/adapters/in-memory-ec2';
import { checkMediaNode, type LifecycleContext, MediaNodeLifecycle, readNodeRecord } from '../lambdas/domain/media-node-lifecycle';
import { voiceHeartbeat, voiceJoined, voiceLeft } from '../lambdas/domain/voice';
import { VOICE_STARTING } from '../lambdas/domain/voice-wake';
import { handler as wakeConnect } from '../lambdas/socket-voice-wake/connect';
import { WebSocketGateway } from '../local/ws-gateway';
import { type SocketClient, TestSystem, type TestUser } from './support/system';

/**
 * The voice wake (`mediaStartOn=voice`) black-box: its `$connect` handler behind the local API Gateway
 * stand-in (local/ws-gateway.ts, a WebSocket API of its own as on AWS), on the local runtime's context
 * (DynamoDB Local, MEDIA_NODE_LIFECYCLE=memory: the in-memory EC2 instance, MEDIA_START_ON=voice). Voice
 * join attempts are real WebSocket upgrades over loopback; the scheduled check runs with a simulated clock.
 */
const MINUTE = 60_000;
const IDLE_MS = 15 * MINUTE;

let system: TestSystem;
let instance: InMemoryEc2;
let check: LifecycleContext;
let wake: { gateway: WebSocketGateway; server: Server; url: string };
let owner: TestUser;
let members: TestUser[];
let outsider: TestUser;
let serverId: number;
let voiceChannel: number;
let textChannel: number;
let clock = Date.now();

beforeAll(async () => {
  system = await TestSystem.start({ env: { MEDIA_NODE_LIFECYCLE: 'memory', MEDIA_START_ON: 'voice' } });
  instance = system.runtime.context.mediaNode!.ec2 as InMemoryEc2;
  // The check's own view, as its Lambda has it: same table, same instance, its own process.
  check = { db: system.db, mediaNode: new MediaNodeLifecycle({ ec2: instance, idleMs: IDLE_MS, startOn: 'voice', log: () => {} }) };
  const gateway = new WebSocketGateway({
    routes: { $connect: wakeConnect, $disconnect: async () => ({ statusCode: 200 }), $default: async () => ({ statusCode: 200 }) },
    log: (line) => console.error(line),
  });
  const server = createServer();
  gateway.attach(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  wake = { gateway, server, url: `ws://127.0.0.1:${(server.address() as AddressInfo).port}/` };

  owner = await system.user();
  members = [await system.user(), await system.user()];
  outsider = await system.user();
  serverId = await system.server(owner, members);
  voiceChannel = Number((await system.rest('POST', `/servers/${serverId}/channels`, { as: owner, json: { name: 'voice', type: 1 } })).text);
  textChannel = Number((await system.rest('POST', `/servers/${serverId}/channels`, { as: owner, json: { name: 'text', type: 0 } })).text);
}, 60_000);

afterAll(async () => {
  await wake.gateway.close();
  await new Promise((resolve) => wake.server.close(resolve));
  await system.stop();
});

const tick = (advanceMs = 0) => {
  clock = Math.max(clock, Date.now()) + advanceMs;
  return checkMediaNode(check, clock);
};
const state = async () => (await readNodeRecord(system.db, instance.instanceId, true))?.state;

/** One voice join attempt as the stock client makes it (`?channel=`, the cookie); resolves with the upgrade's answer. */
function attempt(query: string, options: { token?: string; via?: 'cookie' | 'query'; origin?: string } = {}): Promise<{ status: number; body: string }> {
  const headers: Record<string, string> = {};
  let path = query;
  if (options.token !== undefined && (options.via ?? 'cookie') === 'cookie') headers.cookie = `zavodchat_token=${options.token}`;
  if (options.token !== undefined && options.via === 'query') path += `&token=${encodeURIComponent(options.token)}`;
  if (options.origin) headers.origin = options.origin;
  return new Promise((resolve, reject) => {
    const socket = new WebSocket(`${wake.url}${path}`, { headers });
    socket.on('unexpected-response', (_request, response) => {
      let body = '';
      response.on('data', (chunk: Buffer) => (body += chunk.toString('utf8')));
      response.on('end', () => resolve({ status: response.statusCode ?? 0, body }));
    });
    socket.on('open', () => {
      socket.terminate();
      reject(new Error('the voice wake accepted a WebSocket: it must refuse every upgrade'));
    });
    socket.on('error', (error) => {
      if (!/Unexpected server response/.test(error.message)) reject(error);
    });
  });
}

async function untilStopped(): Promise<void> {
  expect(await tick()).toBe('recorded');
  expect(await tick()).toBe('running');
  expect(await tick()).toBe('idle-countdown');
  expect(await tick(IDLE_MS)).toBe('stopping');
  expect(await tick()).toBe('stopped');
}

describe('mediaStartOn=voice', () => {
  let online: SocketClient[] = [];

  test('being online neither keeps the node up nor starts it', async () => {
    // Members online (main socket) the whole time: with `online` they would hold the node up.
    online = await Promise.all([owner, ...members].map((user) => system.connect(user)));
    await untilStopped();
    expect(instance.current()).toBe('stopped');

    // A storm of main-socket `$connect`s while it is stopped: no EC2 call at all.
    const calls = { ...instance.calls };
    const more = await Promise.all(Array.from({ length: 10 }, (_, i) => system.connect([owner, ...members][i % 3])));
    expect(instance.calls).toEqual(calls);
    expect(await state()).toBe('stopped');
    // Nor does the check start it for them.
    expect(await tick(MINUTE)).toBe('nothing');
    expect(instance.calls).toEqual(calls);
    await Promise.all(more.map((socket) => socket.close()));
  });

  test('an attempt the node would refuse gets its refusal and starts nothing', async () => {
    const calls = { ...instance.calls };
    const refusals = await Promise.all([
      attempt(`?channel=${voiceChannel}`),
      attempt(`?channel=${voiceChannel}`, { token: 'not-a-session' }),
      attempt(`?channel=${voiceChannel}`, { token: '00000000-0000-4000-8000-000000000000' }),
      attempt(`?channel=${voiceChannel}`, { token: outsider.token }),
      attempt(`?channel=${textChannel}`, { token: owner.token }),
      attempt('?channel=abc', { token: owner.token }),
      attempt(`?channel=${voiceChannel}`, { token: owner.token, origin: 'https://evil.example' }),
      attempt(`?channel=${voiceChannel}&mute=2`, { token: owner.token }),
      attempt(`?channel=${voiceChannel}&deaf=yes`, { token: owner.token }),
    ]);
    expect(refusals.map(({ status }) => status)).toEqual([401, 401, 401, 404, 404, 400, 403, 400, 400]);
    expect(refusals[3].body).toBe('Channel does not exist');
    expect(refusals[4].body).toBe('User has no access to the channel or it does not exist');
    expect(refusals[6].body).toBe('Origin not allowed');
    expect(refusals[7].body).toBe("Invalid mute state '2'");
    expect(refusals[8].body).toBe("Invalid deaf state 'yes'");
    expect(instance.calls).toEqual(calls);
    expect(await state()).toBe('stopped');
  });

  test('50 concurrent admitted attempts start the node exactly once, and each is refused with the reason', async () => {
    const before = { ...instance.calls };
    const effective = instance.effective.start;
    const users = [owner, ...members];
    const answers = await Promise.all(
      Array.from({ length: 50 }, (_, i) => attempt(`?channel=${voiceChannel}`, { token: users[i % users.length].token, via: i % 2 === 0 ? 'cookie' : 'query' })),
    );
    expect(answers.every(({ status, body }) => status === 503 && body === VOICE_STARTING)).toBe(true);
    expect(instance.calls.start - before.start).toBe(1);
    expect(instance.effective.start - effective).toBe(1);
    expect(instance.calls.stop).toBe(before.stop);
    expect(await state()).toBe('starting');
    expect(await tick()).toBe('running');
  });

  test('an attempt that still reaches the wake while the node runs (a cached DNS answer) is refused, with no EC2 call', async () => {
    system.runtime.context.mediaNode!.knownRunningUntil = 0;
    const calls = { ...instance.calls };
    expect(await attempt(`?channel=${voiceChannel}`, { token: members[0].token })).toEqual({ status: 503, body: VOICE_STARTING });
    expect(instance.calls).toEqual(calls);
  });

  test('a voice participant keeps the node up; once he leaves it stops after the idle time though members stay online', async () => {
    const participant = { userId: members[1].id, channelId: voiceChannel, serverId };
    clock = Math.max(clock, Date.now());
    await voiceJoined(system.runtime.context, 'http://node.test', { ...participant, joined: new Date(clock).toISOString(), mute: 0, deaf: 0, video: 0 }, clock);
    const stops = instance.calls.stop;
    for (let minute = 0; minute < 30; minute++) {
      await voiceHeartbeat(system.db, [participant], clock + MINUTE);
      expect(await tick(MINUTE)).toBe('running');
    }
    expect(instance.calls.stop).toBe(stops);
    await voiceLeft(system.runtime.context, participant);
    // Members are still online (their main sockets are open): with `voice` that does not count.
    expect(await tick()).toBe('idle-countdown');
    expect(await tick(IDLE_MS - MINUTE)).toBe('idle-countdown');
    expect(await tick(MINUTE)).toBe('stopping');
    expect(await tick()).toBe('stopped');
    await Promise.all(online.map((socket) => socket.close()));
  });

  test('after a stop the next admitted attempt starts it again', async () => {
    system.runtime.context.mediaNode!.knownRunningUntil = 0;
    const effective = instance.effective.start;
    expect(await attempt(`?channel=${voiceChannel}`, { token: owner.token })).toEqual({ status: 503, body: VOICE_STARTING });
    expect(instance.effective.start - effective).toBe(1);
    expect(await tick()).toBe('running');
  });
});
