import { badRequest } from '../lambdas/domain/errors';
import type { FanoutContext } from '../lambdas/domain/fanout';
import { admitToVoice, voiceChanged, voiceHeartbeat, voiceJoined, voiceLeft, voiceSpeaking } from '../lambdas/domain/voice';
import { type AdmissionRequest, type JoinedAnswer, type AdmissionResult, parseFlagParam, type VoiceAdmission, type VoiceJoin, type VoiceDeparture, type VoiceParticipant, type VoicePresence, type VoiceSpeaking, type VoiceStateChange } from './ports';

/** Admission from the shared domain code: sessions, channels, friendships, permissions and admin mute/deafen in DynamoDB. */
export class DynamoDbVoiceAdmission implements VoiceAdmission {
  constructor(private readonly context: FanoutContext) {}

  async admit(request: AdmissionRequest): Promise<AdmissionResult> {
    const admission = await admitToVoice(this.context.db, request.token, request.channel);
    if (!admission.ok) return admission;
    const mute = parseFlagParam(request.mute);
    if (mute === undefined) return { ok: false, error: badRequest(`Invalid mute state '${request.mute}'`) };
    const deaf = parseFlagParam(request.deaf);
    if (deaf === undefined) return { ok: false, error: badRequest(`Invalid deaf state '${request.deaf}'`) };
    const { userId, channel, admin } = admission;
    // The stored admin mute/deafen applies from the first packet (a producer starts paused).
    return { ok: true, userId, channelId: channel.id, serverId: channel.serverId, mute, deaf, adminMute: admin?.mute, adminDeaf: admin?.deaf };
  }
}

/** Voice state in DynamoDB and `user_*_vc` events through the shared fan-out; `node` is this node's control URL. */
export class DynamoDbVoicePresence implements VoicePresence {
  constructor(
    private readonly context: FanoutContext,
    private readonly node: () => string,
  ) {}

  joined(state: VoiceJoin): Promise<JoinedAnswer> {
    return voiceJoined(this.context, this.node(), state);
  }

  left(who: VoiceParticipant, departure?: VoiceDeparture): Promise<void> {
    return voiceLeft(this.context, who, departure);
  }

  changed(delta: VoiceStateChange): Promise<void> {
    return voiceChanged(this.context, delta);
  }

  /** Published, not stored (lambdas/domain/voice.ts, voiceSpeaking). */
  speaking(change: VoiceSpeaking): Promise<void> {
    return voiceSpeaking(this.context, change);
  }

  heartbeat(participants: VoiceParticipant[]): Promise<void> {
    return voiceHeartbeat(this.context.db, participants);
  }
}
