import type { VideoCodecName } from './codecs';

/** Client -> server voice-socket messages (docs/upstream.md, "The voice socket"), validated into commands. */
export type ClientCommand =
  | { name: 'answer'; sdp: string }
  | { name: 'change_state'; mute?: 0 | 1; deaf?: 0 | 1 }
  | { name: 'enable_video'; codec: VideoCodecName; bitrate: number }
  | { name: 'disable_video' }
  | { name: 'ping' };

/** The `error` texts the protocol defines, plus the node's own for what upstream silently ignored. */
export const ERRORS = {
  invalidJson: 'invalid JSON data',
  invalidMute: 'invalid mute state',
  invalidDeaf: 'invalid deaf state',
  invalidCodec: 'invalid codec',
  invalidBitrate: 'invalid bitrate',
  invalidAnswer: 'invalid answer',
  unknownMessage: (name: string) => `unknown message '${name.slice(0, 64)}'`,
} as const;

export type Parsed = { command: ClientCommand } | { error: string };

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function flag(value: unknown): 0 | 1 | undefined {
  return value === 0 || value === 1 ? value : undefined;
}

/** `data` of `enable_video` may be absent or `""` like `disable_video`'s; then the defaults apply. */
function parseEnableVideo(data: unknown, maxVideoBitrate: number): Parsed {
  const options = isObject(data) ? data : data === undefined || data === null || data === '' ? {} : undefined;
  if (!options) return { error: ERRORS.invalidJson };
  const codec = options.codec ?? 'VP8';
  if (codec !== 'VP8' && codec !== 'H264') return { error: ERRORS.invalidCodec };
  const bitrate = options.bitrate ?? maxVideoBitrate;
  if (typeof bitrate !== 'number' || !Number.isSafeInteger(bitrate) || bitrate <= 0) return { error: ERRORS.invalidBitrate };
  return { command: { name: 'enable_video', codec, bitrate: Math.min(bitrate, maxVideoBitrate) } };
}

export function parseClientMessage(text: string, maxVideoBitrate: number): Parsed {
  let frame: unknown;
  try {
    frame = JSON.parse(text);
  } catch {
    return { error: ERRORS.invalidJson };
  }
  if (!isObject(frame) || typeof frame.name !== 'string') return { error: ERRORS.invalidJson };
  const { data } = frame;
  switch (frame.name) {
    case 'offer': {
      // The client's answer travels under the name `offer` (docs/upstream.md, "The voice socket").
      if (!isObject(data) || data.type !== 'answer' || typeof data.sdp !== 'string') return { error: ERRORS.invalidAnswer };
      return { command: { name: 'answer', sdp: data.sdp } };
    }
    case 'change_state': {
      if (!isObject(data)) return { error: ERRORS.invalidJson };
      // Both keys are checked before anything is applied, so a bad `deaf` never half-applies a `mute`.
      const mute = flag(data.mute);
      if (data.mute !== undefined && mute === undefined) return { error: ERRORS.invalidMute };
      const deaf = flag(data.deaf);
      if (data.deaf !== undefined && deaf === undefined) return { error: ERRORS.invalidDeaf };
      return { command: { name: 'change_state', mute, deaf } };
    }
    case 'enable_video':
      return parseEnableVideo(data, maxVideoBitrate);
    case 'disable_video':
      return { command: { name: 'disable_video' } };
    case 'ping':
      return { command: { name: 'ping' } };
    default:
      return { error: ERRORS.unknownMessage(frame.name) };
  }
}
