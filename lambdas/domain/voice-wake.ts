import { badRequest, type DomainError } from './errors';
import { type Availability, type LifecycleContext, requestMediaNode } from './media-node-lifecycle';
import { admitToVoice } from './voice';

/**
 * The voice wake (`mediaStartOn=voice`, docs/voice.md "On demand"): while the media node is stopped,
 * `voice.<domain>` answers with a small WebSocket API instead of the node. A voice join attempt there is
 * checked exactly as the node would check it (admitToVoice: session, channel, friendship or JOIN_VC), and
 * only an attempt the node would admit starts it: nobody without a right to talk can keep the node running.
 * The attempt itself is then refused: the node is not there to take it; the client retries once it runs.
 */

/** The refusal of an admitted attempt: the text the stock client can show (plain, as voice errors are). */
export const VOICE_STARTING = 'Voice is starting, try again in a minute';

export type WakeOutcome =
  /** The node would refuse this attempt too: nothing was started. */
  | { admitted: false; error: DomainError }
  /** Admitted: the node was asked to start (or found running: the caller's DNS still named the wake). */
  | { admitted: true; userId: number; channelId: number; availability: Availability };

export interface WakeAttempt {
  token: string | undefined;
  /** The raw `?channel=` value, parsed by the admission as the node parses it. */
  channel: string;
  /** The raw `?mute=` and `?deaf=` values: absent, `0` or `1`, as the node accepts them. */
  mute?: string;
  deaf?: string;
}

/** The node's rule for `mute`/`deaf` (media-node/ports.ts, parseFlagParam), with its refusal text. */
function flagRefusal(name: 'mute' | 'deaf', raw: string | undefined): DomainError | undefined {
  return raw === undefined || raw === '0' || raw === '1' ? undefined : badRequest(`Invalid ${name} state '${raw.slice(0, 32)}'`);
}

/** One voice join attempt at the wake. Throws only what the table throws (the handler answers 503/500). */
export async function wakeForVoice(context: LifecycleContext, attempt: WakeAttempt, now = Date.now()): Promise<WakeOutcome> {
  const admission = await admitToVoice(context.db, attempt.token, attempt.channel);
  if (!admission.ok) return { admitted: false, error: admission.error };
  // In the node's order: admission first, then the flags.
  const flag = flagRefusal('mute', attempt.mute) ?? flagRefusal('deaf', attempt.deaf);
  if (flag) return { admitted: false, error: flag };
  const availability = await requestMediaNode(context, now, 'voice join attempted');
  return { admitted: true, userId: admission.userId, channelId: admission.channel.id, availability };
}
