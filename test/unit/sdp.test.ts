/**
 * The media node's SDP (media-node/sdp.ts): the offer it writes from a transport and its sections, and what
 * it reads back from a client's answer. Behaviour only (what a browser and mediasoup rely on), checked
 * through a general SDP parser where line order does not matter, so any implementation of the two
 * functions passes.
 */
import { parse as parseSdp } from 'sdp-transform';
import { type OfferSection, type OfferTransport, parseAnswer, SdpError, writeOffer } from '../../media-node/sdp';

const transport: OfferTransport = {
  iceParameters: { usernameFragment: 'ufragAAAA', password: 'pwdBBBBBBBBBBBBBBBBBBBBBB', iceLite: true },
  iceCandidates: [
    { foundation: 'udpcandidate', priority: 1076302079, ip: '203.0.113.7', address: '203.0.113.7', protocol: 'udp', port: 40001, type: 'host' },
    { foundation: 'tcpcandidate', priority: 1076276479, ip: '203.0.113.7', address: '203.0.113.7', protocol: 'tcp', port: 40002, type: 'host', tcpType: 'passive' },
  ],
  dtlsParameters: {
    role: 'auto',
    fingerprints: [
      { algorithm: 'sha-1', value: 'AA:BB' },
      { algorithm: 'sha-256', value: '12:34:56' },
    ],
  },
};
const opus = { mimeType: 'audio/opus', payloadType: 100, clockRate: 48000, channels: 2, parameters: { minptime: 10, useinbandfec: 1 }, rtcpFeedback: [{ type: 'transport-cc', parameter: '' }] };
const h264 = {
  mimeType: 'video/H264',
  payloadType: 98,
  clockRate: 90000,
  parameters: { 'packetization-mode': 1, 'profile-level-id': '42e01f' },
  rtcpFeedback: [{ type: 'nack', parameter: '' }, { type: 'nack', parameter: 'pli' }],
};
const sections: OfferSection[] = [
  { mid: 'my_audio', kind: 'audio', direction: 'recvonly', codecs: [opus], headerExtensions: [{ uri: 'urn:ietf:params:rtp-hdrext:sdes:mid', id: 1 }], maxBitrate: 64_500 },
  {
    mid: 'u7a',
    kind: 'audio',
    direction: 'sendonly',
    codecs: [opus],
    headerExtensions: [],
    userId: 7,
    outgoing: { ssrc: 1111, cname: 'cname7', streamId: 'stream7', trackId: 'track7' },
  },
  { mid: 'u7v', kind: 'video', direction: 'inactive', codecs: [h264], headerExtensions: [], userId: 7 },
];

describe('writeOffer', () => {
  const text = writeOffer({ id: '4242', version: 3 }, transport, sections);
  const offer = parseSdp(text);

  test('a well-formed SDP with CRLF line ends', () => {
    expect(text.startsWith('v=0\r\n')).toBe(true);
    expect(text.endsWith('\r\n')).toBe(true);
    expect(text.replace(/\r\n/g, '')).not.toMatch(/[\r\n]/);
    expect(offer.origin).toMatchObject({ sessionId: 4242, sessionVersion: 3 });
  });

  test('session: ICE-lite, the sha-256 fingerprint, every section bundled in order', () => {
    expect(offer.icelite).toBe('ice-lite');
    expect(offer.fingerprint).toEqual({ type: 'sha-256', hash: '12:34:56' });
    expect(offer.groups).toEqual([{ type: 'BUNDLE', mids: 'my_audio u7a u7v' }]);
    expect(offer.media.map((m) => [m.type, String(m.mid), m.direction])).toEqual([
      ['audio', 'my_audio', 'recvonly'],
      ['audio', 'u7a', 'sendonly'],
      ['video', 'u7v', 'inactive'],
    ]);
  });

  test('without sha-256 the first fingerprint is offered', () => {
    const sha1Only = { ...transport, dtlsParameters: { role: 'auto' as const, fingerprints: [{ algorithm: 'sha-1' as const, value: 'AA:BB' }] } };
    expect(parseSdp(writeOffer({ id: '1', version: 1 }, sha1Only, sections)).fingerprint).toEqual({ type: 'sha-1', hash: 'AA:BB' });
  });

  test('each section: ICE credentials, the candidates (TCP passive), offering both DTLS roles, rtcp-mux', () => {
    for (const media of offer.media) {
      expect(media.iceUfrag).toBe('ufragAAAA');
      expect(media.icePwd).toBe('pwdBBBBBBBBBBBBBBBBBBBBBB');
      expect(media.setup).toBe('actpass');
      expect(media.rtcpMux).toBe('rtcp-mux');
      expect(media.candidates).toEqual([
        expect.objectContaining({ foundation: 'udpcandidate', transport: 'udp', ip: '203.0.113.7', port: 40001, type: 'host' }),
        expect.objectContaining({ foundation: 'tcpcandidate', transport: 'tcp', ip: '203.0.113.7', port: 40002, type: 'host', tcptype: 'passive' }),
      ]);
      expect(media.protocol).toBe('UDP/TLS/RTP/SAVPF');
    }
  });

  test('codecs: payload types, rtpmap with channels, fmtp parameters, feedback; header extensions', () => {
    const [mine, , video] = offer.media;
    expect(String(mine.payloads)).toBe('100');
    expect(mine.rtp).toEqual([{ payload: 100, codec: 'opus', rate: 48000, encoding: 2 }]);
    expect(mine.fmtp).toEqual([{ payload: 100, config: 'minptime=10;useinbandfec=1' }]);
    expect(mine.rtcpFb).toEqual([{ payload: 100, type: 'transport-cc' }]);
    expect(mine.ext).toEqual([{ value: 1, uri: 'urn:ietf:params:rtp-hdrext:sdes:mid' }]);
    expect(video.rtp).toEqual([{ payload: 98, codec: 'H264', rate: 90000 }]);
    expect(video.fmtp).toEqual([{ payload: 98, config: 'packetization-mode=1;profile-level-id=42e01f' }]);
    expect(video.rtcpFb).toEqual([
      { payload: 98, type: 'nack' },
      { payload: 98, type: 'nack', subtype: 'pli' },
    ]);
  });

  test('whose media a section carries (a=user), the stream the server sends, the bitrate cap', () => {
    expect(text.split('\r\n').filter((line) => line.startsWith('a=user:'))).toEqual(['a=user:7', 'a=user:7']);
    const sending = offer.media[1];
    expect(sending.msid).toEqual([{ id: 'stream7', appdata: 'track7' }]);
    expect(sending.ssrcs).toEqual(
      expect.arrayContaining([
        { id: 1111, attribute: 'cname', value: 'cname7' },
        { id: 1111, attribute: 'msid', value: 'stream7 track7' },
      ]),
    );
    expect(offer.media[0].bandwidth).toEqual(expect.arrayContaining([{ type: 'AS', limit: 65 }, { type: 'TIAS', limit: 64500 }]));
    expect(offer.media[0].ssrcs).toBeUndefined();
    expect(offer.media[2].bandwidth).toBeUndefined();
  });
});

/** A Chrome-style answer to an offer like the one above (media-level setup and fingerprint, a FID group). */
function answer(options: { setup?: string; sessionFingerprint?: boolean; eol?: string } = {}): string {
  const setup = options.setup ?? 'active';
  const fingerprint = 'a=fingerprint:SHA-256 AB:CD:EF';
  const lines = [
    'v=0',
    'o=- 7777 2 IN IP4 127.0.0.1',
    's=-',
    't=0 0',
    ...(options.sessionFingerprint ? [fingerprint] : []),
    'a=group:BUNDLE my_audio u7a u7v',
    'm=audio 9 UDP/TLS/RTP/SAVPF 100',
    'c=IN IP4 0.0.0.0',
    'a=ice-ufrag:cl1',
    'a=ice-pwd:clientpasswordclientpassword',
    ...(options.sessionFingerprint ? [] : [fingerprint]),
    `a=setup:${setup}`,
    'a=mid:my_audio',
    'a=extmap:1/sendonly urn:ietf:params:rtp-hdrext:sdes:mid',
    'a=sendonly',
    'a=msid:- track1',
    'a=rtcp-mux',
    'a=rtpmap:100 opus/48000/2',
    'a=rtcp-fb:100 transport-cc',
    'a=fmtp:100 minptime=10;useinbandfec=1;sprop-stereo=0',
    'a=ssrc-group:FID 5555 6666',
    'a=ssrc:6666 cname:rtxcname',
    'a=ssrc:5555 cname:clientcname',
    'a=ssrc:5555 msid:- track1',
    'm=audio 9 UDP/TLS/RTP/SAVPF 100',
    'a=mid:u7a',
    'a=recvonly',
    'a=rtpmap:100 opus/48000/2',
    'm=video 0 UDP/TLS/RTP/SAVPF 98 102',
    'a=mid:u7v',
    'a=inactive',
    'a=rtpmap:102 H264/90000',
    'a=fmtp:102 packetization-mode=1;profile-level-id=640032',
    'a=rtpmap:98 H264/90000',
    'a=rtcp-fb:98 nack pli',
    'a=rtcp-fb:99 nack',
    'a=fmtp:98 level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f',
  ];
  const eol = options.eol ?? '\r\n';
  return lines.join(eol) + eol;
}

describe('parseAnswer', () => {
  test('the DTLS role the client chose and its fingerprint (algorithm in lower case)', () => {
    expect(parseAnswer(answer())).toMatchObject({ dtlsRole: 'client', fingerprint: { algorithm: 'sha-256', value: 'AB:CD:EF' } });
    expect(parseAnswer(answer({ setup: 'passive' })).dtlsRole).toBe('server');
    expect(parseAnswer(answer({ sessionFingerprint: true })).fingerprint).toEqual({ algorithm: 'sha-256', value: 'AB:CD:EF' });
  });

  test('per section: mid, kind, port (0: rejected), the client\'s direction', () => {
    const { sections: read } = parseAnswer(answer());
    expect(read.map((s) => [s.mid, s.kind, s.port, s.direction])).toEqual([
      ['my_audio', 'audio', 9, 'sendonly'],
      ['u7a', 'audio', 9, 'recvonly'],
      ['u7v', 'video', 0, 'inactive'],
    ]);
  });

  test('codecs as mediasoup wants them: numeric fmtp values as numbers except profile-level-id; feedback of unknown payloads ignored', () => {
    const [mine, , video] = parseAnswer(answer()).sections;
    expect(mine.codecs).toEqual([
      { payloadType: 100, name: 'opus', clockRate: 48000, channels: 2, parameters: { minptime: 10, useinbandfec: 1, 'sprop-stereo': 0 }, rtcpFeedback: [{ type: 'transport-cc', parameter: '' }] },
    ]);
    expect(video.codecs).toEqual([
      // A profile-level-id of digits only is still a hex string (parsed as a number it would mean another profile).
      { payloadType: 102, name: 'H264', clockRate: 90000, channels: undefined, parameters: { 'packetization-mode': 1, 'profile-level-id': '640032' }, rtcpFeedback: [] },
      {
        payloadType: 98,
        name: 'H264',
        clockRate: 90000,
        channels: undefined,
        parameters: { 'level-asymmetry-allowed': 1, 'packetization-mode': 1, 'profile-level-id': '42e01f' },
        rtcpFeedback: [{ type: 'nack', parameter: 'pli' }],
      },
    ]);
    expect(mine.headerExtensions).toEqual([{ id: 1, uri: 'urn:ietf:params:rtp-hdrext:sdes:mid' }]);
  });

  test('the SSRC the client sends with is its first one that is not a retransmission SSRC, with its cname', () => {
    const [mine, other] = parseAnswer(answer()).sections;
    expect([mine.ssrc, mine.cname]).toEqual([5555, 'clientcname']);
    expect([other.ssrc, other.cname]).toEqual([undefined, undefined]);
  });

  test('bare LF line ends and surrounding spaces are read alike', () => {
    const crlf = parseAnswer(answer());
    expect(parseAnswer(answer({ eol: '\n' }))).toEqual(crlf);
    expect(parseAnswer(answer().split('\r\n').map((line) => `  ${line} `).join('\r\n'))).toEqual(crlf);
  });

  test('refusals: no DTLS role chosen, no fingerprint, a bad fingerprint, a bad rtpmap, no media', () => {
    const refused = (sdp: string) => {
      try {
        parseAnswer(sdp);
      } catch (error) {
        return error instanceof SdpError ? 'SdpError' : `other: ${String(error)}`;
      }
      return 'accepted';
    };
    expect(refused(answer({ setup: 'actpass' }))).toBe('SdpError');
    expect(refused(answer().replace('a=setup:active\r\n', ''))).toBe('SdpError');
    expect(refused(answer().replace('a=fingerprint:SHA-256 AB:CD:EF\r\n', ''))).toBe('SdpError');
    expect(refused(answer().replace('SHA-256 AB:CD:EF', 'md5 AB:CD:EF'))).toBe('SdpError');
    expect(refused(answer().replace('SHA-256 AB:CD:EF', 'sha-256'))).toBe('SdpError');
    expect(refused(answer().replace('a=rtpmap:100 opus/48000/2', 'a=rtpmap:100 opus'))).toBe('SdpError');
    expect(refused('v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\na=setup:active\r\na=fingerprint:sha-256 AB\r\n')).toBe('SdpError');
  });

  test('garbage is refused as bad SDP, never as a crash', () => {
    for (const garbage of ['', 'hello', '\u0000\u0001\u0002', 'm=', 'm=audio\r\na=setup:active', '{"sdp": 1}', 'a=fingerprint:', 'a='.repeat(1000)]) {
      expect(() => parseAnswer(garbage)).toThrow(SdpError);
    }
  });
});
