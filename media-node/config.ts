import { availableParallelism } from 'node:os';
import { type RateLimit, rateLimitFromEnv } from '../lambdas/domain/config';
import { VOICE_STATE_TTL_SECONDS } from '../lambdas/domain/voice';

/** How the node runs; docs/voice.md lists the environment variables that set these. */
export interface MediaSettings {
  /** mediasoup workers, one per core by default (MEDIA_WORKERS). */
  workers: number;
  /** Address the WebRTC sockets bind to (RTC_LISTEN_IP). */
  rtcListenIp: string;
  /** Address put in ICE candidates when clients must reach the node through NAT, e.g. EC2 (ANNOUNCED_ADDRESS). */
  announcedAddress?: string;
  /** Worker i serves every transport on UDP and TCP port rtcBasePort + i; 0 picks free ports (RTC_MIN_PORT). */
  rtcBasePort: number;
  /** Cap and default of `enable_video.bitrate`, bit/s (MAX_VIDEO_BITRATE). */
  maxVideoBitrate: number;
  /** An unanswered DM call is closed after this long alone (INACTIVE_CHANNEL_MS). */
  inactiveChannelMs: number;
  /**
   * Interval of VoicePresence.heartbeat (VOICE_HEARTBEAT_MS): it renews each user's voice state, which
   * lives VOICE_STATE_TTL_SECONDS (30 s), so it must beat well inside that (at most half of it).
   */
  heartbeatMs: number;
  /** Largest accepted client frame; bigger frames close the socket with 1009. */
  maxMessageBytes: number;
  /** WebSocket ping interval; a socket that missed the previous pong is dropped (a vanished client leaves). */
  keepaliveMs: number;
  /**
   * Frames a voice socket may send per window, answers to the node's offers excepted; none when absent
   * (RATE_LIMIT_VOICE_SOCKET, off with RATE_LIMITS=off). docs/voice.md, "Frame budget".
   */
  frameLimit?: RateLimit;
  /** Speaking detection: mediasoup's AudioLevelObserver per room, and how long silence lasts before it counts. */
  speaking: SpeakingSettings;
}

/**
 * `intervalMs`: the observer's averaging window; `thresholdDb`: dBov above which a producer is loud;
 * `holdMs`: a speaker who has not been loud for this long stops speaking (pauses between words do not flap).
 */
export interface SpeakingSettings {
  intervalMs: number;
  thresholdDb: number;
  holdMs: number;
}

export const DEFAULT_MEDIA_SETTINGS: MediaSettings = {
  workers: availableParallelism(),
  rtcListenIp: '127.0.0.1',
  rtcBasePort: 40000,
  maxVideoBitrate: 10_240_000,
  inactiveChannelMs: 30_000,
  heartbeatMs: 10_000,
  maxMessageBytes: 64 * 1024,
  keepaliveMs: 30_000,
  frameLimit: { requests: 60, windowSeconds: 60 },
  speaking: { intervalMs: 200, thresholdDb: -55, holdMs: 800 },
};

/** Half the voice state's lifetime: one late beat must not make a user vanish from voice. */
export const MAX_HEARTBEAT_MS = (VOICE_STATE_TTL_SECONDS * 1000) / 2;

export class ConfigError extends Error {}

function integer(env: NodeJS.ProcessEnv, name: string, fallback: number, min: number, max: number): number {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new ConfigError(`${name} should be an integer from ${min} to ${max}, got '${raw}'`);
  }
  return value;
}

export function mediaSettingsFromEnv(env: NodeJS.ProcessEnv = process.env): MediaSettings {
  const defaults = DEFAULT_MEDIA_SETTINGS;
  return {
    workers: integer(env, 'MEDIA_WORKERS', defaults.workers, 1, 256),
    rtcListenIp: env.RTC_LISTEN_IP || defaults.rtcListenIp,
    announcedAddress: env.ANNOUNCED_ADDRESS || undefined,
    rtcBasePort: integer(env, 'RTC_MIN_PORT', defaults.rtcBasePort, 0, 65535),
    maxVideoBitrate: integer(env, 'MAX_VIDEO_BITRATE', defaults.maxVideoBitrate, 1, 2 ** 31 - 1),
    inactiveChannelMs: integer(env, 'INACTIVE_CHANNEL_MS', defaults.inactiveChannelMs, 1, 2 ** 31 - 1),
    heartbeatMs: integer(env, 'VOICE_HEARTBEAT_MS', defaults.heartbeatMs, 1000, MAX_HEARTBEAT_MS),
    maxMessageBytes: defaults.maxMessageBytes,
    keepaliveMs: defaults.keepaliveMs,
    frameLimit: env.RATE_LIMITS?.trim() === 'off' ? undefined : voiceFrameLimit(env, defaults.frameLimit!),
    speaking: { ...defaults.speaking, holdMs: integer(env, 'SPEAKING_HOLD_MS', defaults.speaking.holdMs, 100, 60_000) },
  };
}

function voiceFrameLimit(env: NodeJS.ProcessEnv, fallback: RateLimit): RateLimit | undefined {
  try {
    return rateLimitFromEnv(env, 'RATE_LIMIT_VOICE_SOCKET', fallback);
  } catch (error) {
    throw new ConfigError((error as Error).message);
  }
}

export function portFromEnv(env: NodeJS.ProcessEnv, name: string, fallback: number): number {
  return integer(env, name, fallback, 0, 65535);
}
