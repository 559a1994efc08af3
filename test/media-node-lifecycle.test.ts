import { CONNECTION_TTL_SECONDS, registerConnection } from '../lambdas/domain/connections';
import { InMemoryEc2 } from '../lambdas/adapters/in-memory-ec2';
import {
  checkMediaNode,
  ensureMediaNodeRunning,
  type LifecycleContext,
  MediaNodeLifecycle,
  onlineUserCount,
  readNodeRecord,
} from '../lambdas/domain/media-node-lifecycle';
import { voiceHeartbeat, voiceJoined, voiceLeft } from '../lambdas/domain/voice';
import { type SocketClient, TestSystem, type TestUser } from './support/system';

/**
 * The on-demand media node against DynamoDB Local: `$connect`s through the local gateway run the real
 * handler, which starts the node through the in-memory EC2 instance (MEDIA_NODE_LIFECYCLE=memory); the
 * scheduled check runs with a simulated clock (`clock`), always ahead of the real one.
 */
const MINUTE = 60_000;
const IDLE_MS = 15 * MINUTE;

let system: TestSystem;
let instance: InMemoryEc2;
let context: LifecycleContext;
let users: TestUser[];
let clock = Date.now();
const log: string[] = [];

beforeAll(async () => {
  system = await TestSystem.start({ env: { MEDIA_NODE_LIFECYCLE: 'memory' } });
  // The instance the runtime's handlers drive (MEDIA_NODE_LIFECYCLE=memory: one per runtime).
  instance = system.runtime.context.mediaNode!.ec2 as InMemoryEc2;
  // The check's own view, as its Lambda has it: same table, same instance, its own process cache.
  context = { db: system.db, mediaNode: new MediaNodeLifecycle({ ec2: instance, idleMs: IDLE_MS, log: (line) => log.push(line) }) };
  users = [];
  for (let i = 0; i < 5; i++) users.push(await system.user());
}, 60_000);
afterAll(() => system.stop());

const check = (advanceMs = 0) => {
  clock = Math.max(clock, Date.now()) + advanceMs;
  return checkMediaNode(context, clock);
};
const state = async () => (await readNodeRecord(system.db, instance.instanceId, true))?.state;

async function untilNobodyOnline(): Promise<void> {
  const deadline = Date.now() + 10_000;
  while ((await onlineUserCount(system.db)) > 0) {
    if (Date.now() > deadline) throw new Error('users still counted online 10 s after their sockets closed');
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

async function closeAll(sockets: SocketClient[]): Promise<void> {
  await Promise.all(sockets.map((socket) => socket.close()));
  await untilNobodyOnline();
}

describe('media node on demand', () => {
  test('after a deploy the checks record the running instance, and stop it when nobody comes', async () => {
    expect(instance.current()).toBe('running');
    expect(await check()).toBe('recorded');
    expect(await state()).toBe('starting');
    // StartInstances on a running instance changes nothing and confirms it runs.
    expect(await check()).toBe('running');
    expect(instance.effective.start).toBe(0);
    expect(await check()).toBe('idle-countdown');
    expect(await check(IDLE_MS)).toBe('stopping');
    expect(await check()).toBe('stopped');
    expect(instance.current()).toBe('stopped');
    expect(instance.effective.stop).toBe(1);
  });

  test('a storm of 50 concurrent $connects starts the stopped node exactly once', async () => {
    const before = instance.calls.start;
    const sockets = await Promise.all(Array.from({ length: 50 }, (_, i) => system.connect(users[i % users.length])));
    expect(instance.calls.start - before).toBe(1);
    expect(instance.effective.start).toBe(1);
    expect(await state()).toBe('starting');
    // A caller that comes while it starts is told so, with a time to retry after (no EC2 call).
    const during = await ensureMediaNodeRunning(context, Date.now());
    expect(during).toMatchObject({ state: 'starting' });
    expect((during as { retryAfterSeconds: number }).retryAfterSeconds).toBeGreaterThanOrEqual(5);
    expect(instance.calls.start - before).toBe(1);

    // EC2 reports it running: the check records it.
    expect(await check()).toBe('running');
    expect(await state()).toBe('running');
    expect(instance.effective.start).toBe(1);
    await closeAll(sockets);
  });

  test('while it is known to run, a second storm of $connects makes no EC2 call at all', async () => {
    expect(await state()).toBe('running');
    const before = { ...instance.calls };
    const sockets = await Promise.all(Array.from({ length: 50 }, (_, i) => system.connect(users[i % users.length])));
    expect(instance.calls).toEqual(before);
    await closeAll(sockets);
  });

  test('never stops while someone is online, however long', async () => {
    const socket = await system.connect(users[0]);
    const stops = instance.calls.stop;
    for (let minute = 0; minute <= 60; minute += 5) {
      expect(await check(5 * MINUTE)).toBe('running');
    }
    expect(instance.calls.stop).toBe(stops);
    expect(await state()).toBe('running');
    await closeAll([socket]);
  });

  test('never stops while a participant is in voice with nobody online', async () => {
    expect(await onlineUserCount(system.db)).toBe(0);
    const stops = instance.calls.stop;
    // A real voice channel: the join re-checks access and forgets a state nobody may hold.
    const serverId = await system.server(users[1]);
    const channelId = Number((await system.rest('POST', `/servers/${serverId}/channels`, { as: users[1], json: { name: 'voice', type: 1 } })).text);
    const participant = { userId: users[1].id, channelId, serverId };
    clock = Math.max(clock, Date.now());
    await voiceJoined(system.runtime.context, 'http://node.test', { ...participant, joined: new Date(clock).toISOString(), mute: 0, deaf: 0, video: 0 }, clock);
    for (let minute = 0; minute <= 40; minute += 1) {
      // The node's heartbeat keeps the participant alive (every 10 s on the node; here every simulated minute).
      await voiceHeartbeat(system.db, [participant], clock + MINUTE);
      expect(await check(MINUTE)).toBe('running');
    }
    expect(instance.calls.stop).toBe(stops);
    await voiceLeft(system.runtime.context, participant);
  });

  test('stops after the idle time with nobody online and nobody in voice, not a minute before', async () => {
    expect(await check()).toBe('idle-countdown');
    const countdownStart = clock;
    expect(await check(IDLE_MS - MINUTE)).toBe('idle-countdown');
    expect(instance.effective.stop).toBe(1);
    expect(await check(MINUTE)).toBe('stopping');
    expect(clock - countdownStart).toBe(IDLE_MS);
    expect(instance.effective.stop).toBe(2);
    expect(await check()).toBe('stopped');
    expect(await state()).toBe('stopped');
    expect(instance.current()).toBe('stopped');
    // Stopped and nobody here: the check leaves it alone, and asks EC2 nothing.
    const calls = { ...instance.calls };
    expect(await check(60 * MINUTE)).toBe('nothing');
    expect(instance.calls).toEqual(calls);
  });

  test('restarts on the next $connect after a stop, and comes back to running', async () => {
    // The simulated clock ran over an hour in a few real seconds; the handler's 30 s "known running" cache
    // is about real time (a stop needs a full idle time after it was last seen running), so it is reset here.
    system.runtime.context.mediaNode!.knownRunningUntil = 0;
    const socket = await system.connect(users[2]);
    expect(instance.effective.start).toBe(2);
    expect(await state()).toBe('starting');
    expect(await check()).toBe('running');
    expect(instance.current()).toBe('running');
    await closeAll([socket]);
  });
  test('a $connect during the idle countdown cancels it', async () => {
    expect(await check()).toBe('idle-countdown');
    const socket = await system.connect(users[3]);
    await socket.close();
    await untilNobodyOnline();
    // The countdown the $connect removed is gone: a full idle time must pass again from the next check.
    const stops = instance.calls.stop;
    expect(await check(IDLE_MS + MINUTE)).toBe('idle-countdown');
    expect(instance.calls.stop).toBe(stops);
    expect(await state()).toBe('running');
  });

  test('a connection whose $disconnect was lost holds the node up only until it expires', async () => {
    // What a $disconnect API Gateway never delivered leaves behind: the connection's items, until their TTL.
    await registerConnection(system.db, { userId: users[4].id, connectionId: 'lostDisconnect=' }, Date.now() - CONNECTION_TTL_SECONDS * 1000 - 1000);
    expect(await onlineUserCount(system.db)).toBe(0);
    expect(await state()).toBe('running');
    expect(await check(IDLE_MS)).toBe('stopping');
    expect(await check()).toBe('stopped');
  });

  test('every transition is one JSON log line; starts and stops carry an Embedded Metric Format metric', () => {
    const lines = log.map((line) => JSON.parse(line));
    const transitions = lines.map((line) => `${line.from}->${line.to}`);
    expect(transitions).toEqual(
      expect.arrayContaining(['unknown->starting', 'starting->running', 'running->stopping', 'stopping->stopped']),
    );
    const stop = lines.find((line) => line.from === 'running' && line.to === 'stopping');
    expect(stop).toMatchObject({
      level: 'info',
      where: 'media-node-lifecycle',
      instanceId: instance.instanceId,
      reason: 'idle',
      MediaNodeStops: 1,
      _aws: { CloudWatchMetrics: [{ Namespace: 'ZavodChat', Dimensions: [[]], Metrics: [{ Name: 'MediaNodeStops', Unit: 'Count' }] }] },
    });
    expect(typeof stop._aws.Timestamp).toBe('number');
    const running = lines.find((line) => line.to === 'running');
    expect(running).not.toHaveProperty('_aws');
  });
});

describe('start while the node is still stopping', () => {
  test('the start EC2 refuses is retried by the check once the instance has stopped', async () => {
    // Its own instance: the record of another instance id is not this one's.
    await untilNobodyOnline();
    let now = Math.max(clock, Date.now());
    // EC2 on the same simulated clock as the checks: stopping takes three of its minutes.
    const slow = new InMemoryEc2({ instanceId: 'i-0fedcba9876543210', stopMs: 3 * MINUTE, clock: { now: () => now } });
    const lifecycle = new MediaNodeLifecycle({ ec2: slow, idleMs: IDLE_MS, log: () => {} });
    const own: LifecycleContext = { db: system.db, mediaNode: lifecycle };
    expect(await checkMediaNode(own, now)).toBe('recorded');
    expect(await checkMediaNode(own, (now += MINUTE))).toBe('running');
    expect(await checkMediaNode(own, (now += MINUTE))).toBe('idle-countdown');
    expect(await checkMediaNode(own, (now += IDLE_MS))).toBe('stopping');
    expect(slow.current()).toBe('stopping');

    // Someone comes online while EC2 is still stopping the instance: the start is claimed once and refused.
    const before = slow.calls.start;
    const results = await Promise.all(Array.from({ length: 10 }, () => ensureMediaNodeRunning(own, now)));
    expect(results.every((result) => result.state === 'starting')).toBe(true);
    expect(slow.calls.start - before).toBe(1);
    expect(slow.effective.start).toBe(0);
    expect(await checkMediaNode(own, (now += MINUTE))).toBe('waiting');

    // EC2 finished stopping: the check starts it, and the next one finds it running.
    now += 2 * MINUTE;
    expect(await checkMediaNode(own, (now += MINUTE))).toBe('started');
    expect(slow.effective.start).toBe(1);
    expect(await checkMediaNode(own, (now += MINUTE))).toBe('running');
  });
});
