import type { Socket } from 'socket.io-client';
import { connectionsOfUser, markConnectionOpen, registerConnection, subscribe } from '../lambdas/domain/connections';
import { voiceChanged, voiceJoined, voiceLeft } from '../lambdas/domain/voice';
import { type SocketClient, TestSystem, type TestUser } from './support/system';
import { type WorkspaceClient, workspaceClient as connectWorkspace } from './support/workspace-client';

/*
 * The workspace socket as a protocol adapter (docs/workspace-protocol.md, "Mapping"): domain changes made over
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
