import type { types } from 'mediasoup';

/**
 * The codecs and RTP header extensions of the voice protocol. The payload types are wire-visible and fixed
 * (docs/upstream.md): Opus 96, H264 98, VP8 99. Every m-section of one connection is bundled, so a payload
 * type or extension id must mean the same thing in all of them; one table for everything guarantees that.
 */

export type VideoCodecName = 'VP8' | 'H264';

const OPUS_PAYLOAD_TYPE = 96;
const VIDEO_PAYLOAD_TYPES: Record<VideoCodecName, number> = { H264: 98, VP8: 99 };

const OPUS: types.RtpCodecCapability = {
  kind: 'audio',
  mimeType: 'audio/opus',
  preferredPayloadType: OPUS_PAYLOAD_TYPE,
  clockRate: 48000,
  channels: 2,
  parameters: { minptime: 10, useinbandfec: 1 },
  rtcpFeedback: [],
};

const VIDEO_FEEDBACK: types.RtcpFeedback[] = [
  { type: 'nack', parameter: '' },
  { type: 'nack', parameter: 'pli' },
  { type: 'ccm', parameter: 'fir' },
  { type: 'goog-remb', parameter: '' },
  { type: 'transport-cc', parameter: '' },
];

const VIDEO_CODECS: Record<VideoCodecName, types.RtpCodecCapability> = {
  // Constrained baseline, packetization mode 1: what every browser that has H264 can encode and decode.
  H264: {
    kind: 'video',
    mimeType: 'video/H264',
    preferredPayloadType: VIDEO_PAYLOAD_TYPES.H264,
    clockRate: 90000,
    parameters: { 'level-asymmetry-allowed': 1, 'packetization-mode': 1, 'profile-level-id': '42e01f' },
    rtcpFeedback: VIDEO_FEEDBACK,
  },
  VP8: {
    kind: 'video',
    mimeType: 'video/VP8',
    preferredPayloadType: VIDEO_PAYLOAD_TYPES.VP8,
    clockRate: 90000,
    parameters: {},
    rtcpFeedback: VIDEO_FEEDBACK,
  },
};

/** Router codecs: the preferred payload types make consumers carry the protocol's numbers. */
export const ROUTER_MEDIA_CODECS: types.RouterRtpCodecCapability[] = [OPUS, VIDEO_CODECS.H264, VIDEO_CODECS.VP8];

const EXTENSIONS = {
  mid: 'urn:ietf:params:rtp-hdrext:sdes:mid',
  absSendTime: 'http://www.webrtc.org/experiments/rtp-hdrext/abs-send-time',
  transportCc: 'http://www.ietf.org/id/draft-holmer-rmcat-transport-wide-cc-extensions-01',
  audioLevel: 'urn:ietf:params:rtp-hdrext:ssrc-audio-level',
} as const satisfies Record<string, types.RtpHeaderExtensionUri>;

/** Ids as in mediasoup's supported capabilities, so router and SDP agree. */
const EXTENSION_IDS: Record<string, number> = {
  [EXTENSIONS.mid]: 1,
  [EXTENSIONS.absSendTime]: 4,
  [EXTENSIONS.transportCc]: 5,
  [EXTENSIONS.audioLevel]: 10,
};

/** Extensions offered per kind. No RID/RTX/simulcast: one stream per source keeps the SDP small. */
const OFFERED_EXTENSIONS: Record<types.MediaKind, types.RtpHeaderExtensionUri[]> = {
  audio: [EXTENSIONS.mid, EXTENSIONS.absSendTime, EXTENSIONS.audioLevel],
  video: [EXTENSIONS.mid, EXTENSIONS.absSendTime, EXTENSIONS.transportCc],
};

export function offeredExtensions(kind: types.MediaKind): types.RtpHeaderExtensionParameters[] {
  return OFFERED_EXTENSIONS[kind].map((uri) => ({ uri, id: EXTENSION_IDS[uri] }));
}

export function isOfferedExtension(kind: types.MediaKind, uri: string, id: number): uri is types.RtpHeaderExtensionUri {
  return (OFFERED_EXTENSIONS[kind] as string[]).includes(uri) && EXTENSION_IDS[uri] === id;
}

/** The codec a receive section (`my_voice`, `my_video`) offers. */
export function receiveCodec(kind: 'audio'): types.RtpCodecCapability;
export function receiveCodec(kind: 'video', codec: VideoCodecName): types.RtpCodecCapability;
export function receiveCodec(kind: types.MediaKind, codec?: VideoCodecName): types.RtpCodecCapability {
  return kind === 'audio' ? OPUS : VIDEO_CODECS[codec ?? 'VP8'];
}

/** What every client is assumed to receive: the consumers' codecs and extensions come from here. */
export const CONSUMER_RTP_CAPABILITIES: types.RtpCapabilities = {
  codecs: [OPUS, VIDEO_CODECS.H264, VIDEO_CODECS.VP8],
  headerExtensions: (['audio', 'video'] as const).flatMap((kind) =>
    OFFERED_EXTENSIONS[kind].map((uri) => ({ kind, uri, preferredId: EXTENSION_IDS[uri], direction: 'sendrecv' as const })),
  ),
};
