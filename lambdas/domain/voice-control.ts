import { createHmac, timingSafeEqual } from 'node:crypto';
import type { Db } from './db';
import { voiceLocationOf } from './voice';

/**
 * REST tells the media node hosting a user to end his voice connection (a voice kick, a DM call declined,
 * access to the channel lost: voice-access.ts) or to apply an administrator mute/deafen. Nodes are reached
 * over HTTP on their control port; every request carries an HMAC-SHA256 of its timestamp and body under a secret the Lambdas
 * and the nodes share (MEDIA_CONTROL_SECRET), and is refused when older than a minute: no IAM needed,
 * nothing else accepted.
 */
export type ControlCommand =
  | { kind: 'kick'; userId: number; channelId?: number; reason: string }
  | { kind: 'close-channel'; channelId: number; reason: string }
  | { kind: 'admin-state'; userId: number; channelId?: number; mute?: boolean; deaf?: boolean };

export const SIGNATURE_HEADER = 'x-zavodchat-signature';
const MAX_SKEW_SECONDS = 60;

export function signControl(secret: string, body: string, now = Date.now()): string {
  const timestamp = Math.floor(now / 1000);
  const mac = createHmac('sha256', secret).update(`${timestamp}.${body}`).digest('hex');
  return `t=${timestamp},v1=${mac}`;
}

export function verifyControl(secret: string, body: string, signature: string | undefined, now = Date.now()): boolean {
  const match = /^t=(\d+),v1=([0-9a-f]{64})$/.exec(signature ?? '');
  if (!match) return false;
  if (Math.abs(Math.floor(now / 1000) - Number(match[1])) > MAX_SKEW_SECONDS) return false;
  const expected = createHmac('sha256', secret).update(`${match[1]}.${body}`).digest();
  return timingSafeEqual(expected, Buffer.from(match[2], 'hex'));
}

export interface VoiceControl {
  send(node: string, command: ControlCommand): Promise<boolean>;
}

/** Posts signed commands to `<node>/control`; a node that cannot be reached is logged by the caller's caller. */
export class HttpVoiceControl implements VoiceControl {
  constructor(private readonly secret: string) {}

  async send(node: string, command: ControlCommand): Promise<boolean> {
    if (!this.secret) throw new Error('MEDIA_CONTROL_SECRET is not set: cannot reach the media nodes');
    const body = JSON.stringify(command);
    const response = await fetch(`${node}/control`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', [SIGNATURE_HEADER]: signControl(this.secret, body) },
      body,
      signal: AbortSignal.timeout(3000),
    });
    if (!response.ok) throw new Error(`media node ${node} refused a control command: HTTP ${response.status}`);
    return ((await response.json()) as { done?: boolean }).done === true;
  }
}

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
