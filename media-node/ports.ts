/**
 * The seams between the media node and the rest of ZavodChat. The node only does signalling and media;
 * who may join, and who hears about it on the main socket, are decided by these two ports.
 */

import type { DomainError } from '../lambdas/domain/errors';

/** 0 = off, 1 = set by the user, 2 = set by an administrator (docs/upstream.md, "Voice state", decision 11). */
export type VoiceFlag = 0 | 1 | 2;

export interface AdmissionRequest {
  /** Session token from the cookie `zavodchat_token`, else `Authorization: Bearer`, else `?token=`. */
  token?: string;
  /** Raw `?channel=` value ('' when absent). */
  channel: string;
  /** Raw `?mute=` / `?deaf=` values, when given. */
  mute?: string;
  deaf?: string;
}

export type AdmissionResult =
  | {
      ok: true;
      userId: number;
      channelId: number;
      /** Absent for a DM call. */
      serverId?: number;
      mute: 0 | 1;
      deaf: 0 | 1;
      /** Administrator mute/deafen that outlives a connection, if the implementation keeps one. */
      adminMute?: boolean;
      adminDeaf?: boolean;
    }
  /** Refused: the node answers the upgrade with the error's status (lambdas/http-errors.ts) and text. */
  | { ok: false; error: DomainError };

export interface VoiceAdmission {
  /**
   * Validates credentials and channel for a voice-socket upgrade, in the order of docs/upstream.md, "The voice socket"
   * (token 401, channel syntax 400, existence/visibility/friendship/JOIN_VC 403 or 404, mute/deaf 400).
   * The one-channel-per-user rule is the node's, not the admission's.
   */
  admit(request: AdmissionRequest): Promise<AdmissionResult>;
}

/** Administrator mute/deafen (state 2) of a user, each on or off. */
export interface AdminVoiceFlags {
  mute: boolean;
  deaf: boolean;
}

/** What `joined` may answer: the stored admin mute/deafen, or that the user may no longer be there. */
export interface JoinedAnswer {
  admin?: AdminVoiceFlags;
  /** Access went between the admission and the connection: end it (nothing was announced). */
  refused?: boolean;
}

export interface VoiceParticipant {
  userId: number;
  channelId: number;
  serverId?: number;
}

/** The VC state of docs/upstream.md, "Voice state"; `joined` is the ISO-8601 UTC time the voice socket opened. */
export interface VoiceJoin extends VoiceParticipant {
  joined: string;
  mute: VoiceFlag;
  deaf: VoiceFlag;
  video: 0 | 1;
}

/** Only the keys that changed are present. */
export interface VoiceStateChange extends VoiceParticipant {
  mute?: VoiceFlag;
  deaf?: VoiceFlag;
  video?: 0 | 1;
}

/** A participant started or stopped speaking (the room's audio-level observer, debounced). */
export interface VoiceSpeaking extends VoiceParticipant {
  speaking: boolean;
}

/** Why a voice connection ended, as far as presence cares. */
export interface VoiceDeparture {
  /** Another voice socket of the same user replaced it (CLOSE_REASONS.otherChannel). */
  replaced?: boolean;
}

export interface VoicePresence {
  /**
   * The user's WebRTC transport connected: `user_joined_vc`. An implementation that keeps administrator
   * mute/deafen returns it as stored now, and the node applies it: a change made after the admission, before
   * this node could be found, must not be lost. Likewise a change of access: `refused` ends the connection.
   */
  joined(state: VoiceJoin): Promise<JoinedAnswer | undefined | void>;
  /**
   * The voice socket of an admitted user closed, for any reason: `user_left_vc`. Also called when the
   * transport never connected (so `joined` was never called): the socket itself is the membership.
   * `departure.replaced`: the user opened a voice socket elsewhere, which took this one's place (the
   * one-channel-per-user rule): the workspace protocol's `user-changed-device`.
   */
  left(who: VoiceParticipant, departure?: VoiceDeparture): Promise<void>;
  /** `user_changed_vc_state`; only for users `joined` was called for. */
  changed(delta: VoiceStateChange): Promise<void>;
  /** Every heartbeat interval: the users whose transport is connected on this node (e.g. to refresh TTLs). */
  heartbeat?(participants: VoiceParticipant[]): Promise<void>;
  /**
   * The user started or stopped speaking, on change only (debounced: `MediaSettings.speaking`); only for
   * users `joined` was called for, and never after `left` (which implies not speaking). The ZavodChat protocol
   * has no such event: only the workspace protocol (seed 003's `userMediaState.speaking`) uses it.
   */
  speaking?(change: VoiceSpeaking): Promise<void>;
}

/** Parses `?channel=`: a decimal integer id, else undefined (-> 400). */
export function parseChannelParam(raw: string): number | undefined {
  return /^\d{1,15}$/.test(raw) ? Number(raw) : undefined;
}

/** Parses `?mute=` / `?deaf=`: absent means 0; only 0 and 1 are accepted from a client. */
export function parseFlagParam(raw: string | undefined): 0 | 1 | undefined {
  if (raw === undefined) return 0;
  return raw === '0' ? 0 : raw === '1' ? 1 : undefined;
}
