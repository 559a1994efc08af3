import type { types } from 'mediasoup';

/**
 * SDP for a server that always offers (PROTOCOL.md §4.4): the offer is written from the mediasoup
 * transport (ICE-lite, candidates embedded, DTLS fingerprint) plus one section per media slot; the
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
  /** Whose media the section carries: `a=user:<id>` (PROTOCOL.md §4.4). */
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

function writeSection(lines: string[], section: OfferSection, transport: OfferTransport): void {
  const payloadTypes = section.codecs.map((codec) => codec.payloadType);
  // Port and address are placeholders: with embedded candidates and ICE the client ignores them.
  lines.push(`m=${section.kind} 7 UDP/TLS/RTP/SAVPF ${payloadTypes.join(' ')}`, 'c=IN IP4 127.0.0.1');
  if (section.maxBitrate !== undefined) {
    lines.push(`b=AS:${Math.ceil(section.maxBitrate / 1000)}`, `b=TIAS:${section.maxBitrate}`);
  }
  lines.push(`a=ice-ufrag:${transport.iceParameters.usernameFragment}`, `a=ice-pwd:${transport.iceParameters.password}`);
  for (const candidate of transport.iceCandidates) {
    const tcpType = candidate.protocol === 'tcp' ? ` tcptype ${candidate.tcpType ?? 'passive'}` : '';
    lines.push(
      `a=candidate:${candidate.foundation} 1 ${candidate.protocol} ${candidate.priority} ${candidate.address} ${candidate.port} typ ${candidate.type}${tcpType}`,
    );
  }
  lines.push('a=end-of-candidates', 'a=setup:actpass', `a=mid:${section.mid}`);
  if (section.userId !== undefined) lines.push(`a=user:${section.userId}`);
  lines.push(`a=${section.direction}`);
  if (section.outgoing) lines.push(`a=msid:${section.outgoing.streamId} ${section.outgoing.trackId}`);
  lines.push('a=rtcp-mux', 'a=rtcp-rsize');
  for (const codec of section.codecs) {
    const channels = codec.channels && codec.channels > 1 ? `/${codec.channels}` : '';
    lines.push(`a=rtpmap:${codec.payloadType} ${codecName(codec.mimeType)}/${codec.clockRate}${channels}`);
    const fmtp = formatParameters(codec.parameters);
    if (fmtp) lines.push(`a=fmtp:${codec.payloadType} ${fmtp}`);
    for (const feedback of codec.rtcpFeedback ?? []) {
      lines.push(`a=rtcp-fb:${codec.payloadType} ${feedback.type}${feedback.parameter ? ` ${feedback.parameter}` : ''}`);
    }
  }
  for (const extension of section.headerExtensions) lines.push(`a=extmap:${extension.id} ${extension.uri}`);
  if (section.outgoing) {
    const { ssrc, cname, streamId, trackId } = section.outgoing;
    lines.push(`a=ssrc:${ssrc} cname:${cname}`, `a=ssrc:${ssrc} msid:${streamId} ${trackId}`);
  }
}

/** The whole offer; `version` must grow with every offer of a session (RFC 3264 §8). */
export function writeOffer(session: { id: string; version: number }, transport: OfferTransport, sections: OfferSection[]): string {
  const fingerprint =
    transport.dtlsParameters.fingerprints.find((f) => f.algorithm === 'sha-256') ?? transport.dtlsParameters.fingerprints[0];
  const lines = [
    'v=0',
    `o=- ${session.id} ${session.version} IN IP4 0.0.0.0`,
    's=-',
    't=0 0',
    'a=ice-lite',
    `a=fingerprint:${fingerprint.algorithm} ${fingerprint.value}`,
    'a=msid-semantic: WMS *',
    `a=group:BUNDLE ${sections.map((section) => section.mid).join(' ')}`,
  ];
  for (const section of sections) writeSection(lines, section, transport);
  return `${lines.join('\r\n')}\r\n`;
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
const DIRECTIONS: ReadonlySet<string> = new Set(['sendrecv', 'sendonly', 'recvonly', 'inactive']);

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

interface SectionDraft extends AnswerSection {
  setup?: string;
  fingerprint?: types.DtlsFingerprint;
  retransmissionSsrcs: Set<number>;
  ssrcs: Array<{ ssrc: number; cname?: string }>;
}

/** Reads the client's answer; throws SdpError when it lacks what the transport or producers need. */
export function parseAnswer(sdp: string): Answer {
  let sessionSetup: string | undefined;
  let sessionFingerprint: types.DtlsFingerprint | undefined;
  const sections: SectionDraft[] = [];
  let current: SectionDraft | undefined;
  for (const rawLine of sdp.split(/\r?\n/)) {
    const line = rawLine.trim();
    if (line.startsWith('m=')) {
      const [kind, port] = line.slice(2).split(' ');
      current = {
        mid: '',
        kind,
        port: Number(port),
        direction: 'sendrecv',
        codecs: [],
        headerExtensions: [],
        retransmissionSsrcs: new Set(),
        ssrcs: [],
      };
      sections.push(current);
      continue;
    }
    if (!line.startsWith('a=')) continue;
    const colon = line.indexOf(':');
    const name = colon < 0 ? line.slice(2) : line.slice(2, colon);
    const value = colon < 0 ? '' : line.slice(colon + 1);
    if (name === 'setup') {
      if (current) current.setup = value;
      else sessionSetup = value;
      continue;
    }
    if (name === 'fingerprint') {
      const [algorithm, hash] = value.split(' ');
      if (!FINGERPRINT_ALGORITHMS.has(algorithm?.toLowerCase()) || !hash) throw new SdpError('bad fingerprint');
      const fingerprint = { algorithm: algorithm.toLowerCase() as types.FingerprintAlgorithm, value: hash };
      if (current) current.fingerprint = fingerprint;
      else sessionFingerprint = fingerprint;
      continue;
    }
    if (!current) continue;
    if (DIRECTIONS.has(name)) {
      current.direction = name as Direction;
    } else if (name === 'mid') {
      current.mid = value;
    } else if (name === 'rtpmap') {
      const match = /^(\d+) ([^/]+)\/(\d+)(?:\/(\d+))?$/.exec(value);
      if (!match) throw new SdpError(`bad rtpmap '${value}'`);
      current.codecs.push({
        payloadType: Number(match[1]),
        name: match[2],
        clockRate: Number(match[3]),
        channels: match[4] ? Number(match[4]) : undefined,
        parameters: {},
        rtcpFeedback: [],
      });
    } else if (name === 'fmtp' || name === 'rtcp-fb') {
      const space = value.indexOf(' ');
      const codec = current.codecs.find((c) => c.payloadType === Number(value.slice(0, space)));
      if (!codec) continue;
      const rest = value.slice(space + 1);
      if (name === 'fmtp') {
        Object.assign(codec.parameters, parseParameters(rest));
      } else {
        const [type, parameter] = rest.split(' ');
        codec.rtcpFeedback.push({ type, parameter: parameter ?? '' });
      }
    } else if (name === 'extmap') {
      const match = /^(\d+)(?:\/\w+)? (\S+)/.exec(value);
      if (match) current.headerExtensions.push({ id: Number(match[1]), uri: match[2] });
    } else if (name === 'ssrc') {
      const match = /^(\d+) (\S+?)(?::(.*))?$/.exec(value);
      if (!match) continue;
      const ssrc = Number(match[1]);
      let entry = current.ssrcs.find((s) => s.ssrc === ssrc);
      if (!entry) current.ssrcs.push((entry = { ssrc }));
      if (match[2] === 'cname') entry.cname = match[3];
    } else if (name === 'ssrc-group') {
      const [semantics, , ...secondary] = value.split(' ');
      if (semantics === 'FID') for (const ssrc of secondary) current.retransmissionSsrcs.add(Number(ssrc));
    }
  }
  if (sections.length === 0) throw new SdpError('no media sections');
  const setup = sections.find((s) => s.setup)?.setup ?? sessionSetup;
  const fingerprint = sessionFingerprint ?? sections.find((s) => s.fingerprint)?.fingerprint;
  if (setup !== 'active' && setup !== 'passive') throw new SdpError(`an answer must choose a DTLS role, got '${setup}'`);
  if (!fingerprint) throw new SdpError('no DTLS fingerprint');
  return {
    // Whoever is `active` opens the DTLS handshake, i.e. acts as the DTLS client.
    dtlsRole: setup === 'active' ? 'client' : 'server',
    fingerprint,
    sections: sections.map(({ setup: _setup, fingerprint: _fingerprint, retransmissionSsrcs, ssrcs, ...section }) => {
      const primary = ssrcs.find((s) => !retransmissionSsrcs.has(s.ssrc));
      return { ...section, ssrc: primary?.ssrc, cname: primary?.cname ?? ssrcs.find((s) => s.cname)?.cname };
    }),
  };
}
