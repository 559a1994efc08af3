import { describeMedia } from './support/mediasoup-check';
import { type Fixture, sleep, startFixture, tokenOf } from './support/media-node-fixture';
import { WeriftVoicePeer } from './support/werift-peer';

/*
 * `speaking` (seed 003's userMediaState.speaking, issue 16): the room's AudioLevelObserver reads the
 * ssrc-audio-level of real RTP from werift peers through a real mediasoup worker; the node reports a change
 * per (user, channel) through the presence port, debounced by `speaking.holdMs`.
 */
const HOLD_MS = 600;
const INTERVAL_MS = 100;

describeMedia('speaking detection in the media node (real mediasoup, real RTP)', {}, () => {
  let fixture: Fixture;
  const peers: WeriftVoicePeer[] = [];

  beforeAll(async () => {
    fixture = await startFixture({ 40: { serverId: 5 } }, { speaking: { intervalMs: INTERVAL_MS, thresholdDb: -55, holdMs: HOLD_MS } });
  });

  afterAll(async () => {
    await Promise.all(peers.map((peer) => peer.close()));
    await fixture?.node.stop();
  });

  test('speaking turns true when audio starts, survives short pauses, and turns false after it stops', async () => {
    // Both send packets from the start; the listener's are silence (level 127), the speaker's too at first.
    const speaker = await WeriftVoicePeer.join(fixture.node.url, 40, { token: tokenOf(1) });
    peers.push(speaker);
    speaker.startMicrophone(127);
    await fixture.presence.waitFor((c) => c.kind === 'joined' && c.payload.userId === 1, 20_000);
    const listener = await WeriftVoicePeer.join(fixture.node.url, 40, { token: tokenOf(2) });
    peers.push(listener);
    listener.startMicrophone(127);
    await fixture.presence.waitFor((c) => c.kind === 'joined' && c.payload.userId === 2, 20_000);
    // Silence flowing through the observer for a few intervals: no one speaks yet.
    await sleep(400);
    expect(fixture.presence.of('speaking')).toEqual([]);

    speaker.micLevel = 20; // -20 dBov: a voice
    const started = await fixture.presence.waitFor((c) => c.kind === 'speaking' && c.payload.userId === 1);
    expect(started.payload).toEqual({ userId: 1, channelId: 40, serverId: 5, speaking: true });

    // A pause shorter than the hold (between words) changes nothing.
    speaker.micLevel = 127;
    await sleep(HOLD_MS / 3);
    speaker.micLevel = 20;
    await sleep(HOLD_MS);

    speaker.stopMicrophone();
    // The last loud packet, as sent: under load the 20 ms timer may have stalled before the stop.
    const lastLoudAt = speaker.lastMicPacketAt;
    const stopped = await fixture.presence.waitFor((c) => c.kind === 'speaking' && c.payload.userId === 1 && c.payload.speaking === false);
    expect(stopped.payload).toEqual({ userId: 1, channelId: 40, serverId: 5, speaking: false });
    // Debounced: the hold counts from the last loud report, and reports come per interval (the last packets'
    // partial interval may go unreported), so not before hold - interval after the last loud packet.
    expect(Date.now() - lastLoudAt).toBeGreaterThanOrEqual(HOLD_MS - INTERVAL_MS);
    // Exactly one change each way for the speaker; none for the listener, whose packets were silence all along.
    expect(fixture.presence.of('speaking', 1).map((p) => p.speaking)).toEqual([true, false]);
    expect(fixture.presence.of('speaking', 2)).toEqual([]);
  });
});
