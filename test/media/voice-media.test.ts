import { describeMedia } from './support/mediasoup-check';
import { eventually, type Fixture, sleep, startFixture, tokenOf } from './support/media-node-fixture';
import { sectionsOf, WeriftVoicePeer } from './support/werift-peer';

const ISO_MS_UTC = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;

/** Two werift clients with microphones in a fresh server voice channel. */
async function call(fixture: Fixture, channelId: number, users: [number, number]): Promise<[WeriftVoicePeer, WeriftVoicePeer]> {
  const first = await WeriftVoicePeer.join(fixture.node.url, channelId, { token: tokenOf(users[0]) });
  first.startMicrophone();
  // Once the first is connected its microphone producer exists, so the second's first offer carries it.
  await fixture.presence.waitFor((c) => c.kind === 'joined' && c.payload.userId === users[0]);
  const second = await WeriftVoicePeer.join(fixture.node.url, channelId, { token: tokenOf(users[1]) });
  second.startMicrophone();
  await eventually(() => first.count(users[1]) > 10 && second.count(users[0]) > 10, 'audio both ways');
  return [first, second];
}

describeMedia('media node with WebRTC peers (werift)', {}, () => {
  let fixture: Fixture;
  const peers: WeriftVoicePeer[] = [];
  const track = (pair: [WeriftVoicePeer, WeriftVoicePeer]) => (peers.push(...pair), pair);

  beforeAll(async () => {
    const server = { serverId: 5 };
    fixture = await startFixture({ 10: server, 11: server, 12: server, 13: server, 14: server, 15: server });
  });

  afterAll(async () => {
    await Promise.all(peers.map((peer) => peer.close()));
    await fixture?.node.stop();
  });

  test('two peers hear each other; offers follow the protocol; joined carries the VC state', async () => {
    const opened = new Date().toISOString();
    const [a, b] = track(await call(fixture, 10, [1, 2]));
    const before = [a.count(2), b.count(1)];
    await sleep(500);
    expect(a.count(2)).toBeGreaterThan(before[0] + 10);
    expect(b.count(1)).toBeGreaterThan(before[1] + 10);

    const joins = fixture.presence.of('joined').filter((join) => join.channelId === 10);
    expect(joins.map(({ joined: _joined, ...rest }) => rest)).toEqual([
      { userId: 1, channelId: 10, serverId: 5, mute: 0, deaf: 0, video: 0 },
      { userId: 2, channelId: 10, serverId: 5, mute: 0, deaf: 0, video: 0 },
    ]);
    for (const join of joins) {
      expect(join.joined).toMatch(ISO_MS_UTC);
      expect(join.joined >= opened).toBe(true);
    }

    // The newcomer's first offer already carries the other's voice; the first user was re-offered.
    const offer = b.offers[0];
    expect(offer).toMatch(/\r\na=ice-lite\r\n/);
    expect(offer).toMatch(/\r\na=group:BUNDLE my_voice 0\r\n/);
    expect(offer).toContain('a=end-of-candidates');
    expect(sectionsOf(offer).map(({ kind, mid, userId, direction }) => ({ kind, mid, userId, direction }))).toEqual([
      { kind: 'audio', mid: 'my_voice', userId: undefined, direction: 'recvonly' },
      { kind: 'audio', mid: '0', userId: 1, direction: 'sendonly' },
    ]);
    for (const section of sectionsOf(offer)) {
      expect(section.text).toMatch(/^m=audio \d+ UDP\/TLS\/RTP\/SAVPF 96\r\n/);
      expect(section.text).toContain('a=rtpmap:96 opus/48000/2');
    }
    expect(sectionsOf(a.lastOffer).find((s) => s.mid === '0')).toMatchObject({ userId: 2, direction: 'sendonly' });
  });

  test('change_state announces only the keys that changed, and rejects bad values', async () => {
    const [a] = track(await call(fixture, 11, [3, 4]));
    const changes = () => fixture.presence.of('changed', 3);
    a.socket.send('change_state', { mute: 1 });
    await eventually(() => changes().length === 1, 'mute announced');
    a.socket.send('change_state', { mute: 1 });
    a.socket.send('change_state', { mute: 1, deaf: 1 });
    await eventually(() => changes().length === 2, 'deaf announced');
    a.socket.send('change_state', { mute: 2 });
    a.socket.send('change_state', { deaf: '0' });
    // A bad deaf value leaves a good mute value unapplied too.
    a.socket.send('change_state', { mute: 0, deaf: 5 });
    a.socket.send('change_state', {});
    await a.socket.waitFor('error', () => true, 2);
    a.socket.send('change_state', { mute: 0, deaf: 0 });
    await eventually(() => changes().length === 3, 'both announced');
    expect(changes()).toEqual([
      { userId: 3, channelId: 11, serverId: 5, mute: 1 },
      { userId: 3, channelId: 11, serverId: 5, deaf: 1 },
      { userId: 3, channelId: 11, serverId: 5, mute: 0, deaf: 0 },
    ]);
    expect(a.socket.frames.filter((f) => f.name === 'error').map((f) => f.data)).toEqual([
      'invalid mute state',
      'invalid deaf state',
      'invalid deaf state',
    ]);
  });

  test('enable_video adds a sendonly video section with a=user for the other peer, disable_video removes it', async () => {
    const [sharer, viewer] = track(await call(fixture, 12, [5, 6]));
    sharer.startScreen({ codec: 'VP8', bitrate: 99_999_999_999 });

    const sharerOffer = await sharer.offer((sdp) => sdp.includes('a=mid:my_video'));
    const myVideo = sectionsOf(sharerOffer).find((s) => s.mid === 'my_video')!;
    expect(myVideo).toMatchObject({ kind: 'video', direction: 'recvonly' });
    expect(myVideo.text).toMatch(/^m=video \d+ UDP\/TLS\/RTP\/SAVPF 99\r\n/);
    expect(myVideo.text).toContain('a=rtpmap:99 VP8/90000');
    expect(myVideo.text).toContain('b=TIAS:10240000'); // capped at MAX_VIDEO_BITRATE

    const withVideo = await viewer.offer((sdp) => sectionsOf(sdp).some((s) => s.kind === 'video' && s.userId === 5));
    const videoSection = sectionsOf(withVideo).find((s) => s.kind === 'video')!;
    expect(videoSection).toMatchObject({ userId: 5, direction: 'sendonly' });
    expect(videoSection.text).toContain('a=rtpmap:99 VP8/90000');
    expect(withVideo).toMatch(new RegExp(`a=group:BUNDLE my_voice 0 ${videoSection.mid}\\r\\n`));
    await eventually(() => viewer.count(5, 'video') > 10, 'video at the viewer');
    await eventually(() => fixture.presence.of('changed', 5).length === 1, 'video announced');

    sharer.socket.send('disable_video');
    const withoutVideo = await viewer.offer((sdp) => sectionsOf(sdp).some((s) => s.mid === videoSection.mid && s.direction === 'inactive'));
    expect(sectionsOf(withoutVideo).find((s) => s.mid === videoSection.mid)!.userId).toBeUndefined();
    await sharer.offer((sdp) => sectionsOf(sdp).some((s) => s.mid === 'my_video' && s.direction === 'inactive'));
    await eventually(() => fixture.presence.of('changed', 5).length === 2, 'video off announced');
    expect(fixture.presence.of('changed', 5)).toEqual([
      { userId: 5, channelId: 12, serverId: 5, video: 1 },
      { userId: 5, channelId: 12, serverId: 5, video: 0 },
    ]);

    sharer.socket.send('enable_video', { codec: 'AV1' });
    sharer.socket.send('enable_video', { bitrate: -5 });
    sharer.socket.send('enable_video', { bitrate: 1.5 });
    await sharer.socket.waitFor('error', () => true, 2);
    expect(sharer.socket.frames.filter((f) => f.name === 'error').map((f) => f.data)).toEqual([
      'invalid codec',
      'invalid bitrate',
      'invalid bitrate',
    ]);
    // Sharing again with a lower bitrate reuses the viewer's inactive section.
    sharer.socket.send('enable_video', { codec: 'VP8', bitrate: 500_000 });
    const again = await sharer.offer((sdp) => sdp.includes('b=TIAS:500000'));
    expect(sectionsOf(again).filter((s) => s.mid === 'my_video')).toHaveLength(1);
    const reused = await viewer.offer((sdp) => sectionsOf(sdp).some((s) => s.mid === videoSection.mid && s.userId === 5));
    expect(sectionsOf(reused)).toHaveLength(sectionsOf(withVideo).length);
  });

  test('an H264 screen share is offered with payload type 98 and forwarded', async () => {
    const [sharer, viewer] = track(await call(fixture, 15, [11, 12]));
    sharer.startScreen({ codec: 'H264' });
    const offer = await sharer.offer((sdp) => sdp.includes('a=mid:my_video'));
    const myVideo = sectionsOf(offer).find((s) => s.mid === 'my_video')!;
    expect(myVideo.text).toMatch(/^m=video \d+ UDP\/TLS\/RTP\/SAVPF 98\r\n/);
    expect(myVideo.text).toContain('a=fmtp:98 level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f');
    const withVideo = await viewer.offer((sdp) => sectionsOf(sdp).some((s) => s.kind === 'video' && s.userId === 11));
    expect(sectionsOf(withVideo).find((s) => s.kind === 'video')!.text).toContain('a=rtpmap:98 H264/90000');
    await eventually(() => viewer.count(11, 'video') > 10, 'H264 video at the viewer');
  });

  test('admin mute stops the forwarded audio, admin deafen stops the received audio; both are announced as 2', async () => {
    const [a, b] = track(await call(fixture, 13, [7, 8]));
    const flowing = async (count: () => number) => {
      const start = count();
      await sleep(600);
      return count() - start;
    };
    expect(fixture.node.setAdminState(7, { mute: true })).toBe(true);
    await sleep(200);
    expect(await flowing(() => b.count(7))).toBeLessThanOrEqual(2);
    expect(await flowing(() => a.count(8))).toBeGreaterThan(15);
    fixture.node.setAdminState(7, { mute: false });
    await eventually(() => b.count(7) > 0 && fixture.presence.of('changed', 7).length === 2, 'mute lifted');
    expect(await flowing(() => b.count(7))).toBeGreaterThan(15);

    expect(fixture.node.setAdminState(8, { deaf: true }, 13)).toBe(true);
    await sleep(200);
    expect(await flowing(() => b.count(7))).toBeLessThanOrEqual(2);
    expect(await flowing(() => a.count(8))).toBeGreaterThan(15);
    fixture.node.setAdminState(8, { deaf: false });
    await sleep(200);
    expect(await flowing(() => b.count(7))).toBeGreaterThan(15);

    expect(fixture.node.setAdminState(8, { deaf: true }, 99)).toBe(false);
    expect(fixture.presence.of('changed').filter((c) => c.channelId === 13)).toEqual([
      { userId: 7, channelId: 13, serverId: 5, mute: 2 },
      { userId: 7, channelId: 13, serverId: 5, mute: 0 },
      { userId: 8, channelId: 13, serverId: 5, deaf: 2 },
      { userId: 8, channelId: 13, serverId: 5, deaf: 0 },
    ]);
  });

  test('kick closes the connection with the reason, announces the departure and re-offers the others', async () => {
    const [a, b] = track(await call(fixture, 14, [10, 9]));
    expect(fixture.node.kick(9, 'Kicked by administrator', 99)).toBe(false);
    expect(fixture.node.kick(9, 'Kicked by administrator', 14)).toBe(true);
    expect(await b.socket.closed).toEqual({ code: 1000, reason: 'Kicked by administrator' });
    await fixture.presence.waitFor((c) => c.kind === 'left' && c.payload.userId === 9);
    expect(fixture.presence.of('left', 9)).toEqual([{ userId: 9, channelId: 14, serverId: 5 }]);
    const after = await a.offer((sdp) => sectionsOf(sdp).some((s) => s.mid === '0' && s.direction === 'inactive'));
    expect(after).not.toContain('a=user:9');
    expect(fixture.node.kick(9, 'again')).toBe(false);
  });
});
