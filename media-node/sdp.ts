import type { types } from 'mediasoup';
import { type MediaDescription, parse, type SessionDescription, write } from 'sdp-transform';

/**
 * SDP for a server that always offers (docs/upstream.md, "The voice socket"), read and written with sdp-transform: the offer is
 * written from the mediasoup transport (ICE-lite, candidates embedded, DTLS fingerprint) plus one section per media slot; the
 * client's answer is read back only for what mediasoup needs (DTLS role and fingerprint, and per section
 * the direction, codecs, extension ids and SSRC the client sends with).
 */

export type Direction = 'sendrecv' | 'sendonly' | 'recvonly' | 'inactive';

export interface OfferTransport {
  iceParameters: types.IceParameters;
  iceCandidates: types.IceCandidate[];
  dtlsParameters: types.DtlsParameters;
}

export interface OfferSection {
  mid: string;
  kind: types.MediaKind;
  /** From the server's point of view. */
  direction: Direction;
  codecs: types.RtpCodecParameters[];
  headerExtensions: types.RtpHeaderExtensionParameters[];
  /** Whose media the section carries: `a=user:<id>` (docs/upstream.md, "The voice socket"). */
  userId?: number;
  /** The stream the server sends in a sendonly section. */
  outgoing?: { ssrc: number; cname: string; streamId: string; trackId: string };
  /** Highest bitrate the client should send, bit/s. */
  maxBitrate?: number;
}

function codecName(mimeType: string): string {
  return mimeType.slice(mimeType.indexOf('/') + 1);
}

function formatParameters(parameters: Record<string, unknown> | undefined): string {
  return Object.entries(parameters ?? {})
    .map(([key, value]) => `${key}=${String(value)}`)
    .join(';');
}

function writeSection(section: OfferSection, transport: OfferTransport): MediaDescription {
  const media: MediaDescription = {
    type: section.kind,
    // Port and address are placeholders: with embedded candidates and ICE the client ignores them.
    port: 7,
    protocol: 'UDP/TLS/RTP/SAVPF',
    payloads: section.codecs.map((codec) => codec.payloadType).join(' '),
    connection: { version: 4, ip: '127.0.0.1' },
    iceUfrag: transport.iceParameters.usernameFragment,
    icePwd: transport.iceParameters.password,
    candidates: transport.iceCandidates.map((candidate) => ({
      foundation: candidate.foundation,
      component: 1,
      transport: candidate.protocol,
      priority: candidate.priority,
      ip: candidate.address,
      port: candidate.port,
      type: candidate.type,
      ...(candidate.protocol === 'tcp' ? { tcptype: candidate.tcpType ?? 'passive' } : {}),
    })),
    endOfCandidates: 'end-of-candidates',
    setup: 'actpass',
    mid: section.mid,
    direction: section.direction,
    rtcpMux: 'rtcp-mux',
    rtcpRsize: 'rtcp-rsize',
    rtp: section.codecs.map((codec) => ({
      payload: codec.payloadType,
      codec: codecName(codec.mimeType),
      rate: codec.clockRate,
      ...(codec.channels && codec.channels > 1 ? { encoding: codec.channels } : {}),
    })),
    fmtp: section.codecs.flatMap((codec) => {
      const config = formatParameters(codec.parameters);
      return config ? [{ payload: codec.payloadType, config }] : [];
    }),
    rtcpFb: section.codecs.flatMap((codec) =>
      (codec.rtcpFeedback ?? []).map((feedback) => ({
        payload: codec.payloadType,
        type: feedback.type,
        ...(feedback.parameter ? { subtype: feedback.parameter } : {}),
      })),
    ),
    ext: section.headerExtensions.map((extension) => ({ value: extension.id, uri: extension.uri })),
    // Our own attribute (docs/upstream.md, "The voice socket"): sdp-transform writes unknown attributes from `invalid`.
    ...(section.userId !== undefined ? { invalid: [{ value: `user:${section.userId}` }] } : {}),
  };
  if (section.maxBitrate !== undefined) {
    media.bandwidth = [
      { type: 'AS', limit: Math.ceil(section.maxBitrate / 1000) },
      { type: 'TIAS', limit: section.maxBitrate },
    ];
  }
  if (section.outgoing) {
    const { ssrc, cname, streamId, trackId } = section.outgoing;
    media.msid = [{ id: streamId, appdata: trackId }];
    media.ssrcs = [
      { id: ssrc, attribute: 'cname', value: cname },
      { id: ssrc, attribute: 'msid', value: `${streamId} ${trackId}` },
    ];
  }
  return media;
}

/** The whole offer; `version` must grow with every offer of a session (RFC 3264 §8). */
export function writeOffer(session: { id: string; version: number }, transport: OfferTransport, sections: OfferSection[]): string {
  const fingerprint =
    transport.dtlsParameters.fingerprints.find((f) => f.algorithm === 'sha-256') ?? transport.dtlsParameters.fingerprints[0];
  return write({
    version: 0,
    origin: { username: '-', sessionId: session.id, sessionVersion: session.version, netType: 'IN', ipVer: 4, address: '0.0.0.0' },
    name: '-',
    timing: { start: 0, stop: 0 },
    icelite: 'ice-lite',
    fingerprint: { type: fingerprint.algorithm, hash: fingerprint.value },
    msidSemantic: { semantic: 'WMS', token: '*' },
    groups: [{ type: 'BUNDLE', mids: sections.map((section) => section.mid).join(' ') }],
    media: sections.map((section) => writeSection(section, transport)),
  });
}

export class SdpError extends Error {}

export interface AnswerCodec {
  payloadType: number;
  name: string;
  clockRate: number;
  channels?: number;
  parameters: Record<string, string | number>;
  rtcpFeedback: types.RtcpFeedback[];
}

export interface AnswerSection {
  mid: string;
  kind: string;
  /** 0 when the client rejected the section. */
  port: number;
  /** From the client's point of view. */
  direction: Direction;
  codecs: AnswerCodec[];
  headerExtensions: Array<{ id: number; uri: string }>;
  /** The client's outgoing stream in this section: its first SSRC that is not a retransmission SSRC. */
  ssrc?: number;
  cname?: string;
}

export interface Answer {
  dtlsRole: 'client' | 'server';
  fingerprint: types.DtlsFingerprint;
  sections: AnswerSection[];
}

const FINGERPRINT_ALGORITHMS: ReadonlySet<string> = new Set(['sha-1', 'sha-224', 'sha-256', 'sha-384', 'sha-512']);

/** Values of fmtp parameters as mediasoup expects them: numbers where numeric, except H264 profile ids. */
function parseParameters(text: string): Record<string, string | number> {
  const parameters: Record<string, string | number> = {};
  for (const pair of text.split(';')) {
    const eq = pair.indexOf('=');
    if (eq <= 0) continue;
    const key = pair.slice(0, eq).trim();
    const value = pair.slice(eq + 1).trim();
    parameters[key] = key !== 'profile-level-id' && /^\d+$/.test(value) ? Number(value) : value;
  }
  return parameters;
}

/** A line sdp-transform could not read, by attribute name: the lines we need must not be malformed. */
function refuseMalformed(invalid: Array<{ value: string }> | undefined): void {
  for (const { value } of invalid ?? []) {
    if (value.startsWith('fingerprint:')) throw new SdpError('bad fingerprint');
    if (value.startsWith('rtpmap:')) throw new SdpError(`bad rtpmap '${value.slice('rtpmap:'.length)}'`);
  }
}

function readFingerprint(fingerprint: { type: string; hash: string } | undefined): types.DtlsFingerprint | undefined {
  if (!fingerprint) return undefined;
  const algorithm = fingerprint.type.toLowerCase();
  if (!FINGERPRINT_ALGORITHMS.has(algorithm) || !fingerprint.hash) throw new SdpError('bad fingerprint');
  return { algorithm: algorithm as types.FingerprintAlgorithm, value: fingerprint.hash };
}

const isCount = (value: unknown): value is number => typeof value === 'number' && Number.isInteger(value) && value >= 0;

function readCodecs(media: MediaDescription): AnswerCodec[] {
  const codecs = media.rtp.map((rtp): AnswerCodec => {
    const channels = rtp.encoding === undefined ? undefined : Number(rtp.encoding);
    if (!isCount(rtp.payload) || !rtp.codec || !isCount(rtp.rate) || (channels !== undefined && !isCount(channels))) {
      throw new SdpError(`bad rtpmap '${rtp.payload} ${rtp.codec}/${rtp.rate}'`);
    }
    return { payloadType: rtp.payload, name: rtp.codec, clockRate: rtp.rate, channels, parameters: {}, rtcpFeedback: [] };
  });
  const byPayload = (payload: unknown) => codecs.find((codec) => codec.payloadType === Number(payload));
  for (const fmtp of media.fmtp) {
    const codec = byPayload(fmtp.payload);
    if (codec) Object.assign(codec.parameters, parseParameters(String(fmtp.config ?? '')));
  }
  for (const feedback of media.rtcpFb ?? []) {
    // `*` (every payload type) names no codec of ours.
    const codec = byPayload(feedback.payload);
    if (codec) codec.rtcpFeedback.push({ type: feedback.type, parameter: feedback.subtype?.split(' ')[0] ?? '' });
  }
  return codecs;
}

/** The client's outgoing stream: its first SSRC that is not a retransmission (FID) SSRC. */
function readStream(media: MediaDescription): { ssrc?: number; cname?: string } {
  const retransmission = new Set(
    (media.ssrcGroups ?? []).filter((group) => group.semantics === 'FID').flatMap((group) => group.ssrcs.split(' ').slice(1).map(Number)),
  );
  const ssrcs: Array<{ ssrc: number; cname?: string }> = [];
  for (const line of media.ssrcs ?? []) {
    const ssrc = Number(line.id);
    let entry = ssrcs.find((s) => s.ssrc === ssrc);
    if (!entry) ssrcs.push((entry = { ssrc }));
    if (line.attribute === 'cname') entry.cname = line.value;
  }
  const primary = ssrcs.find((s) => !retransmission.has(s.ssrc));
  return { ssrc: primary?.ssrc, cname: primary?.cname ?? ssrcs.find((s) => s.cname)?.cname };
}

/** Reads the client's answer; throws SdpError when it lacks what the transport or producers need. */
export function parseAnswer(sdp: string): Answer {
  let parsed: SessionDescription;
  try {
    // Lines are read as the hand-written reader before sdp-transform did: any line end, surrounding blanks ignored.
    parsed = parse(
      sdp
        .split(/\r\n|\r|\n/)
        .map((line) => line.trim())
        .filter((line) => line !== '')
        .join('\r\n'),
    );
  } catch {
    throw new SdpError('unreadable SDP');
  }
  refuseMalformed((parsed as { invalid?: Array<{ value: string }> }).invalid);
  const media = parsed.media ?? [];
  if (media.length === 0) throw new SdpError('no media sections');
  const sections = media.map((section) => {
    refuseMalformed(section.invalid);
    return {
      setup: section.setup,
      fingerprint: readFingerprint(section.fingerprint),
      section: {
        mid: section.mid === undefined ? '' : String(section.mid),
        kind: section.type,
        port: Number(section.port),
        direction: (section.direction ?? 'sendrecv') as Direction,
        codecs: readCodecs(section),
        headerExtensions: (section.ext ?? []).map((extension) => ({ id: Number(extension.value), uri: extension.uri })),
        ...readStream(section),
      } satisfies AnswerSection,
    };
  });
  const setup = sections.find((s) => s.setup)?.setup ?? parsed.setup;
  const fingerprint = readFingerprint(parsed.fingerprint) ?? sections.find((s) => s.fingerprint)?.fingerprint;
  if (setup !== 'active' && setup !== 'passive') throw new SdpError(`an answer must choose a DTLS role, got '${setup}'`);
  if (!fingerprint) throw new SdpError('no DTLS fingerprint');
  return {
    // Whoever is `active` opens the DTLS handshake, i.e. acts as the DTLS client.
    dtlsRole: setup === 'active' ? 'client' : 'server',
    fingerprint,
    sections: sections.map(({ section }) => section),
  };
}
