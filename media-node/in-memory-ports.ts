import { badRequest, forbidden, notFound, TEXT, unauthorized } from '../lambdas/domain/errors';
import {
  type AdmissionRequest,
  type AdmissionResult,
  parseChannelParam,
  parseFlagParam,
  type VoiceAdmission,
  type VoiceJoin,
  type VoiceParticipant,
  type VoicePresence,
  type VoiceSpeaking,
  type VoiceStateChange,
} from './ports';

/** A channel as the in-memory admission sees it. */
export interface InMemoryChannel {
  /** Absent for a DM voice channel. */
  serverId?: number;
  /** 1 = voice (default), 0 = text. */
  type?: 0 | 1;
  /** Who may join; everyone when absent. */
  allowed?: number[];
}

/**
 * Admission from plain maps (token -> user, channel id -> channel), with the texts and statuses of
 * docs/upstream.md, "The voice socket" and decision 13. For tests and the demo mode of main.ts; the real one reads DynamoDB.
 */
export class InMemoryAdmission implements VoiceAdmission {
  constructor(
    readonly tokens: Map<string, number>,
    readonly channels: Map<number, InMemoryChannel>,
  ) {}

  async admit(request: AdmissionRequest): Promise<AdmissionResult> {
    const userId = request.token === undefined ? undefined : this.tokens.get(request.token);
    if (userId === undefined) return { ok: false, error: unauthorized('Invalid or expired token') };
    const channelId = parseChannelParam(request.channel);
    if (channelId === undefined) return { ok: false, error: badRequest(`Couldn't parse channel ID, got '${request.channel}'`) };
    const channel = this.channels.get(channelId);
    if (!channel || (channel.type ?? 1) !== 1) {
      return { ok: false, error: notFound(TEXT.noVoiceAccess) };
    }
    if (channel.allowed && !channel.allowed.includes(userId)) return { ok: false, error: forbidden(TEXT.noPermission) };
    const mute = parseFlagParam(request.mute);
    if (mute === undefined) return { ok: false, error: badRequest(`Invalid mute state '${request.mute}'`) };
    const deaf = parseFlagParam(request.deaf);
    if (deaf === undefined) return { ok: false, error: badRequest(`Invalid deaf state '${request.deaf}'`) };
    return { ok: true, userId, channelId, ...(channel.serverId === undefined ? {} : { serverId: channel.serverId }), mute, deaf };
  }
}

interface PresencePayloads {
  joined: VoiceJoin;
  left: VoiceParticipant;
  changed: VoiceStateChange;
  heartbeat: VoiceParticipant[];
  speaking: VoiceSpeaking;
}

export type PresenceCall = { [K in keyof PresencePayloads]: { kind: K; payload: PresencePayloads[K] } }[keyof PresencePayloads];

/** Records every presence call in order; `waitFor` lets a test await one. */
export class RecordingPresence implements VoicePresence {
  readonly calls: PresenceCall[] = [];
  private readonly waiters = new Set<() => void>();

  constructor(private readonly forward?: (call: PresenceCall) => void) {}

  async joined(payload: VoiceJoin): Promise<void> {
    this.record({ kind: 'joined', payload });
  }

  async left(payload: VoiceParticipant): Promise<void> {
    this.record({ kind: 'left', payload });
  }

  async changed(payload: VoiceStateChange): Promise<void> {
    this.record({ kind: 'changed', payload });
  }

  async heartbeat(payload: VoiceParticipant[]): Promise<void> {
    this.record({ kind: 'heartbeat', payload });
  }

  async speaking(payload: VoiceSpeaking): Promise<void> {
    this.record({ kind: 'speaking', payload });
  }

  /** Payloads of one kind (for one user), in order. */
  of<K extends keyof PresencePayloads>(kind: K, userId?: number): Array<PresencePayloads[K]> {
    const payloads = this.calls.filter((call) => call.kind === kind).map((call) => call.payload as PresencePayloads[K]);
    return payloads.filter((payload) => userId === undefined || ('userId' in payload && payload.userId === userId));
  }

  /** Resolves with the first recorded call (past or future) that matches. */
  waitFor(match: (call: PresenceCall) => boolean, timeoutMs = 10_000): Promise<PresenceCall> {
    return new Promise((resolve, reject) => {
      const check = () => {
        const found = this.calls.find(match);
        if (!found) return false;
        this.waiters.delete(check);
        clearTimeout(timer);
        resolve(found);
        return true;
      };
      const timer = setTimeout(() => {
        this.waiters.delete(check);
        reject(new Error(`no matching presence call within ${timeoutMs} ms; calls: ${JSON.stringify(this.calls)}`));
      }, timeoutMs);
      if (!check()) this.waiters.add(check);
    });
  }

  private record(call: PresenceCall): void {
    this.calls.push(call);
    this.forward?.(call);
    for (const check of [...this.waiters]) check();
  }
}
