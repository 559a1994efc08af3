/**
 * Voice through the whole local runtime: the media node admits with the DynamoDB-backed rules, its
 * presence reaches main sockets through the shared fan-out, REST lists `vc_users` and ends voice
 * connections through the signed control path (voice kick, server kick, channel deletion) and applies
 * stored admin mute/deafen, and the sweeper announces users whose node stopped beating.
 */
import { DeleteCommand, GetCommand, PutCommand } from '@aws-sdk/lib-dynamodb';
import { keys, padId } from '../../lambdas/domain/table';
import { epochSeconds } from '../../lambdas/domain/time';
import { TestSystem, type TestUser } from '../support/system';
import { eventually } from './support/media-node-fixture';
import { describeMedia } from './support/mediasoup-check';
import { presenceQueuesSettled } from './support/voice-settle';
import { Refused, VoiceSocket } from './support/voice-socket';
import { WeriftVoicePeer } from './support/werift-peer';

const ISO = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;

describeMedia('voice in the whole system', {}, () => {
  let system: TestSystem;
  let voiceUrl: string;
  const peers: WeriftVoicePeer[] = [];

  beforeAll(async () => {
    system = await TestSystem.start({ voice: true });
    // expectNothing's barrier also waits for the voice events the media node still has to announce.
    system.settleAlso(presenceQueuesSettled());
    if (!('url' in system.runtime.voice)) throw new Error(`voice is off: ${system.runtime.voice.disabled}`);
    voiceUrl = system.runtime.voice.url;
  }, 60_000);
  afterAll(async () => {
    await Promise.all(peers.map((peer) => peer.close().catch(() => undefined)));
    await system?.stop();
  });

  async function join(user: TestUser, channelId: number): Promise<WeriftVoicePeer> {
    const peer = await WeriftVoicePeer.join(voiceUrl, channelId, { cookie: user.token });
    peer.startMicrophone();
    peers.push(peer);
    return peer;
  }

  async function voiceChannel(owner: TestUser, serverId: number, name = 'voice'): Promise<number> {
    return Number((await system.rest('POST', `/servers/${serverId}/channels`, { as: owner, json: { name, type: 1 } })).text);
  }

  async function refused(query: Record<string, string>, token?: string) {
    const error = await VoiceSocket.open(voiceUrl, query, token ? { cookie: token } : {}).then(
      () => new Error('accepted'),
      (reason: unknown) => reason,
    );
    expect(error).toBeInstanceOf(Refused);
    return (error as Refused).status;
  }

  test('joining announces user_joined_vc to the channel audience and lists the user in vc_users; refusals announce nothing', async () => {
    const [owner, member, stranger] = [await system.user(), await system.user(), await system.user()];
    const serverId = await system.server(owner, [member]);
    await system.server(stranger);
    const channelId = await voiceChannel(owner, serverId);
    const text = Number((await system.rest('POST', `/servers/${serverId}/channels`, { as: owner, json: { name: 't', type: 0 } })).text);
    const ownerSocket = await system.connect(owner);
    const strangerSocket = await system.connect(stranger);

    expect(await refused({ channel: String(channelId) })).toBe(401);
    expect(await refused({ channel: 'abc' }, member.token)).toBe(400);
    expect(await refused({ channel: String(text) }, member.token)).toBe(404);
    expect(await refused({ channel: String(channelId) }, stranger.token)).toBe(404);
    expect(await refused({ channel: String(channelId), mute: '2' }, member.token)).toBe(400);

    await join(member, channelId);
    const joined = await ownerSocket.next('user_joined_vc', () => true, 15_000);
    expect(joined).toEqual({ id: member.id, channel_id: channelId, server_id: serverId, joined: expect.stringMatching(ISO), mute: 0, deaf: 0, video: 0 });
    await strangerSocket.expectNothing();
    const channel = await system.rest('GET', `/channels/${channelId}`, { as: owner });
    expect(channel.json.vc_users).toEqual([{ id: member.id, joined: joined.joined, mute: 0, deaf: 0, video: 0 }]);
    const listed = (await system.rest('GET', `/servers/${serverId}/channels`, { as: owner })).json.find((c: { id: number }) => c.id === channelId);
    expect(listed.vc_users).toHaveLength(1);
  }, 60_000);

  test('a voice channel that becomes visible arrives by channel_created with who is in it', async () => {
    const [owner, member, viewer] = [await system.user(), await system.user(), await system.user()];
    const serverId = await system.server(owner, [member, viewer]);
    const channelId = Number((await system.rest('POST', `/servers/${serverId}/channels`, { as: owner, json: { name: 'staff', type: 1, wl_users: [member.id] } })).text);
    const [ownerSocket, viewerSocket] = [await system.connect(owner), await system.connect(viewer)];
    await join(member, channelId);
    const joined = await ownerSocket.next('user_joined_vc', () => true, 15_000);

    expect(await system.rest('PUT', `/channels/${channelId}`, { as: owner, json: { wl_users: [] } })).toMatchObject({ status: 200 });
    expect(await viewerSocket.next('channel_created')).toMatchObject({
      id: channelId,
      type: 1,
      vc_users: [{ id: member.id, joined: joined.joined, mute: 0, deaf: 0, video: 0 }],
    });
  }, 60_000);

  /** An owner watching on the main socket while a member joins a fresh voice channel of their server. */
  async function memberInVoice() {
    const [owner, member] = [await system.user(), await system.user()];
    const serverId = await system.server(owner, [member]);
    const channelId = await voiceChannel(owner, serverId);
    const ownerSocket = await system.connect(owner);
    const peer = await join(member, channelId);
    await ownerSocket.next('user_joined_vc', () => true, 15_000);
    return { owner, member, serverId, channelId, ownerSocket, peer };
  }

  test('a voice kick over REST closes the connection with its reason and announces user_left_vc', async () => {
    const { owner, member, serverId, channelId, ownerSocket, peer } = await memberInVoice();

    expect(await system.rest('DELETE', `/channels/${channelId}/users/${member.id}`, { as: member })).toMatchObject({ status: 403 });
    expect(await system.rest('DELETE', `/channels/${channelId}/users/${owner.id}`, { as: owner })).toMatchObject({ status: 404 });
    expect(await system.rest('DELETE', `/channels/${channelId}/users/${member.id}`, { as: owner })).toMatchObject({ status: 200, text: 'Kicked' });
    expect((await peer.socket.closed).reason).toBe('Kicked by administrator');
    expect(await ownerSocket.next('user_left_vc')).toEqual({ id: member.id, channel_id: channelId, server_id: serverId });
    expect((await system.rest('GET', `/channels/${channelId}`, { as: owner })).json.vc_users).toEqual([]);
  }, 60_000);

  test('kicked from the server or the channel deleted: the voice connection ends too', async () => {
    const [owner, member, other] = [await system.user(), await system.user(), await system.user()];
    const serverId = await system.server(owner, [member, other]);
    const first = await voiceChannel(owner, serverId, 'first');
    const second = await voiceChannel(owner, serverId, 'second');
    const ownerSocket = await system.connect(owner);
    const kicked = await join(member, first);
    await ownerSocket.next('user_joined_vc', (d) => d.id === member.id, 15_000);
    expect((await system.rest('DELETE', `/servers/${serverId}/users/${member.id}`, { as: owner })).status).toBe(200);
    expect((await kicked.socket.closed).reason).toBe('Removed from the server');
    expect(await ownerSocket.next('user_left_vc', (d) => d.id === member.id)).toEqual({ id: member.id, channel_id: first, server_id: serverId });

    const stays = await join(other, second);
    await ownerSocket.next('user_joined_vc', (d) => d.id === other.id, 15_000);
    expect((await system.rest('DELETE', `/channels/${second}`, { as: owner })).status).toBe(200);
    expect((await stays.socket.closed).reason).toBe('Channel was deleted');
    expect(await ownerSocket.next('user_left_vc', (d) => d.id === other.id)).toEqual({ id: other.id, channel_id: second, server_id: serverId });
    expect(await ownerSocket.next('channel_deleted', (d) => d.id === second)).toEqual({ id: second, server_id: serverId });
    await ownerSocket.expectNothing('user_left_vc');
  }, 60_000);

  test('state changes reach the audience with only the changed keys', async () => {
    const { owner, member, serverId, channelId, ownerSocket, peer } = await memberInVoice();
    peer.socket.send('change_state', { mute: 1 });
    expect(await ownerSocket.next('user_changed_vc_state')).toEqual({ id: member.id, channel_id: channelId, server_id: serverId, mute: 1 });
    await eventually(async () => (await system.rest('GET', `/channels/${channelId}`, { as: owner })).json.vc_users[0]?.mute === 1, 'mute stored');
  }, 60_000);

  /** The stored admin mute/deafen item of a member, if any. */
  async function storedAdminState(serverId: number, userId: number) {
    return (await system.db.doc.send(new GetCommand({ TableName: system.db.table, Key: keys.adminVoiceState(serverId, userId) }))).Item;
  }

  function adminState(as: TestUser | undefined, channelId: number, userId: number, query: string) {
    return system.rest('PUT', `/channels/${channelId}/users/${userId}${query}`, as ? { as } : {});
  }

  test('admin mute and deafen over REST apply at once, announced as 2; lifting restores the user\'s own value', async () => {
    const { owner, member, serverId, channelId, ownerSocket, peer } = await memberInVoice();
    const ids = { id: member.id, channel_id: channelId, server_id: serverId };
    peer.socket.send('change_state', { mute: 1 });
    expect(await ownerSocket.next('user_changed_vc_state')).toEqual({ ...ids, mute: 1 });

    expect(await adminState(owner, channelId, member.id, '?mute=1')).toMatchObject({ status: 200, text: 'Changed' });
    expect(await ownerSocket.next('user_changed_vc_state')).toEqual({ ...ids, mute: 2 });
    await eventually(async () => (await system.rest('GET', `/channels/${channelId}`, { as: owner })).json.vc_users[0]?.mute === 2, 'admin mute in vc_users');
    expect(await storedAdminState(serverId, member.id)).toMatchObject({ mute: true, deaf: false });
    expect(await adminState(owner, channelId, member.id, '?mute=1')).toMatchObject({ status: 202, text: 'Nothing to change' });
    expect(await adminState(owner, channelId, member.id, '?mute=0')).toMatchObject({ status: 200, text: 'Changed' });
    expect(await ownerSocket.next('user_changed_vc_state')).toEqual({ ...ids, mute: 1 });

    // Args as a form, like every route's.
    expect(await system.rest('PUT', `/channels/${channelId}/users/${member.id}`, { as: owner, form: { deaf: '1' } })).toMatchObject({ status: 200 });
    expect(await ownerSocket.next('user_changed_vc_state')).toEqual({ ...ids, deaf: 2 });
    expect(await adminState(owner, channelId, member.id, '?deaf=0&mute=0')).toMatchObject({ status: 200, text: 'Changed' });
    expect(await ownerSocket.next('user_changed_vc_state')).toEqual({ ...ids, deaf: 0 });
    await ownerSocket.expectNothing('user_changed_vc_state');
    // Both off: no item.
    expect(await storedAdminState(serverId, member.id)).toBeUndefined();
  }, 60_000);

  test('admin mute/deafen lasts: a rejoin is announced with 2, and media is held back from the first packet until lifted', async () => {
    const { owner, member, serverId, channelId, ownerSocket, peer } = await memberInVoice();
    const ids = { id: member.id, channel_id: channelId, server_id: serverId };
    expect(await adminState(owner, channelId, member.id, '?mute=1&deaf=1')).toMatchObject({ status: 200, text: 'Changed' });
    expect(await ownerSocket.next('user_changed_vc_state')).toEqual({ ...ids, mute: 2, deaf: 2 });
    await peer.close();
    await ownerSocket.next('user_left_vc', (d) => d.id === member.id);

    const listener = await join(owner, channelId);
    await ownerSocket.next('user_joined_vc', (d) => d.id === owner.id, 15_000);
    const again = await join(member, channelId);
    expect(await ownerSocket.next('user_joined_vc', (d) => d.id === member.id, 15_000)).toEqual({ ...ids, joined: expect.stringMatching(ISO), mute: 2, deaf: 2, video: 0 });
    const listed = (await system.rest('GET', `/channels/${channelId}`, { as: owner })).json.vc_users.find((u: { id: number }) => u.id === member.id);
    expect(listed).toMatchObject({ mute: 2, deaf: 2 });

    // Each side has the other's section (and answered it) before the silence counts.
    await listener.offer((sdp) => sdp.includes(`a=user:${member.id}`), 15_000);
    await again.offer((sdp) => sdp.includes(`a=user:${owner.id}`), 15_000);
    await new Promise((resolve) => setTimeout(resolve, 1500));
    expect(listener.count(member.id)).toBe(0);
    expect(again.count(owner.id)).toBe(0);

    expect(await adminState(owner, channelId, member.id, '?mute=0')).toMatchObject({ status: 200 });
    expect(await ownerSocket.next('user_changed_vc_state')).toEqual({ ...ids, mute: 0 });
    await eventually(() => listener.count(member.id) > 15, 'the member is heard once unmuted', 15_000);
    expect(again.count(owner.id)).toBe(0);
    expect(await adminState(owner, channelId, member.id, '?deaf=0')).toMatchObject({ status: 200 });
    expect(await ownerSocket.next('user_changed_vc_state')).toEqual({ ...ids, deaf: 0 });
    await eventually(() => again.count(owner.id) > 15, 'the member hears once undeafened', 15_000);
  }, 90_000);

  test('an admin mute set while the target is still connecting applies once his transport connects', async () => {
    const [owner, member] = [await system.user(), await system.user()];
    const serverId = await system.server(owner, [member]);
    const channelId = await voiceChannel(owner, serverId);
    const ids = { id: member.id, channel_id: channelId, server_id: serverId };
    const ownerSocket = await system.connect(owner);
    const listener = await join(owner, channelId);
    await ownerSocket.next('user_joined_vc', (d) => d.id === owner.id, 15_000);

    let connect!: () => void;
    const admitted = await WeriftVoicePeer.join(voiceUrl, channelId, { cookie: member.token }, {}, new Promise<void>((resolve) => (connect = resolve)));
    peers.push(admitted);
    admitted.startMicrophone();
    // Admitted with no admin state, not connected: REST cannot find his node yet, so only the stored state carries it.
    expect(await adminState(owner, channelId, member.id, '?mute=1')).toMatchObject({ status: 200, text: 'Changed' });
    connect();
    expect(await ownerSocket.next('user_joined_vc', (d) => d.id === member.id, 15_000)).toMatchObject({ ...ids, mute: 0 });
    expect(await ownerSocket.next('user_changed_vc_state', (d) => d.id === member.id)).toEqual({ ...ids, mute: 2 });
    await eventually(async () => (await system.rest('GET', `/channels/${channelId}`, { as: owner })).json.vc_users.find((u: { id: number }) => u.id === member.id)?.mute === 2, 'admin mute in vc_users');

    // From the announcement on, nothing of his reaches the channel.
    await listener.offer((sdp) => sdp.includes(`a=user:${member.id}`), 15_000);
    await new Promise((resolve) => setTimeout(resolve, 500));
    const heard = listener.count(member.id);
    await new Promise((resolve) => setTimeout(resolve, 1500));
    expect(listener.count(member.id)).toBe(heard);
    expect(await adminState(owner, channelId, member.id, '?mute=0')).toMatchObject({ status: 200 });
    await eventually(() => listener.count(member.id) > heard + 15, 'the member is heard once unmuted', 15_000);
  }, 90_000);

  test('admin mute refusals store and announce nothing', async () => {
    const { owner, member, serverId, channelId, ownerSocket } = await memberInVoice();
    const outsider = await system.user();
    const text = Number((await system.rest('POST', `/servers/${serverId}/channels`, { as: owner, json: { name: 't', type: 0 } })).text);
    const [, dmVoice]: number[] = (await system.rest('POST', `/dms/${member.id}`, { as: owner })).json;

    expect(await adminState(undefined, channelId, member.id, '?mute=1')).toMatchObject({ status: 400, text: 'Invalid token' });
    expect(await adminState(member, channelId, member.id, '?mute=1')).toMatchObject({ status: 403, text: 'No permission' });
    expect(await adminState(outsider, channelId, member.id, '?mute=1')).toMatchObject({ status: 404, text: 'Channel does not exist' });
    expect(await adminState(owner, text, member.id, '?mute=1')).toMatchObject({ status: 400, text: 'Not a voice channel' });
    expect(await adminState(owner, dmVoice, member.id, '?mute=1')).toMatchObject({ status: 400, text: 'Not a server voice channel' });
    expect(await adminState(owner, channelId, outsider.id, '?mute=1')).toMatchObject({ status: 404, text: 'User is not a member of the server' });
    expect(await adminState(owner, channelId, member.id, '')).toMatchObject({ status: 400, text: "Expected 'mute' or 'deaf' (0 or 1)" });
    expect(await adminState(owner, channelId, member.id, '?other=1')).toMatchObject({ status: 400, text: "Expected 'mute' or 'deaf' (0 or 1)" });
    expect(await adminState(owner, channelId, member.id, '?mute=2')).toMatchObject({ status: 400, text: 'mute is invalid: 2 is not 0 or 1' });
    expect(await adminState(owner, channelId, member.id, '?deaf=-1')).toMatchObject({ status: 400, text: 'deaf is invalid: -1 is not 0 or 1' });
    expect(await adminState(owner, channelId, member.id, '?mute=yes')).toMatchObject({ status: 400, text: "Couldn't parse 'mute', got: yes" });
    // One bad value refuses the whole request, the good one included.
    expect(await adminState(owner, channelId, member.id, '?mute=1&deaf=2')).toMatchObject({ status: 400, text: 'deaf is invalid: 2 is not 0 or 1' });
    expect(await adminState(owner, channelId, 999999999, '?mute=1')).toMatchObject({ status: 404 });

    expect(await storedAdminState(serverId, member.id)).toBeUndefined();
    expect(await storedAdminState(serverId, outsider.id)).toBeUndefined();
    await ownerSocket.expectNothing('user_changed_vc_state');
  }, 60_000);

  test('a node that cannot be reached: 502, the stored change stands', async () => {
    const [owner, member] = [await system.user(), await system.user()];
    const serverId = await system.server(owner, [member]);
    const channelId = await voiceChannel(owner, serverId);
    // The member's location names a node that is gone (within its 30 s, so REST believes it).
    const location = { pk: `USER#${member.id}`, sk: 'VOICE' };
    await system.db.doc.send(
      new PutCommand({ TableName: system.db.table, Item: { ...location, channelId, serverId, node: `https://127.0.0.1:9#sha256=${'0'.repeat(64)}`, ttl: epochSeconds() + 30 } }),
    );
    const logged: string[] = [];
    const consoleError = jest.spyOn(console, 'error').mockImplementation((line: string) => void logged.push(line));
    try {
      expect(await adminState(owner, channelId, member.id, '?mute=1')).toMatchObject({ status: 502, text: 'Voice node is unreachable' });
    } finally {
      consoleError.mockRestore();
    }
    expect(logged).toEqual([expect.stringContaining('"message":"voice control"')]);
    expect(await storedAdminState(serverId, member.id)).toMatchObject({ mute: true, deaf: false });
    await system.db.doc.send(new DeleteCommand({ TableName: system.db.table, Key: location }));
    // Once he is gone from voice, repeating it is a plain no-op.
    expect(await adminState(owner, channelId, member.id, '?mute=1')).toMatchObject({ status: 202 });
  }, 30_000);

  test('users of a node that stopped beating are announced as gone within 30 s', async () => {
    const [owner, ghost] = [await system.user(), await system.user()];
    const serverId = await system.server(owner, [ghost]);
    const channelId = await voiceChannel(owner, serverId);
    const ownerSocket = await system.connect(owner);
    // A state written by a node that died right after: its heartbeat expired a second ago.
    await system.db.doc.send(
      new PutCommand({
        TableName: system.db.table,
        Item: {
          pk: `CHANNEL#${channelId}`,
          sk: `VOICE#${padId(ghost.id)}`,
          gsi1pk: 'VOICESTATES',
          gsi1sk: String(epochSeconds() - 1).padStart(12, '0'),
          ttl: epochSeconds() - 1,
          userId: ghost.id,
          channelId,
          serverId,
          joined: new Date().toISOString(),
          mute: 0,
          deaf: 0,
          video: 0,
          node: 'http://127.0.0.1:9',
        },
      }),
    );
    expect((await system.rest('GET', `/channels/${channelId}`, { as: owner })).json.vc_users).toEqual([]);
    expect(await ownerSocket.next('user_left_vc', () => true, 30_000)).toEqual({ id: ghost.id, channel_id: channelId, server_id: serverId });
  }, 60_000);
});
