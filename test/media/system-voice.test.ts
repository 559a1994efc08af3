/**
 * Voice through the whole local runtime: the media node admits with the DynamoDB-backed rules, its
 * presence reaches main sockets through the shared fan-out, REST lists `vc_users` and ends voice
 * connections through the signed control path (voice kick, server kick, channel deletion), and the
 * sweeper announces users whose node stopped beating.
 */
import { PutCommand } from '@aws-sdk/lib-dynamodb';
import { padId } from '../../lambdas/domain/table';
import { epochSeconds } from '../../lambdas/domain/time';
import { TestSystem, type TestUser } from '../support/system';
import { eventually } from './support/media-node-fixture';
import { describeMedia } from './support/mediasoup-check';
import { Refused, VoiceSocket } from './support/voice-socket';
import { WeriftVoicePeer } from './support/werift-peer';

const ISO = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;

describeMedia('voice in the whole system', {}, () => {
  let system: TestSystem;
  let voiceUrl: string;
  const peers: WeriftVoicePeer[] = [];

  beforeAll(async () => {
    system = await TestSystem.start({ voice: true });
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
