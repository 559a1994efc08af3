import type { VoiceState } from '../../domain/voice';
import { eventPacket } from './engineio';

/*
 * Seed 003's data model from ours (docs/protocol.md, the workspace protocol, "Mapping"). Ids are strings on this protocol.
 * Pure: the adapter renders each domain event through these once per protocol.
 */

export type OnlineStatus = 'online' | 'idle' | 'offline';

/** Our statuses: 0 offline (or invisible), 1 online, 2 away, 3 do not disturb. */
const STATUS_OFFLINE = 0;
const STATUS_ONLINE = 1;
const STATUS_AWAY = 2;

/** Do not disturb (3) has no counterpart in the seed: it shows `online`. Unknown values show `offline`. */
export function onlineStatusOf(status: number): OnlineStatus {
  if (status === STATUS_ONLINE || status === 3) return 'online';
  if (status === STATUS_AWAY) return 'idle';
  return 'offline';
}

/** `auth`'s `onlineStatus` to our status; undefined for anything but the three values. */
export function statusOfOnlineStatus(value: unknown): number | undefined {
  switch (value) {
    case 'online':
      return STATUS_ONLINE;
    case 'idle':
      return STATUS_AWAY;
    case 'offline':
      return STATUS_OFFLINE;
    default:
      return undefined;
  }
}

/** `UserSchema`: `{id, name, avatar?, onlineStatus}`. */
export interface WorkspaceUser {
  id: string;
  name: string;
  avatar?: string;
  onlineStatus: OnlineStatus;
}

export function workspaceUser(user: { id: number; name: string; status: number; avatar?: string }): WorkspaceUser {
  return { id: String(user.id), name: user.name, ...(user.avatar !== undefined ? { avatar: user.avatar } : {}), onlineStatus: onlineStatusOf(user.status) };
}

/** `UserMediaStateSchema`: five booleans. */
export interface UserMediaState {
  microphone: boolean;
  speakers: boolean;
  camera: boolean;
  screen: boolean;
  speaking: boolean;
}

/**
 * From our voice state: microphone = not muted, speakers = not deafened, screen = our video (the node does
 * not tell a camera from a screen, so camera is always false), speaking from the media node's observer.
 */
export function userMediaState(state: Pick<VoiceState, 'mute' | 'deaf' | 'video'>, speaking = false): UserMediaState {
  return { microphone: !state.mute, speakers: !state.deaf, camera: false, screen: Boolean(state.video), speaking };
}

/** One server event of the workspace protocol: its name and data, before framing. */
export interface WorkspaceEvent<Name extends string = string, Data = unknown> {
  name: Name;
  data: Data;
}

const ws = <Name extends string, Data>(name: Name, data: Data): WorkspaceEvent<Name, Data> => ({ name, data });

/** The renderers of every server event of seed 003, from plain data with our (numeric) ids. */
export const workspaceEvents = {
  channelCreated: (channelId: number) => ws('channel-created', { channelId: String(channelId) }),
  channelDeleted: (channelId: number) => ws('channel-deleted', { channelId: String(channelId) }),
  userJoined: (user: Parameters<typeof workspaceUser>[0]) => ws('user-joined', { user: workspaceUser(user) }),
  /** Leave, kick and ban alike. */
  userLeavedWorkspace: (userId: number) => ws('user-leaved-workspace', { userId: String(userId) }),
  userUpdated: (user: Parameters<typeof workspaceUser>[0]) => ws('user-updated', { user: workspaceUser(user) }),
  onlineStatusUpdated: (userId: number, status: number) => ws('online-status-updated', { userId: String(userId), onlineStatus: onlineStatusOf(status) }),
  userSelectedChannel: (userId: number, channelId: number, state: Pick<VoiceState, 'mute' | 'deaf' | 'video'>, speaking = false) =>
    ws('user-selected-channel', { userId: String(userId), channelId: String(channelId), userMediaState: userMediaState(state, speaking) }),
  userUnselectedChannel: (userId: number, channelId: number) => ws('user-unselected-channel', { userId: String(userId), channelId: String(channelId) }),
  mediaStateUpdated: (userId: number, state: Pick<VoiceState, 'mute' | 'deaf' | 'video'>, speaking = false) =>
    ws('media-state-updated', { userId: String(userId), userMediaState: userMediaState(state, speaking) }),
  /** To all of a user's workspace connections when he joins voice from another device. */
  userChangedDevice: () => ws('user-changed-device', null),
};

/** The WebSocket frame of a workspace event (`42["name",data]`). */
export function renderWorkspaceEvent(event: WorkspaceEvent): string {
  return eventPacket(event.name, event.data);
}
