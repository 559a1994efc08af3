import type { Socket } from 'socket.io-client';
import { TestSystem, type TestUser } from '../support/system';
import { type WorkspaceClient, workspaceClient } from '../support/workspace-client';
import { describeMedia } from './support/mediasoup-check';
import { presenceQueuesSettled } from './support/voice-settle';
import { WeriftVoicePeer } from './support/werift-peer';

/*
 * The workspace socket (seed 003) and the media node, end to end: real mediasoup, real RTP from werift peers,
 * the local runtime with DynamoDB Local, the real socket.io-client. `speaking` (the room's audio-level
 * observer, debounced by SPEAKING_HOLD_MS) reaches workspace clients as `media-state-updated` and nothing
 * new reaches the main socket; a voice socket that replaces the user's open one (another device) tells his
 * workspace connections `user-changed-device`.
 */
const HOLD_MS = 500;
const whole = { microphone: true, speakers: true, camera: false, screen: false, speaking: false };

describeMedia('the workspace socket and the media node', {}, () => {
  let system: TestSystem;
  let voiceUrl: string;
  let owner: TestUser;
  let member: TestUser;
  let serverId: number;
  let otherServerId: number;
  const peers: WeriftVoicePeer[] = [];
  const clients: Socket[] = [];

  beforeAll(async () => {
    system = await TestSystem.start({ voice: true, workspace: true, env: { SPEAKING_HOLD_MS: String(HOLD_MS) } });
    system.settleAlso(presenceQueuesSettled());
    if (!('url' in system.runtime.voice)) throw new Error(`voice is off: ${system.runtime.voice.disabled}`);
    voiceUrl = system.runtime.voice.url;
    [owner, member] = [await system.user('Owner'), await system.user('Member')];
    serverId = await system.server(owner, [member]);
    otherServerId = await system.server(owner, [member], 'other');
  }, 60_000);

  afterAll(async () => {
    for (const client of clients.splice(0)) client.disconnect();
    await Promise.all(peers.map((peer) => peer.close().catch(() => undefined)));
    await system?.stop();
  });

  async function voiceChannel(sid: number, name: string): Promise<number> {
    const created = await system.rest('POST', `/servers/${sid}/channels`, { as: owner, json: { name, type: 1 } });
    expect(created.status).toBe(200);
    return Number(created.text);
  }

  async function join(user: TestUser, channelId: number): Promise<WeriftVoicePeer> {
    const peer = await WeriftVoicePeer.join(voiceUrl, channelId, { cookie: user.token });
    peers.push(peer);
    peer.startMicrophone(127);
    return peer;
  }

  /** The next `media-state-updated` of `userId` (others, e.g. the listener's, are skipped). */
  async function nextMediaState(client: WorkspaceClient, userId: number, timeoutMs = 15_000) {
    for (;;) {
      const { data } = await client.next('media-state-updated', timeoutMs);
      if (data.userId === String(userId)) return data;
    }
  }

  test('speaking: media-state-updated with speaking true when the audio starts, false a hold after it stops; the main socket gets nothing new', async () => {
    const channelId = await voiceChannel(serverId, 'talk');
    const watcher = await workspaceClient(system, member, serverId, clients);
    const main = await system.connect(member);
    const speaker = await join(owner, channelId);
    expect((await watcher.next('user-selected-channel', 20_000)).data).toEqual({ userId: String(owner.id), channelId: String(channelId), userMediaState: whole });
    expect(await main.next('user_joined_vc', (data) => data.id === owner.id, 20_000)).toMatchObject({ id: owner.id, channel_id: channelId });

    speaker.micLevel = 20; // -20 dBov: a voice
    expect(await nextMediaState(watcher, owner.id)).toEqual({ userId: String(owner.id), userMediaState: { ...whole, speaking: true } });
    speaker.stopMicrophone();
    const stoppedAt = Date.now();
    expect(await nextMediaState(watcher, owner.id)).toEqual({ userId: String(owner.id), userMediaState: whole });
    // Debounced: the hold passed since the last loud interval.
    expect(Date.now() - stoppedAt).toBeGreaterThanOrEqual(HOLD_MS - 250);
    // No speaking event on the ZavodChat protocol (it has none); one change each way on the workspace socket.
    await main.expectNothing();
    expect(watcher.events.filter((e) => e.name === 'media-state-updated')).toEqual([]);
    await speaker.close();
    await watcher.next('user-unselected-channel', 15_000);
  }, 60_000);

  test('speaking goes to the channel audience only: a workspace client of another workspace gets none', async () => {
    const channelId = await voiceChannel(serverId, 'talk-2');
    const elsewhere = await workspaceClient(system, member, otherServerId, clients);
    const watcher = await workspaceClient(system, member, serverId, clients);
    const speaker = await join(owner, channelId);
    await watcher.next('user-selected-channel', 20_000);
    speaker.micLevel = 20;
    await nextMediaState(watcher, owner.id);
    speaker.stopMicrophone();
    await nextMediaState(watcher, owner.id);
    await speaker.close();
    await watcher.next('user-unselected-channel', 15_000);
    // Marker: a change in the other workspace, announced after everything above.
    const marker = await voiceChannel(otherServerId, 'marker');
    const { data, before } = await elsewhere.next('channel-created');
    expect(data).toEqual({ channelId: String(marker) });
    expect(before).toEqual([]);
  }, 60_000);

  test('joining voice from another device while in a call: the old voice connection closes, user-changed-device to all of the user\'s workspace connections only', async () => {
    const [first, second] = [await voiceChannel(serverId, 'room-a'), await voiceChannel(serverId, 'room-b')];
    const mine = await workspaceClient(system, owner, serverId, clients);
    const mineElsewhere = await workspaceClient(system, owner, otherServerId, clients);
    const theirs = await workspaceClient(system, member, serverId, clients);
    const main = await system.connect(owner);
    const laptop = await join(owner, first);
    await theirs.next('user-selected-channel', 20_000);
    await mine.next('user-selected-channel', 20_000);
    expect(await main.next('user_joined_vc', (data) => data.id === owner.id, 15_000)).toMatchObject({ channel_id: first });
    const laptopClosed = new Promise<{ code: number; reason: string }>((resolve) => laptop.socket.ws.once('close', (code, reason) => resolve({ code, reason: reason.toString() })));

    const phone = await join(owner, second);
    expect(await laptopClosed).toEqual({ code: 1000, reason: 'User is connecting to a different channel' });
    expect((await mine.next('user-changed-device', 20_000)).data).toBeNull();
    expect((await mineElsewhere.next('user-changed-device', 20_000)).data).toBeNull();
    // The member sees the user move (after the change of device was announced: same queue), never the device change.
    expect((await theirs.next('user-unselected-channel', 20_000)).data).toEqual({ userId: String(owner.id), channelId: String(first) });
    const moved = await theirs.next('user-selected-channel', 20_000);
    expect(moved.data).toEqual({ userId: String(owner.id), channelId: String(second), userMediaState: whole });
    expect(moved.before.filter((e) => e.name === 'user-changed-device')).toEqual([]);
    expect(theirs.events.filter((e) => e.name === 'user-changed-device')).toEqual([]);
    // The main socket has no such event: it sees the user leave and join, nothing else.
    expect(await main.next('user_left_vc', (data) => data.id === owner.id, 15_000)).toMatchObject({ channel_id: first });
    expect(await main.next('user_joined_vc', (data) => data.id === owner.id, 15_000)).toMatchObject({ channel_id: second });
    await main.expectNothing();
    await phone.close();
  }, 60_000);
});
