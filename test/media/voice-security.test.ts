/**
 * Voice follows permissions and is bounded (issue 18, items 4 and 7; docs/security.md): every change that
 * takes a voice channel away from a member ends his connection there, through the control path, with
 * `user_left_vc` for those who still see the channel; and a voice socket that floods frames gets the
 * documented error, then is closed, while its state changes reach the main socket as a bounded few events.
 * One runtime and one owner/member pair for every case; each case has its own server.
 */
import { frameLimitText } from '../../lambdas/domain/rate-limits';
import { type SocketClient, TestSystem, type TestUser } from '../support/system';
import { describeMedia } from './support/mediasoup-check';
import { WeriftVoicePeer } from './support/werift-peer';

/** perms1 with JOIN_VC denied (pair 10 at index 7) and everything else unset. */
const DENY_JOIN_VC = 2 * 4 ** 7;
const NO_ACCESS = 'No access to the channel';

describeMedia('voice access follows permissions', {}, () => {
  let system: TestSystem;
  let voiceUrl: string;
  let owner: TestUser;
  let member: TestUser;
  let ownerSocket: SocketClient;
  const peers: WeriftVoicePeer[] = [];

  beforeAll(async () => {
    // The voice frame budget at its default (60 frames per 60 s); the other limits generous as usual.
    system = await TestSystem.start({ voice: true, env: { RATE_LIMIT_VOICE_SOCKET: '' } });
    if (!('url' in system.runtime.voice)) throw new Error(`voice is off: ${system.runtime.voice.disabled}`);
    voiceUrl = system.runtime.voice.url;
    [owner, member] = [await system.user('owner'), await system.user('member')];
    ownerSocket = await system.connect(owner);
  }, 60_000);
  afterAll(async () => {
    await Promise.all(peers.map((peer) => peer.close().catch(() => undefined)));
    await system?.stop();
  });

  async function json(method: string, path: string, body?: unknown) {
    const response = await system.rest(method, path, { as: owner, json: body });
    if (response.status !== 200) throw new Error(`${method} ${path}: ${response.status} ${response.text}`);
    return response;
  }

  /** A fresh server with the member, roles `vip` and `staff` (not assigned) and a voice channel made by `channel`. */
  async function setup(channel: (ids: { vip: number; staff: number; defaultRole: number }) => Record<string, unknown> = () => ({})) {
    const serverId = await system.server(owner, [member]);
    const [defaultRole] = (await json('GET', `/servers/${serverId}/roles`)).json;
    const added = [{ id: -1, name: 'vip', color: '#00aa00', perms1: 0 }, { id: -2, name: 'staff', color: '#0000aa', perms1: 0 }];
    await json('PUT', `/servers/${serverId}/roles`, [...added, defaultRole]);
    const roles = (await json('GET', `/servers/${serverId}/roles`)).json as Array<{ id: number; name: string }>;
    const idOf = (name: string) => roles.find((role) => role.name === name)!.id;
    const ids = { vip: idOf('vip'), staff: idOf('staff'), defaultRole: defaultRole.id as number };
    const channelId = Number((await json('POST', `/servers/${serverId}/channels`, { name: 'voice', type: 1, ...channel(ids) })).text);
    return { serverId, channelId, roles, ...ids };
  }

  async function join(user: TestUser, channelId: number): Promise<WeriftVoicePeer> {
    const peer = await WeriftVoicePeer.join(voiceUrl, channelId, { cookie: user.token });
    peers.push(peer);
    await ownerSocket.next('user_joined_vc', (d) => d.id === user.id && d.channel_id === channelId, 15_000);
    return peer;
  }

  /** The member's connection was ended with `reason`, and the owner was told he left. */
  async function expectEnded(peer: WeriftVoicePeer, channelId: number, serverId: number, reason: string) {
    expect((await peer.socket.closed).reason).toBe(reason);
    expect(await ownerSocket.next('user_left_vc', (d) => d.id === member.id && d.channel_id === channelId)).toEqual({ id: member.id, channel_id: channelId, server_id: serverId });
    const listed = await system.rest('GET', `/channels/${channelId}`, { as: owner });
    if (listed.status === 200) expect(listed.json.vc_users).toEqual([]);
  }

  /** Still connected: the socket answers a frame sent after the change was answered (a close would come first). */
  async function expectStillConnected(peer: WeriftVoicePeer) {
    const errors = peer.socket.count('error');
    peer.socket.send('dance', {});
    expect(await peer.socket.waitFor('error', () => true, errors)).toBe("unknown message 'dance'");
  }

  test('role removed: losing the role that whitelists the channel ends voice there', async () => {
    const { serverId, channelId, vip } = await setup(({ vip }) => ({ wl_roles: [vip] }));
    await json('POST', `/servers/${serverId}/users/${member.id}/roles/${vip}`);
    const peer = await join(member, channelId);
    expect((await json('DELETE', `/servers/${serverId}/users/${member.id}/roles/${vip}`)).text).toBe('Removed');
    await expectEnded(peer, channelId, serverId, NO_ACCESS);
  }, 60_000);

  test('role deleted: the whitelisted role going ends voice; the owner in another channel of the server stays', async () => {
    // Deleting a role takes it off whitelists: with `staff` still listed the channel stays private.
    const { serverId, channelId, vip, roles } = await setup(({ vip, staff }) => ({ wl_roles: [vip, staff] }));
    const other = Number((await json('POST', `/servers/${serverId}/channels`, { name: 'open', type: 1 })).text);
    await json('POST', `/servers/${serverId}/users/${member.id}/roles/${vip}`);
    const ownerPeer = await join(owner, other);
    const peer = await join(member, channelId);
    await json('PUT', `/servers/${serverId}/roles`, roles.filter((role) => role.id !== vip));
    await expectEnded(peer, channelId, serverId, NO_ACCESS);
    await expectStillConnected(ownerPeer);
    await ownerPeer.close();
    await ownerSocket.next('user_left_vc', (d) => d.id === owner.id && d.channel_id === other);
  }, 60_000);

  test("role's override changed: an override that keeps JOIN_VC leaves voice alone, one that denies it ends it", async () => {
    const { serverId, channelId, defaultRole } = await setup();
    const peer = await join(member, channelId);
    await json('POST', `/channels/${channelId}/roles/${defaultRole}`, { perms1: 4 ** 7 });
    await expectStillConnected(peer);
    await json('POST', `/channels/${channelId}/roles/${defaultRole}`, { perms1: DENY_JOIN_VC });
    await expectEnded(peer, channelId, serverId, NO_ACCESS);
  }, 60_000);

  test('whitelist changed: taken off the channel whitelist ends voice', async () => {
    const { serverId, channelId } = await setup(() => ({ wl_users: [member.id, owner.id] }));
    const peer = await join(member, channelId);
    await json('PUT', `/channels/${channelId}`, { wl_users: [owner.id] });
    await expectEnded(peer, channelId, serverId, NO_ACCESS);
  }, 60_000);

  test('kick: removed from the server ends voice', async () => {
    const { serverId, channelId } = await setup();
    const peer = await join(member, channelId);
    await json('DELETE', `/servers/${serverId}/users/${member.id}`);
    await expectEnded(peer, channelId, serverId, 'Removed from the server');
  }, 60_000);

  test('ban: banned from the server ends voice', async () => {
    const { serverId, channelId } = await setup();
    const peer = await join(member, channelId);
    expect((await json('POST', `/servers/${serverId}/bans/${member.id}?expires=never`)).text).toBe('Banned');
    await expectEnded(peer, channelId, serverId, 'Removed from the server');
  }, 60_000);

  test('ownership transferred: the former owner leaves a channel only the owner could see', async () => {
    const { serverId, channelId } = await setup(() => ({ wl_users: [member.id] }));
    const peer = await join(owner, channelId);
    const transfer = await system.rest('PUT', `/servers/${serverId}`, { as: owner, form: { owner_id: String(member.id) } });
    expect(transfer).toMatchObject({ status: 200, text: 'Changed' });
    expect((await peer.socket.closed).reason).toBe(NO_ACCESS);
    expect((await system.rest('GET', `/channels/${channelId}`, { as: member })).json.vc_users).toEqual([]);
  }, 60_000);

  test('channel deleted: voice ends, user_left_vc comes before channel_deleted', async () => {
    const { serverId, channelId } = await setup();
    const peer = await join(member, channelId);
    await json('DELETE', `/channels/${channelId}`);
    await expectEnded(peer, channelId, serverId, 'Channel was deleted');
    expect(await ownerSocket.next('channel_deleted', (d) => d.id === channelId)).toEqual({ id: channelId, server_id: serverId });
  }, 60_000);

  test('server deleted: voice ends in every channel of it, announced before server_deleted', async () => {
    const { serverId, channelId } = await setup();
    const peer = await join(member, channelId);
    await json('DELETE', `/servers/${serverId}`);
    await expectEnded(peer, channelId, serverId, 'Server was deleted');
    expect(await ownerSocket.next('server_deleted', (d) => d.id === serverId)).toEqual({ id: serverId });
  }, 60_000);

  test('access lost while the connection is being set up: it ends as the transport connects, announced to nobody', async () => {
    const { serverId, channelId, vip } = await setup(({ vip }) => ({ wl_roles: [vip] }));
    await json('POST', `/servers/${serverId}/users/${member.id}/roles/${vip}`);
    let connect!: () => void;
    const peer = await WeriftVoicePeer.join(voiceUrl, channelId, { cookie: member.token }, {}, new Promise<void>((resolve) => (connect = resolve)));
    peers.push(peer);
    // Admitted, not connected: he has no voice state yet, so the removal finds nobody to end.
    await json('DELETE', `/servers/${serverId}/users/${member.id}/roles/${vip}`);
    connect();
    expect((await peer.socket.closed).reason).toBe(NO_ACCESS);
    // The refusal came before any announcement could: none for him, and nothing stored.
    const about = ownerSocket.events.filter((e) => /^user_(joined|left)_vc$/.test(e.name) && (e.data as { id: number }).id === member.id);
    expect(about).toEqual([]);
    expect((await system.rest('GET', `/channels/${channelId}`, { as: owner })).json.vc_users).toEqual([]);
  }, 60_000);

  test('1,000 change_state frames: one error at the 61st, closed at the 121st, a bounded few user_changed_vc_state', async () => {
    const { serverId, channelId } = await setup();
    const peer = await join(member, channelId);
    for (let i = 1; i <= 1000; i++) peer.socket.send('change_state', { mute: i % 2 });
    expect(await peer.socket.closed).toEqual({ code: 1008, reason: 'Too many frames' });
    expect(peer.socket.frames.filter((f) => f.name === 'error').map((f) => f.data)).toEqual([frameLimitText({ requests: 60, windowSeconds: 60 })]);
    // His departure queues behind his state changes: once it is here, every change event is too.
    await ownerSocket.next('user_left_vc', (d) => d.id === member.id && d.channel_id === channelId);
    const changes = ownerSocket.events.filter((e) => e.name === 'user_changed_vc_state');
    ownerSocket.events.length = 0;
    // 60 frames were handled (more if a window boundary fell inside the burst): merged while the first
    // write is in flight, they make one event and one table write, then one more.
    expect(changes.length).toBeGreaterThanOrEqual(1);
    expect(changes.length).toBeLessThanOrEqual(4);
    for (const change of changes) expect(change.data).toEqual({ id: member.id, channel_id: channelId, server_id: serverId, mute: expect.any(Number) });
  }, 60_000);
});
