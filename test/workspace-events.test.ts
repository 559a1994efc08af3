import type { Socket } from 'socket.io-client';
import { connectionsOfUser, markConnectionOpen, registerConnection, subscribe } from '../lambdas/domain/connections';
import { voiceChanged, voiceJoined, voiceLeft } from '../lambdas/domain/voice';
import { type SocketClient, TestSystem, type TestUser } from './support/system';
import { type WorkspaceClient, workspaceClient as connectWorkspace } from './support/workspace-client';

/*
 * The workspace socket as a protocol adapter (docs/protocol.md, the workspace protocol, "Mapping"): domain changes made over
 * REST reach socket.io clients of the workspace as seed-003 events, with the audience the fan-out resolved
 * (the ZavodChat main socket gets its own counterpart of the same change), and a workspace connection counts
 * for the shared presence. The real socket.io-client, the local runtime and DynamoDB Local.
 */

let system: TestSystem;
let owner: TestUser;
let member: TestUser;
let outsider: TestUser;
let serverId: number;
let otherServerId: number;
const clients: Socket[] = [];

const workspaceClient = (user: TestUser, workspaceId: number): Promise<WorkspaceClient> => connectWorkspace(system, user, workspaceId, clients);

/** The status `GET /servers/{sid}/users` shows for a user. */
async function listedStatus(userId: number): Promise<number> {
  const listed = await system.rest('GET', `/servers/${serverId}/users?start_id=0&count=50&order=1`, { as: owner });
  expect(listed.status).toBe(200);
  return (listed.json as Array<{ id: number; status: number }>).find((u) => u.id === userId)!.status;
}

const createChannel = async (sid: number, json: Record<string, unknown>) => {
  const created = await system.rest('POST', `/servers/${sid}/channels`, { as: owner, json });
  expect(created.status).toBe(200);
  return Number(created.text);
};

let main: SocketClient;
let memberClient: WorkspaceClient;
let outsiderClient: WorkspaceClient;

beforeAll(async () => {
  system = await TestSystem.start({ workspace: true });
  [owner, member, outsider] = [await system.user('Owner'), await system.user('Member'), await system.user('Outsider')];
  serverId = await system.server(owner, [member]);
  otherServerId = await system.server(owner, [outsider], 'other server');
  main = await system.connect(owner);
  memberClient = await workspaceClient(member, serverId);
  outsiderClient = await workspaceClient(outsider, otherServerId);
  await main.barrier();
});

afterAll(async () => {
  for (const client of clients.splice(0)) client.disconnect();
  await system?.stop();
});

test('a public channel created over REST: channel-created to the workspace member, channel_created to the main socket, nothing to another workspace', async () => {
  const channelId = await createChannel(serverId, { name: 'general2', type: 0 });
  expect((await memberClient.next('channel-created')).data).toEqual({ channelId: String(channelId) });
  expect(await main.next('channel_created', (data) => data.id === channelId)).toMatchObject({ id: channelId, server_id: serverId });
  // Marker: a change of the outsider's own workspace; whatever the first change caused reached him before it.
  const marker = await createChannel(otherServerId, { name: 'marker', type: 0 });
  const { data, before } = await outsiderClient.next('channel-created');
  expect(data).toEqual({ channelId: String(marker) });
  expect(before).toEqual([]);
});

test('a private channel the member cannot see is not announced to him', async () => {
  const hidden = await createChannel(serverId, { name: 'secret', type: 0, wl_users: [owner.id] });
  expect(await main.next('channel_created', (data) => data.id === hidden)).toMatchObject({ id: hidden });
  const marker = await createChannel(serverId, { name: 'visible', type: 0 });
  const { data, before } = await memberClient.next('channel-created');
  expect(data).toEqual({ channelId: String(marker) });
  expect(before).toEqual([]);
});

test('a user joining through an invite: user-joined; his kick: user-leaved-workspace', async () => {
  const newcomer = await system.user('Newcomer');
  const invite = await system.rest('POST', `/servers/${serverId}/invites?expires=never`, { as: owner });
  expect((await system.rest('POST', `/server_invites/${invite.text}`, { as: newcomer })).status).toBe(200);
  expect((await memberClient.next('user-joined')).data).toEqual({ user: { id: String(newcomer.id), name: 'Newcomer', onlineStatus: 'offline' } });
  expect((await system.rest('DELETE', `/servers/${serverId}/users/${newcomer.id}`, { as: owner })).status).toBe(200);
  expect((await memberClient.next('user-leaved-workspace')).data).toEqual({ userId: String(newcomer.id) });
});

test('a status change over REST: online-status-updated', async () => {
  expect((await system.rest('PUT', '/user_status?status=2', { as: owner })).status).toBe(200);
  expect((await memberClient.next('online-status-updated')).data).toEqual({ userId: String(owner.id), onlineStatus: 'idle' });
  expect((await system.rest('PUT', '/user_status?status=3', { as: owner })).status).toBe(200);
  expect((await memberClient.next('online-status-updated')).data).toEqual({ userId: String(owner.id), onlineStatus: 'online' });
});

test('the workspace user is online while his socket is open, offline after it closed (presence shared with the main socket)', async () => {
  const late = await system.user('Late');
  const invite = await system.rest('POST', `/servers/${serverId}/invites?expires=never`, { as: owner });
  expect((await system.rest('POST', `/server_invites/${invite.text}`, { as: late })).status).toBe(200);
  expect(await listedStatus(late.id)).toBe(0);
  const client = await workspaceClient(late, serverId);
  expect(await listedStatus(late.id)).not.toBe(0);
  // The main socket's observers learn it too.
  expect(await main.next('user_changed', (data) => data.id === late.id)).toEqual({ id: late.id, status: 1 });
  client.socket.disconnect();
  // The main socket hears the departure: the user is offline once his only connection (a workspace one) closed.
  expect(await main.next('user_changed', (data) => data.id === late.id)).toEqual({ id: late.id, status: 0 });
  expect(await listedStatus(late.id)).toBe(0);
});

test('a logout closes the workspace connections of the ended session, through the workspace API', async () => {
  const leaver = await system.user('Leaver');
  const invite = await system.rest('POST', `/servers/${serverId}/invites?expires=never`, { as: owner });
  expect((await system.rest('POST', `/server_invites/${invite.text}`, { as: leaver })).status).toBe(200);
  const client = await workspaceClient(leaver, serverId);
  const closed = new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('the workspace socket was not closed within 5 s')), 5000);
    client.socket.once('disconnect', (reason) => {
      clearTimeout(timer);
      resolve(reason);
    });
  });
  expect(await system.rest('DELETE', '/auth', { as: leaver })).toMatchObject({ status: 200 });
  // Closed by the server (not by this client).
  expect(await closed).toBe('transport close');
  expect(await main.next('user_changed', (data) => data.id === leaver.id && data.status === 0)).toEqual({ id: leaver.id, status: 0 });
});

test('voice: joining, muting and leaving a voice channel (as the media node reports them) give user-selected-channel, media-state-updated, user-unselected-channel', async () => {
  const channelId = await createChannel(serverId, { name: 'voice', type: 1 });
  await memberClient.next('channel-created');
  const participant = { userId: owner.id, channelId, serverId };
  const context = system.runtime.context;
  await voiceJoined(context, 'http://node.test', { ...participant, joined: new Date().toISOString(), mute: 0, deaf: 0, video: 0 });
  const whole = { microphone: true, speakers: true, camera: false, screen: false, speaking: false };
  expect((await memberClient.next('user-selected-channel')).data).toEqual({ userId: String(owner.id), channelId: String(channelId), userMediaState: whole });
  await voiceChanged(context, { ...participant, mute: 1 });
  // The whole media state, though only `mute` changed.
  expect((await memberClient.next('media-state-updated')).data).toEqual({ userId: String(owner.id), userMediaState: { ...whole, microphone: false } });
  await voiceChanged(context, { ...participant, video: 1 });
  expect((await memberClient.next('media-state-updated')).data).toEqual({ userId: String(owner.id), userMediaState: { ...whole, microphone: false, screen: true } });
  await voiceLeft(context, participant);
  expect((await memberClient.next('user-unselected-channel')).data).toEqual({ userId: String(owner.id), channelId: String(channelId) });
});

test('a profile change over REST: user-updated with the whole user', async () => {
  expect((await system.rest('PUT', '/register', { as: owner, form: { displayname: 'Boss' } })).status).toBe(200);
  expect(await main.next('user_changed', (data) => data.id === owner.id && data.name === 'Boss')).toEqual({ id: owner.id, name: 'Boss' });
  expect((await memberClient.next('user-updated')).data).toEqual({ user: { id: String(owner.id), name: 'Boss', onlineStatus: 'online' } });
});

test('a workspace connection whose post answers 410 from the workspace API is pruned', async () => {
  const ghost = await system.user('Ghost');
  const invite = await system.rest('POST', `/servers/${serverId}/invites?expires=never`, { as: owner });
  expect((await system.rest('POST', `/server_invites/${invite.text}`, { as: ghost })).status).toBe(200);
  // A workspace connection whose `$disconnect` was lost: stored and known open, but no gateway holds it.
  const db = system.runtime.context.db;
  const lost = { userId: ghost.id, connectionId: 'lost-workspace-connection', protocol: 'workspace', scope: String(serverId) };
  await registerConnection(db, lost, Date.now() - 1000);
  await subscribe(db, [lost], [serverId]);
  expect(await markConnectionOpen(db, lost, Date.now() - 1000)).toBe(true);
  expect((await connectionsOfUser(db, ghost.id, Date.now(), true)).map((c) => c.connectionId)).toEqual([lost.connectionId]);
  // The REST call answers once its event was delivered and the 410s pruned.
  await createChannel(serverId, { name: 'prune', type: 0 });
  await memberClient.next('channel-created');
  expect(await connectionsOfUser(db, ghost.id, Date.now(), true)).toEqual([]);
});

/** A new user, member of `servers`, through invites of the owner. */
async function memberOf(name: string, servers: number[]): Promise<TestUser> {
  const user = await system.user(name);
  for (const sid of servers) {
    const invite = await system.rest('POST', `/servers/${sid}/invites?expires=never`, { as: owner });
    expect((await system.rest('POST', `/server_invites/${invite.text}`, { as: user })).status).toBe(200);
  }
  return user;
}

/** The next `name` event about `userId` matching `data` (others are consumed and skipped). */
async function nextAbout(client: WorkspaceClient, name: string, userId: number, data: Record<string, unknown> = {}): Promise<unknown> {
  for (;;) {
    const next = (await client.next(name)).data as Record<string, unknown>;
    if (next.userId === String(userId) && Object.entries(data).every(([key, value]) => next[key] === value)) return next;
  }
}

/** Resolves with the disconnect reason once the server closed the client's socket. */
function closedByServer(client: WorkspaceClient): Promise<string> {
  return new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('the workspace socket was not closed within 5 s')), 5000);
    client.socket.once('disconnect', (reason) => {
      clearTimeout(timer);
      resolve(reason);
    });
  });
}

test('audience: a member who blocked the actor gets nothing; the actor\'s second device gets what his main socket gets', async () => {
  const blocker = await memberOf('Blocker', [serverId]);
  const blockerClient = await workspaceClient(blocker, serverId);
  expect((await system.rest('POST', `/blocked_users/${owner.id}`, { as: blocker })).status).toBe(200);
  // (Opening them sets the owner's status to online, the default `onlineStatus`, if it was not.)
  const [ownerPhone, ownerLaptop] = [await workspaceClient(owner, serverId), await workspaceClient(owner, serverId)];
  await main.barrier();
  expect((await system.rest('PUT', '/user_status?status=2', { as: owner })).status).toBe(200);
  const idle = { userId: String(owner.id), onlineStatus: 'idle' };
  expect(await nextAbout(memberClient, 'online-status-updated', owner.id, idle)).toEqual(idle);
  // The actor's own devices: his main socket (user_changed, the ZavodChat counterpart) and both workspace ones.
  expect(await main.next('user_changed', (data) => data.id === owner.id && data.status === 2)).toEqual({ id: owner.id, status: 2 });
  expect(await nextAbout(ownerPhone, 'online-status-updated', owner.id, idle)).toEqual(idle);
  expect(await nextAbout(ownerLaptop, 'online-status-updated', owner.id, idle)).toEqual(idle);
  // Marker: a change of the workspace after the status change; nothing of the blocked actor came before it.
  const marker = await createChannel(serverId, { name: 'after-block', type: 0 });
  const { data, before } = await blockerClient.next('channel-created');
  expect(data).toEqual({ channelId: String(marker) });
  expect(before).toEqual([]);
  expect((await system.rest('PUT', '/user_status?status=1', { as: owner })).status).toBe(200);
  await nextAbout(memberClient, 'online-status-updated', owner.id, { onlineStatus: 'online' });
});

test('a ban: user-leaved-workspace to the workspace and to the banned user, user_banned on the main socket, then his connections of that workspace are closed (his others stay)', async () => {
  const victim = await memberOf('Victim', [serverId, otherServerId]);
  const victimClient = await workspaceClient(victim, serverId);
  const victimElsewhere = await workspaceClient(victim, otherServerId);
  const closed = closedByServer(victimClient);
  const banned = await system.rest('POST', `/servers/${serverId}/bans/${victim.id}?expires=never`, { as: owner });
  expect(banned).toMatchObject({ status: 200, text: 'Banned' });
  const left = { userId: String(victim.id) };
  expect((await memberClient.next('user-leaved-workspace')).data).toEqual(left);
  expect(await main.next('user_banned', (data) => data.user?.id === victim.id)).toMatchObject({ server_id: serverId, user: { id: victim.id } });
  expect((await victimClient.next('user-leaved-workspace')).data).toEqual(left);
  expect(await closed).toBe('transport close');
  // His connection of the other workspace is untouched and still served.
  const marker = await createChannel(otherServerId, { name: 'after-ban', type: 0 });
  expect((await victimElsewhere.next('channel-created')).data).toEqual({ channelId: String(marker) });
  expect(victimElsewhere.socket.connected).toBe(true);
});

test('leaving (a self-kick): user-leaved-workspace, then the leaver\'s connection of that workspace is closed', async () => {
  const leaver = await memberOf('Quitter', [serverId]);
  const leaverClient = await workspaceClient(leaver, serverId);
  const closed = closedByServer(leaverClient);
  expect((await system.rest('DELETE', `/servers/${serverId}/users/${leaver.id}`, { as: leaver })).status).toBe(200);
  expect((await memberClient.next('user-leaved-workspace')).data).toEqual({ userId: String(leaver.id) });
  expect((await leaverClient.next('user-leaved-workspace')).data).toEqual({ userId: String(leaver.id) });
  expect(await closed).toBe('transport close');
});

test('a user\'s status and profile reach workspace connections of his own workspaces only: not a friend\'s in another workspace, nor a co-member\'s of another workspace', async () => {
  const subject = await memberOf('Subject', [serverId]);
  const friend = await memberOf('Friend', [otherServerId]);
  const both = await memberOf('Both', [serverId, otherServerId]);
  expect((await system.rest('POST', `/friends/${friend.id}`, { as: subject })).status).toBe(200);
  expect((await system.rest('POST', `/friends/${subject.id}`, { as: friend })).status).toBe(200);
  const friendMain = await system.connect(friend);
  const friendClient = await workspaceClient(friend, otherServerId);
  const bothElsewhere = await workspaceClient(both, otherServerId);
  const bothHere = await workspaceClient(both, serverId);
  await system.connect(subject);
  expect((await system.rest('PUT', '/user_status?status=2', { as: subject })).status).toBe(200);
  expect((await system.rest('PUT', '/register', { as: subject, form: { displayname: 'Renamed' } })).status).toBe(200);
  // The ZavodChat protocol tells the friend (friendship observers), and the shared workspace tells its members.
  expect(await friendMain.next('user_changed', (data) => data.id === subject.id && data.status === 2)).toEqual({ id: subject.id, status: 2 });
  expect(await nextAbout(bothHere, 'online-status-updated', subject.id, { onlineStatus: 'idle' })).toEqual({ userId: String(subject.id), onlineStatus: 'idle' });
  expect((await bothHere.next('user-updated')).data).toMatchObject({ user: { id: String(subject.id), name: 'Renamed' } });
  // Marker: a change of the other workspace, after all of the above; nothing of the subject came before it.
  const marker = await createChannel(otherServerId, { name: 'after-status', type: 0 });
  for (const client of [friendClient, bothElsewhere]) {
    const { data, before } = await client.next('channel-created');
    expect(data).toEqual({ channelId: String(marker) });
    expect(before.filter((e) => JSON.stringify(e.data).includes(`"${subject.id}"`))).toEqual([]);
  }
});

test('deleting a server closes the workspace connections bound to it; those bound to another server stay and are served', async () => {
  const doomed = await system.server(owner, [], 'doomed');
  const survivor = await memberOf('Survivor', [doomed, otherServerId]);
  const inDoomed = await workspaceClient(survivor, doomed);
  const ownerInDoomed = await workspaceClient(owner, doomed);
  const elsewhere = await workspaceClient(survivor, otherServerId);
  const closed = [closedByServer(inDoomed), closedByServer(ownerInDoomed)];
  expect(await system.rest('DELETE', `/servers/${doomed}`, { as: owner })).toMatchObject({ status: 200, text: 'Deleted' });
  expect(await Promise.all(closed)).toEqual(['transport close', 'transport close']);
  const marker = await createChannel(otherServerId, { name: 'after-delete', type: 0 });
  expect((await elsewhere.next('channel-created')).data).toEqual({ channelId: String(marker) });
  expect(elsewhere.socket.connected).toBe(true);
});
