import { randomUUID } from 'node:crypto';
import { ackPacket, connectErrorPacket, eventPacket, openPacket, parseFrame, validateHandshake } from '../../lambdas/protocols/workspace/engineio';
import { onlineStatusOf, renderWorkspaceEvent, statusOfOnlineStatus, userMediaState, workspaceEvents, workspaceUser } from '../../lambdas/protocols/workspace/mapping';
import { transactionOf } from '../../lambdas/protocols/workspace/auth';

/** Seed 003's data model from ours (docs/protocol.md, the workspace protocol, "Mapping"): pure functions. */
describe('workspace mapping', () => {
  test('status <-> onlineStatus: do not disturb shows online, invisible and offline show offline', () => {
    expect([0, 1, 2, 3].map(onlineStatusOf)).toEqual(['offline', 'online', 'idle', 'online']);
    expect(onlineStatusOf(7)).toBe('offline');
    expect(['online', 'idle', 'offline'].map(statusOfOnlineStatus)).toEqual([1, 2, 0]);
    for (const bad of ['busy', 'ONLINE', '', 1, null, undefined, {}]) expect(statusOfOnlineStatus(bad)).toBeUndefined();
  });

  test('UserSchema: string id, name, avatar only when set, onlineStatus', () => {
    expect(workspaceUser({ id: 12, name: 'Ann', status: 3 })).toEqual({ id: '12', name: 'Ann', onlineStatus: 'online' });
    expect(workspaceUser({ id: 5, name: 'Bob', status: 2, avatar: 'a.png' })).toEqual({ id: '5', name: 'Bob', avatar: 'a.png', onlineStatus: 'idle' });
    expect(Object.keys(workspaceUser({ id: 1, name: 'x', status: 0 }))).not.toContain('avatar');
  });

  test('UserMediaStateSchema: microphone = not muted, speakers = not deafened, screen = video, camera false', () => {
    expect(userMediaState({ mute: 0, deaf: 0, video: 0 })).toEqual({ microphone: true, speakers: true, camera: false, screen: false, speaking: false });
    expect(userMediaState({ mute: 1, deaf: 1, video: 1 }, true)).toEqual({ microphone: false, speakers: false, camera: false, screen: true, speaking: true });
  });

  test('every server event renders with string ids and the seed payload', () => {
    const state = { mute: 1, deaf: 0, video: 0 };
    const media = { microphone: false, speakers: true, camera: false, screen: false, speaking: false };
    expect(workspaceEvents.channelCreated(7)).toEqual({ name: 'channel-created', data: { channelId: '7' } });
    expect(workspaceEvents.channelDeleted(7)).toEqual({ name: 'channel-deleted', data: { channelId: '7' } });
    expect(workspaceEvents.userJoined({ id: 3, name: 'C', status: 1 })).toEqual({ name: 'user-joined', data: { user: { id: '3', name: 'C', onlineStatus: 'online' } } });
    expect(workspaceEvents.userLeavedWorkspace(3)).toEqual({ name: 'user-leaved-workspace', data: { userId: '3' } });
    expect(workspaceEvents.userUpdated({ id: 3, name: 'D', status: 0, avatar: 'x' })).toEqual({
      name: 'user-updated',
      data: { user: { id: '3', name: 'D', avatar: 'x', onlineStatus: 'offline' } },
    });
    expect(workspaceEvents.onlineStatusUpdated(3, 2)).toEqual({ name: 'online-status-updated', data: { userId: '3', onlineStatus: 'idle' } });
    expect(workspaceEvents.userSelectedChannel(3, 9, state)).toEqual({ name: 'user-selected-channel', data: { userId: '3', channelId: '9', userMediaState: media } });
    expect(workspaceEvents.userUnselectedChannel(3, 9)).toEqual({ name: 'user-unselected-channel', data: { userId: '3', channelId: '9' } });
    expect(workspaceEvents.mediaStateUpdated(3, state, true)).toEqual({ name: 'media-state-updated', data: { userId: '3', userMediaState: { ...media, speaking: true } } });
    expect(workspaceEvents.userChangedDevice()).toEqual({ name: 'user-changed-device', data: null });
    expect(renderWorkspaceEvent(workspaceEvents.userChangedDevice())).toBe('42["user-changed-device",null]');
    expect(renderWorkspaceEvent(workspaceEvents.channelCreated(7))).toBe('42["channel-created",{"channelId":"7"}]');
  });
});

describe('Engine.IO / Socket.IO framing', () => {
  test('handshake validation', () => {
    expect(validateHandshake({ EIO: '4', transport: 'websocket' })).toEqual({ ok: true });
    expect(validateHandshake({ EIO: '4', transport: 'polling' })).toMatchObject({ ok: false, statusCode: 400, body: '{"code":0,"message":"Transport unknown"}' });
    expect(validateHandshake({ transport: 'websocket' })).toMatchObject({ ok: false, body: '{"code":5,"message":"Unsupported protocol version"}' });
    expect(validateHandshake(null)).toMatchObject({ ok: false });
  });

  test('packets the server writes', () => {
    expect(openPacket('abc', { pingIntervalMs: 1, pingTimeoutMs: 2, maxPayload: 3, authTimeoutMs: 4 })).toBe('0{"sid":"abc","upgrades":[],"pingInterval":1,"pingTimeout":2,"maxPayload":3}');
    expect(connectErrorPacket('/x', 'Invalid namespace')).toBe('44/x,{"message":"Invalid namespace"}');
    expect(eventPacket('a', { b: 1 })).toBe('42["a",{"b":1}]');
    expect(ackPacket(12, [{ ok: 1 }])).toBe('4312[{"ok":1}]');
  });

  test('packets the server reads; anything else is invalid, never a throw', () => {
    expect(parseFrame('3')).toEqual({ kind: 'pong' });
    expect(parseFrame('1')).toEqual({ kind: 'close' });
    expect(parseFrame('6')).toEqual({ kind: 'noop' });
    expect(parseFrame('40')).toEqual({ kind: 'connect', nsp: '/' });
    expect(parseFrame('40/admin,{"token":"x"}')).toEqual({ kind: 'connect', nsp: '/admin' });
    expect(parseFrame('41')).toEqual({ kind: 'disconnect', nsp: '/' });
    expect(parseFrame('425["auth",{"a":1},2]')).toEqual({ kind: 'event', nsp: '/', name: 'auth', args: [{ a: 1 }, 2], ackId: 5 });
    expect(parseFrame('433["x"]')).toEqual({ kind: 'ack', nsp: '/', id: 3, args: ['x'] });
    for (const bad of ['', null, undefined, '2', '0', '5', 'abc', '4', '4abc', '42{"abc"', '42[]', '42[1]', '44{"message":"x"}', '451-["x",{"_placeholder":true,"num":0}]', '9', `4${randomUUID()}`]) {
      expect(parseFrame(bad as string).kind).toBe('invalid');
    }
  });

  test('transaction: a string of 1..128 characters, else invalid; absent when not given', () => {
    expect(transactionOf({ transaction: 'a' })).toEqual({ transaction: 'a' });
    expect(transactionOf({})).toEqual({});
    expect(transactionOf('x')).toEqual({});
    expect(transactionOf({ transaction: 5 })).toEqual({ invalid: true });
    expect(transactionOf({ transaction: '' })).toEqual({ invalid: true });
    expect(transactionOf({ transaction: 'x'.repeat(129) })).toEqual({ invalid: true });
  });
});
