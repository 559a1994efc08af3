import * as mediasoup from 'mediasoup';
import WebSocket from 'ws';
import { describeMedia } from './support/mediasoup-check';
import { eventually, type Fixture, startFixture, tokenOf } from './support/media-node-fixture';
import { Refused, VoiceSocket } from './support/voice-socket';
import { WeriftVoicePeer } from './support/werift-peer';

async function refusal(url: string, query: Record<string, string>, credentials: { token?: string; cookie?: string; bearer?: string }) {
  const error = await VoiceSocket.open(url, query, credentials).then(
    (socket) => {
      socket.close();
      throw new Error('the upgrade was accepted');
    },
    (reason: unknown) => reason,
  );
  expect(error).toBeInstanceOf(Refused);
  const { status, body } = error as Refused;
  return { status, body };
}

describeMedia('voice socket: admission, one channel per user, client frames', {}, () => {
  let fixture: Fixture;

  beforeAll(async () => {
    fixture = await startFixture({
      10: { serverId: 5 },
      11: { serverId: 5 },
      12: { serverId: 5, type: 0 },
      13: { serverId: 5, allowed: [1] },
    });
  });

  afterAll(async () => {
    await fixture?.node.stop();
  });

  test('refused upgrades get the HTTP status and reason of the admission, and announce nothing', async () => {
    const url = fixture.node.url;
    expect(await refusal(url, { channel: '10' }, {})).toEqual({ status: 401, body: 'Invalid or expired token' });
    expect(await refusal(url, { channel: '10' }, { token: 'nope' })).toEqual({ status: 401, body: 'Invalid or expired token' });
    expect(await refusal(url, { channel: 'abc' }, { token: tokenOf(1) })).toEqual({ status: 400, body: "Couldn't parse channel ID, got 'abc'" });
    expect(await refusal(url, { channel: '999' }, { cookie: tokenOf(1) })).toEqual({
      status: 404,
      body: 'User has no access to the channel or it does not exist',
    });
    expect((await refusal(url, { channel: '12' }, { bearer: tokenOf(1) })).status).toBe(404);
    expect(await refusal(url, { channel: '13' }, { token: tokenOf(2) })).toEqual({ status: 403, body: 'No permission' });
    expect(await refusal(url, { channel: '10', mute: '2' }, { token: tokenOf(1) })).toEqual({ status: 400, body: "Invalid mute state '2'" });
    expect(await refusal(url, { channel: '10', deaf: 'x' }, { token: tokenOf(1) })).toEqual({ status: 400, body: "Invalid deaf state 'x'" });
    expect(fixture.presence.calls).toEqual([]);
  });

  test('plain HTTP: a health check, and 426 for anything else', async () => {
    const base = fixture.node.url.replace('ws://', 'http://');
    const health = await fetch(`${base}/health`);
    expect([health.status, await health.text()]).toEqual([200, 'OK']);
    expect((await fetch(`${base}/?channel=10`)).status).toBe(426);
  });

  test('credentials come from the cookie, a bearer header or ?token=; a socket that never connects media still leaves', async () => {
    for (const credentials of [{ cookie: tokenOf(20) }, { bearer: tokenOf(20) }, { token: tokenOf(20) }]) {
      const socket = await VoiceSocket.open(fixture.node.url, { channel: '11', mute: '1', deaf: '0' }, credentials);
      await socket.waitFor('offer');
      socket.close();
      await socket.closed;
    }
    await eventually(() => fixture.presence.of('left', 20).length === 3, 'three departures');
    expect(fixture.presence.of('joined', 20)).toEqual([]);
    expect(fixture.presence.of('left', 20)[0]).toEqual({ userId: 20, channelId: 11, serverId: 5 });
  });

  test('one channel per user: a second socket to the same channel is closed, another channel replaces the first', async () => {
    const first = await VoiceSocket.open(fixture.node.url, { channel: '10' }, { token: tokenOf(3) });
    await first.waitFor('offer');
    const duplicate = await VoiceSocket.open(fixture.node.url, { channel: '10' }, { token: tokenOf(3) });
    expect(await duplicate.closed).toEqual({ code: 1000, reason: 'User is already connected to this channel' });
    first.send('ping', '');
    const elsewhere = await VoiceSocket.open(fixture.node.url, { channel: '11' }, { token: tokenOf(3) });
    expect(await first.closed).toEqual({ code: 1000, reason: 'User is connecting to a different channel' });
    await elsewhere.waitFor('offer');
    await eventually(() => fixture.presence.of('left', 3).length === 1, 'departure from channel 10');
    expect(fixture.presence.of('left', 3)).toEqual([{ userId: 3, channelId: 10, serverId: 5 }]);
    elsewhere.close();
    await eventually(() => fixture.presence.of('left', 3).length === 2, 'departure from channel 11');
  });

  test('two devices of one user joining at the same instant: exactly one stays, the other is told why', async () => {
    const outcome = async (sockets: VoiceSocket[]) => {
      // Whichever closes first is the loser; the other must keep its place and get its offer.
      const loser = await Promise.race(sockets.map((socket, i) => socket.closed.then((closed) => ({ i, closed }))));
      const survivor = sockets[1 - loser.i];
      await survivor.waitFor('offer');
      return { survivor, reason: loser.closed.reason };
    };
    // Same channel: the second is refused, the first keeps its place.
    const same = await outcome(await Promise.all([0, 1].map(() => VoiceSocket.open(fixture.node.url, { channel: '10' }, { token: tokenOf(28) }))));
    expect(same.reason).toBe('User is already connected to this channel');
    // Two channels: the later replaces the earlier, whichever order the node sees them in.
    const two = await outcome(await Promise.all(['10', '11'].map((channel) => VoiceSocket.open(fixture.node.url, { channel }, { token: tokenOf(29) }))));
    expect(two.reason).toBe('User is connecting to a different channel');
    for (const { survivor } of [same, two]) {
      survivor.close();
      await survivor.closed;
    }
    // One departure per user who held a place: the refused duplicate never joined, the replaced one left once.
    await eventually(() => fixture.presence.of('left', 28).length === 1 && fixture.presence.of('left', 29).length === 2, 'departures');
    expect(fixture.presence.of('left', 28)).toHaveLength(1);
  });

  test('bad frames get plain-string errors; binary and oversized frames close the socket', async () => {
    const socket = await VoiceSocket.open(fixture.node.url, { channel: '10' }, { token: tokenOf(4) });
    await socket.waitFor('offer');
    socket.ws.send('not json');
    socket.ws.send('{"data":1}');
    socket.ws.send('[1,2]');
    socket.send('change_state', 'loud');
    socket.send('dance', {});
    socket.send('offer', { type: 'answer' });
    socket.send('offer', { type: 'answer', sdp: 'v=0\r\nnonsense' });
    socket.send('ping', '');
    socket.send('disable_video');
    await socket.waitFor('error', () => true, 6);
    expect(socket.frames.filter((f) => f.name === 'error')).toEqual(
      [
        'invalid JSON data',
        'invalid JSON data',
        'invalid JSON data',
        'invalid JSON data',
        "unknown message 'dance'",
        'invalid answer',
        'invalid answer',
      ].map((data) => ({ name: 'error', data })),
    );

    socket.ws.send(Buffer.from([1, 2, 3]), { binary: true });
    expect(await socket.closed).toEqual({ code: 1003, reason: 'Binary frames are not supported' });

    const big = await VoiceSocket.open(fixture.node.url, { channel: '10' }, { token: tokenOf(4) });
    big.send('ping', 'x'.repeat(70 * 1024));
    expect((await big.closed).code).toBe(1009);
  });
});

describeMedia('media node lifecycle: DM calls, channel closure, worker death', {}, () => {
  let fixture: Fixture;
  const workers: mediasoup.types.Worker[] = [];
  const onWorker = (worker: mediasoup.types.Worker) => workers.push(worker);

  beforeAll(async () => {
    mediasoup.observer.on('newworker', onWorker);
    fixture = await startFixture({ 20: { allowed: [1, 2] }, 21: { allowed: [3, 4] }, 30: { serverId: 5 } }, { inactiveChannelMs: 1500, heartbeatMs: 300, keepaliveMs: 300 });
  });

  afterAll(async () => {
    mediasoup.observer.off('newworker', onWorker);
    await fixture?.node.stop();
  });

  test('a DM call: heartbeats list the connected participants; the call ends for one when the other hangs up', async () => {
    const caller = await WeriftVoicePeer.join(fixture.node.url, 20, { token: tokenOf(1) });
    caller.startMicrophone();
    const callee = await WeriftVoicePeer.join(fixture.node.url, 20, { token: tokenOf(2) });
    callee.startMicrophone();
    await eventually(() => caller.count(2) > 5, 'the call is up');
    expect(fixture.presence.of('joined', 1)[0]).not.toHaveProperty('serverId');
    const heartbeat = await fixture.presence.waitFor((c) => c.kind === 'heartbeat' && c.payload.length === 2);
    expect(heartbeat.payload).toEqual([
      { userId: 1, channelId: 20 },
      { userId: 2, channelId: 20 },
    ]);
    await callee.close();
    expect(await caller.socket.closed).toEqual({ code: 1000, reason: 'Call ended' });
    await eventually(() => fixture.presence.of('left').length === 2, 'both departures');
    expect(fixture.presence.of('left')).toEqual([
      { userId: 2, channelId: 20 },
      { userId: 1, channelId: 20 },
    ]);
    await caller.close();
  });

  test('an unanswered DM call is closed after INACTIVE_CHANNEL_MS', async () => {
    const started = Date.now();
    const caller = await VoiceSocket.open(fixture.node.url, { channel: '21' }, { token: tokenOf(3) });
    expect(await caller.closed).toEqual({ code: 1000, reason: 'Inactive for too long' });
    expect(Date.now() - started).toBeGreaterThanOrEqual(1400);
  });

  test('a client that stops answering WebSocket pings is dropped and announced as gone', async () => {
    const silent = new WebSocket(`${fixture.node.url}/?channel=30&token=${tokenOf(9)}`, { autoPong: false });
    const closed = new Promise<number>((resolve) => silent.on('close', resolve));
    expect(await closed).toBe(1006);
    await fixture.presence.waitFor((c) => c.kind === 'left' && c.payload.userId === 9);
  });

  test('closeChannel closes everyone in it', async () => {
    const sockets = await Promise.all([5, 6].map((user) => VoiceSocket.open(fixture.node.url, { channel: '30' }, { token: tokenOf(user) })));
    expect(fixture.node.closeChannel(30, 'Channel deleted')).toBe(2);
    for (const socket of sockets) expect(await socket.closed).toEqual({ code: 1000, reason: 'Channel deleted' });
    expect(fixture.node.closeChannel(30, 'again')).toBe(0);
  });

  test('when a worker dies its participants are closed and announced, and a new worker takes over', async () => {
    const peer = await WeriftVoicePeer.join(fixture.node.url, 30, { token: tokenOf(7) });
    peer.startMicrophone();
    await fixture.presence.waitFor((c) => c.kind === 'joined' && c.payload.userId === 7);
    const dying = workers.find((worker) => !worker.closed)!;
    process.kill(dying.pid, 'SIGKILL');
    expect(await peer.socket.closed).toEqual({ code: 1000, reason: 'Media server error' });
    await fixture.presence.waitFor((c) => c.kind === 'left' && c.payload.userId === 7);
    await peer.close();

    await eventually(() => workers.some((worker) => worker !== dying && !worker.closed), 'a replacement worker');
    const next = await WeriftVoicePeer.join(fixture.node.url, 30, { token: tokenOf(8) });
    next.startMicrophone();
    await fixture.presence.waitFor((c) => c.kind === 'joined' && c.payload.userId === 8);
    await next.close();
  });
});
