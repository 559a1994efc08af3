import {
  MediaStreamTrack,
  RTCPeerConnection,
  RTCRtpCodecParameters,
  RTCRtpHeaderExtensionParameters,
  RtpHeader,
  RtpPacket,
} from 'werift';
import { type Credentials, VoiceSocket } from './voice-socket';

const OPUS_FRAME_MS = 20;
/** An Opus TOC byte for a 20 ms CELT frame followed by filler: the SFU forwards payloads without decoding. */
const OPUS_PAYLOAD = Buffer.from([0xfc, 0xff, 0xfe, 0x00, 0x11, 0x22, 0x33, 0x44]);
/** Keyframes as the SFU recognises them (it forwards video to a new viewer from a keyframe on). */
const KEYFRAMES = {
  // Payload descriptor (S=1), frame tag with P=0, start code, 320x240.
  VP8: { payloadType: 99, payload: Buffer.from([0x10, 0x50, 0x01, 0x00, 0x9d, 0x01, 0x2a, 0x40, 0x01, 0xf0, 0x00, 0x00, 0x00, 0x00]) },
  // A single-NAL-unit packet holding a sequence parameter set (NAL type 7).
  H264: { payloadType: 98, payload: Buffer.from([0x67, 0x42, 0xe0, 0x1f, 0xda, 0x02, 0x80, 0xbf, 0xe5, 0x84, 0x00]) },
};

export interface OfferedSection {
  kind: string;
  mid: string;
  userId?: number;
  direction?: string;
  text: string;
}

/** The m-sections of an SDP, with what the voice protocol puts in them (docs/upstream.md, "The voice socket"). */
export function sectionsOf(sdp: string): OfferedSection[] {
  return sdp
    .split(/\r\nm=/)
    .slice(1)
    .map((text) => {
      const user = /\r\na=user:(\d+)/.exec(text)?.[1];
      return {
        kind: text.slice(0, text.indexOf(' ')),
        mid: /\r\na=mid:(\S+)/.exec(text)?.[1] ?? '',
        userId: user === undefined ? undefined : Number(user),
        direction: /\r\na=(sendrecv|sendonly|recvonly|inactive)\r\n/.exec(text)?.[1],
        text: `m=${text}`,
      };
    });
}

/**
 * A voice client on werift that behaves like the Svelte client: it answers every offer, sending its
 * microphone on `my_voice` and its screen on `my_video`; here both are synthetic RTP streams.
 */
export class WeriftVoicePeer {
  readonly pc = new RTCPeerConnection({
    bundlePolicy: 'max-bundle',
    iceUseIpv6: false,
    headerExtensions: {
      audio: [
        new RTCRtpHeaderExtensionParameters({ id: 1, uri: 'urn:ietf:params:rtp-hdrext:sdes:mid' }),
        // As browsers send it: the node's speaking detection reads it (media-node/room.ts).
        new RTCRtpHeaderExtensionParameters({ id: 10, uri: 'urn:ietf:params:rtp-hdrext:ssrc-audio-level' }),
      ],
      video: [new RTCRtpHeaderExtensionParameters({ id: 1, uri: 'urn:ietf:params:rtp-hdrext:sdes:mid' })],
    },
    codecs: {
      audio: [new RTCRtpCodecParameters({ mimeType: 'audio/opus', clockRate: 48000, channels: 2, payloadType: 96 })],
      video: [
        new RTCRtpCodecParameters({
          mimeType: 'video/VP8',
          clockRate: 90000,
          payloadType: 99,
          rtcpFeedback: [{ type: 'nack' }, { type: 'nack', parameter: 'pli' }],
        }),
        new RTCRtpCodecParameters({
          mimeType: 'video/H264',
          clockRate: 90000,
          payloadType: 98,
          parameters: 'level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f',
          rtcpFeedback: [{ type: 'nack' }, { type: 'nack', parameter: 'pli' }],
        }),
      ],
    },
  });
  /** RTP packets received, per sending user and kind (`7/audio`). */
  readonly received = new Map<string, number>();
  readonly offers: string[] = [];
  private users = new Map<string, { userId: number; kind: string }>();
  private readonly timers: NodeJS.Timeout[] = [];
  private readonly mic = new MediaStreamTrack({ kind: 'audio' });
  private readonly screen = new MediaStreamTrack({ kind: 'video' });
  private sendingScreen = false;
  private answering: Promise<void>;

  private constructor(
    readonly socket: VoiceSocket,
    answerAfter: Promise<void>,
  ) {
    this.answering = answerAfter;
    // Tracks appear while the remote description is applied; the mid says whose media it is.
    this.pc.ontrack = ({ track, transceiver }) => {
      track.onReceiveRtp.subscribe(() => {
        const source = this.users.get(transceiver.mid ?? '');
        if (!source) return;
        const key = `${source.userId}/${source.kind}`;
        this.received.set(key, (this.received.get(key) ?? 0) + 1);
      });
    };
    const onFrame = (frame: { name: string; data: unknown }) => {
      if (frame.name !== 'offer') return;
      const { sdp } = frame.data as { sdp: string };
      this.answering = this.answering.then(() => this.answer(sdp)).catch((error: Error) => {
        console.error(`werift peer failed to answer: ${error.stack}`);
      });
    };
    // The first offer can arrive in the same read as the upgrade response, before `open` resolved the
    // socket to us: answer what the socket already holds, then everything that follows.
    for (const frame of socket.frames) onFrame(frame);
    socket.ws.on('message', (raw) => onFrame(JSON.parse(raw.toString()) as { name: string; data: unknown }));
  }

  /** `answerAfter` holds the answers (so the transport cannot connect) until it resolves. */
  static async join(
    baseUrl: string,
    channel: number,
    credentials: Credentials,
    query: Record<string, string> = {},
    answerAfter: Promise<void> = Promise.resolve(),
  ): Promise<WeriftVoicePeer> {
    const socket = await VoiceSocket.open(baseUrl, { channel: String(channel), ...query }, credentials);
    return new WeriftVoicePeer(socket, answerAfter);
  }

  private async answer(sdp: string): Promise<void> {
    this.offers.push(sdp);
    await this.pc.setRemoteDescription({ type: 'offer', sdp });
    // werift-ice falls back to a public STUN server and waits seconds for it; loopback needs none.
    for (const transport of this.pc.iceTransports) (transport.connection as { stunServer?: unknown }).stunServer = undefined;
    this.users = new Map(
      sectionsOf(sdp).flatMap((section) => (section.userId === undefined ? [] : [[section.mid, { userId: section.userId, kind: section.kind }]])),
    );
    for (const transceiver of this.pc.getTransceivers()) {
      if (transceiver.mid === 'my_voice' && transceiver.sender.track !== this.mic) {
        await transceiver.sender.replaceTrack(this.mic);
        transceiver.setDirection('sendonly');
      } else if (transceiver.mid === 'my_video' && this.sendingScreen && transceiver.sender.track !== this.screen) {
        await transceiver.sender.replaceTrack(this.screen);
        transceiver.setDirection('sendonly');
      }
    }
    const answer = await this.pc.createAnswer();
    await this.pc.setLocalDescription(answer);
    this.socket.send('offer', { type: 'answer', sdp: this.pc.localDescription!.sdp });
  }

  /** The audio level the microphone's packets carry (ssrc-audio-level: 0 is loudest, 127 silence). */
  micLevel = 127;
  /** When the last microphone packet was actually written (a busy event loop delays the 20 ms timer). */
  lastMicPacketAt = 0;
  private micTimer?: NodeJS.Timeout;

  /** Starts a 50 packets/s Opus stream on `my_voice`, at `level` (-dBov, default silence). */
  startMicrophone(level = 127): void {
    this.micLevel = level;
    let sequenceNumber = 1;
    let timestamp = 0;
    this.timers.push(
      (this.micTimer = setInterval(() => {
        const header = new RtpHeader({
          payloadType: 96,
          sequenceNumber: sequenceNumber++ & 0xffff,
          timestamp,
          marker: false,
          extensions: [{ id: 10, payload: Buffer.from([this.micLevel & 0x7f]) }],
        });
        timestamp = (timestamp + 960) >>> 0;
        this.mic.writeRtp(new RtpPacket(header, OPUS_PAYLOAD));
        this.lastMicPacketAt = Date.now();
      }, OPUS_FRAME_MS)),
    );
  }

  /** Stops sending microphone packets. */
  stopMicrophone(): void {
    clearInterval(this.micTimer);
  }

  /** Asks to share the screen and starts a video stream (every packet a keyframe) for `my_video`. */
  startScreen(options: { codec: 'VP8' | 'H264'; bitrate?: number }): void {
    this.sendingScreen = true;
    this.socket.send('enable_video', options);
    const { payloadType, payload } = KEYFRAMES[options.codec];
    let sequenceNumber = 1;
    let timestamp = 0;
    this.timers.push(
      setInterval(() => {
        const header = new RtpHeader({ payloadType, sequenceNumber: sequenceNumber++ & 0xffff, timestamp, marker: true });
        timestamp = (timestamp + 3000) >>> 0;
        this.screen.writeRtp(new RtpPacket(header, payload));
      }, 33),
    );
  }

  count(userId: number, kind: 'audio' | 'video' = 'audio'): number {
    return this.received.get(`${userId}/${kind}`) ?? 0;
  }

  get lastOffer(): string {
    return this.offers[this.offers.length - 1] ?? '';
  }

  /** Resolves with the first offer (past or future) whose SDP matches. */
  async offer(match: (sdp: string) => boolean, timeoutMs = 10_000): Promise<string> {
    const data = await this.socket.waitFor('offer', (d) => match((d as { sdp: string }).sdp), 0, timeoutMs);
    return (data as { sdp: string }).sdp;
  }

  async close(): Promise<void> {
    for (const timer of this.timers) clearInterval(timer);
    this.socket.close();
    await this.pc.close();
  }
}
