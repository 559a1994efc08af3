import type { Db } from './db';
import type { VoiceControl } from './ports';
import { voiceLocationOf } from './voice';

/** Ends a user's voice connection when it is in `channelId` (any channel when omitted) or in a channel of `serverId`. */
export async function endVoice(
  db: Db,
  control: VoiceControl,
  target: { userId: number; channelId?: number; serverId?: number },
  reason: string,
): Promise<boolean> {
  const location = await voiceLocationOf(db, target.userId);
  if (!location) return false;
  if (target.channelId !== undefined && location.channelId !== target.channelId) return false;
  if (target.serverId !== undefined && location.serverId !== target.serverId) return false;
  return control.send(location.node, { kind: 'kick', userId: target.userId, channelId: location.channelId, reason });
}

/**
 * Brings the node hosting a user in a voice channel of `serverId` to his stored admin mute/deafen (the
 * whole state, so a node that missed an earlier change catches up; it announces only what changes for
 * the user). False when he is not in voice in that server.
 */
export async function applyAdminVoiceState(
  db: Db,
  control: VoiceControl,
  target: { userId: number; serverId: number },
  state: { mute: boolean; deaf: boolean },
): Promise<boolean> {
  const location = await voiceLocationOf(db, target.userId);
  if (!location || location.serverId !== target.serverId) return false;
  return control.send(location.node, { kind: 'admin-state', userId: target.userId, channelId: location.channelId, mute: state.mute, deaf: state.deaf });
}
