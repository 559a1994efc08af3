import { createSocket, type Socket } from 'node:dgram';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Worker } from 'node:worker_threads';

/**
 * Synthetic RTP for the media bench: well-formed packets (RFC 3550 header, RFC 8285 one-byte header
 * extensions) paced from a Node UDP socket, and a sink socket that counts what arrives per SSRC.
 */

/** A UDP socket on an ephemeral loopback port, once it is bound. */
export async function bindLoopbackUdp(): Promise<Socket> {
  const socket = createSocket('udp4');
  await new Promise<void>((resolve, reject) => {
    socket.once('error', reject);
    socket.bind(0, '127.0.0.1', () => {
      socket.off('error', reject);
      resolve();
    });
  });
  return socket;
}

/** One-byte header extensions as a browser sends them; ids come from media-node/codecs.ts. */
export interface ExtensionIds {
  mid?: number;
  absSendTime?: number;
  audioLevel?: number;
  transportCc?: number;
}

export interface StreamShape {
  kind: 'audio' | 'video';
  payloadType: number;
  clockRate: number;
  /** Frames per second (Opus: 50 of 20 ms). */
  framesPerSecond: number;
  /** RTP packets per frame (video frames are split across several packets; Opus has one). */
  packetsPerFrame: number;
  /** Payload bytes per packet, the codec's own header included. */
  payloadBytes: number;
  /** Video: a keyframe this often, besides the ones asked for by PLI/FIR. */
  keyFrameIntervalMs?: number;
}

export const OPUS_SHAPE: StreamShape = { kind: 'audio', payloadType: 96, clockRate: 48000, framesPerSecond: 50, packetsPerFrame: 1, payloadBytes: 100 };
/** ~1.7 Mbit/s of 30 fps screen share: 6 packets of 1,100 bytes per frame, 180 packets/s. */
export const VP8_SHAPE: StreamShape = {
  kind: 'video',
  payloadType: 99,
  clockRate: 90000,
  framesPerSecond: 30,
  packetsPerFrame: 6,
  payloadBytes: 1100,
  keyFrameIntervalMs: 2000,
};

/**
 * Payload offset of the window tag: the sender writes its current epoch there and the sink counts per epoch,
 * so a window's packets are counted wherever they arrive late, not by when the window closed. Past the
 * codec headers (VP8 descriptor and keyframe header end at 14); SFUs forward payloads untouched.
 */
export const EPOCH_OFFSET = 20;

export function packetsPerSecond(shape: StreamShape): number {
  return shape.framesPerSecond * shape.packetsPerFrame;
}

interface SourceState {
  ssrc: number;
  port: number;
  mid: string;
  seq: number;
  timestampBase: number;
  frames: number;
  pictureId: number;
  keyFrameWanted: boolean;
  lastKeyFrameAt: number;
  sent: number;
}

/** abs-send-time: 24-bit 6.18 fixed-point seconds. */
function absSendTime(nowMs: number): number {
  return Math.floor(((nowMs / 1000) * (1 << 18)) % (1 << 24)) & 0xffffff;
}

/**
 * Sends the streams of several producers, each to its own PlainTransport port (comedia learns our address
 * from the first packet). Packets are due by elapsed time, not by timer ticks, so the rate is exact even
 * when the event loop is late; a late tick sends the frames it owes at once, as a real sender catching up would.
 */
export class RtpSource {
  private readonly socket: Socket;
  private readonly sources: SourceState[] = [];
  private timer?: NodeJS.Timeout;
  private startedAt = 0;
  private transportSeq = 0;
  private readonly payload: Buffer;
  private epochNow = 0;
  private readonly sentInEpoch = new Map<number, number>();

  private constructor(
    private readonly shape: StreamShape,
    private readonly extensions: ExtensionIds,
    socket: Socket,
  ) {
    this.socket = socket;
    // Opus: TOC byte of a 20 ms CELT frame, then filler; the SFU forwards payloads without decoding them.
    this.payload = Buffer.alloc(shape.payloadBytes, 0x5a);
    if (shape.kind === 'audio') this.payload[0] = 0xfc;
    // RTCP from the producers' transports: answer PLI/FIR with a keyframe, as an encoder would.
    socket.on('message', (packet) => this.onRtcp(packet));
  }

  static async open(shape: StreamShape, extensions: ExtensionIds): Promise<RtpSource> {
    const socket = await bindLoopbackUdp();
    socket.setSendBufferSize(4 * 1024 * 1024);
    return new RtpSource(shape, extensions, socket);
  }

  add(port: number, ssrc: number, mid: string): void {
    this.sources.push({
      ssrc,
      port,
      mid,
      seq: (ssrc * 7) & 0xffff,
      timestampBase: (ssrc * 13) >>> 0,
      frames: 0,
      pictureId: ssrc & 0x7fff,
      keyFrameWanted: true,
      lastKeyFrameAt: 0,
      sent: 0,
    });
  }

  /** Packets sent so far, all sources together. */
  get sent(): number {
    let total = 0;
    for (const source of this.sources) total += source.sent;
    return total;
  }

  /** Tags the packets sent from now on; returns the epoch's number. */
  nextEpoch(): number {
    return ++this.epochNow;
  }

  /** Packets sent (all sources) while `epoch` was current. */
  sentIn(epoch: number): number {
    return this.sentInEpoch.get(epoch) ?? 0;
  }

  start(): void {
    this.startedAt = performance.now();
    this.timer = setInterval(() => this.tick(), 5);
  }

  private tick(): void {
    const now = performance.now();
    const elapsed = (now - this.startedAt) / 1000;
    for (const [index, source] of this.sources.entries()) {
      // Speakers are not in step: each source's frames are offset by its share of one frame interval.
      const due = Math.floor(elapsed * this.shape.framesPerSecond - index / this.sources.length);
      while (source.frames < due) {
        this.sendFrame(source, now);
        source.frames++;
      }
    }
  }

  private sendFrame(source: SourceState, now: number): void {
    const { shape } = this;
    const timestamp = (source.timestampBase + Math.round((source.frames * shape.clockRate) / shape.framesPerSecond)) >>> 0;
    let keyFrame = false;
    if (shape.kind === 'video') {
      keyFrame = source.keyFrameWanted || now - source.lastKeyFrameAt >= (shape.keyFrameIntervalMs ?? Infinity);
      if (keyFrame) {
        source.keyFrameWanted = false;
        source.lastKeyFrameAt = now;
      }
      source.pictureId = (source.pictureId + 1) & 0x7fff;
    }
    for (let i = 0; i < shape.packetsPerFrame; i++) {
      const last = i === shape.packetsPerFrame - 1;
      const packet = this.packet(source, timestamp, now, shape.kind === 'video' && last, (payload) => {
        if (shape.kind !== 'video') return;
        // VP8 payload descriptor (RFC 7741): X=1, S on the frame's first packet, PictureID (15 bits).
        payload[0] = i === 0 ? 0x90 : 0x80;
        payload[1] = 0x80;
        payload[2] = 0x80 | (source.pictureId >> 8);
        payload[3] = source.pictureId & 0xff;
        // VP8 frame tag: bit 0 (P) is 0 on a keyframe; the start code follows it there.
        if (i === 0) {
          payload[4] = keyFrame ? 0x50 : 0x51;
          if (keyFrame) payload.set([0x01, 0x00, 0x9d, 0x01, 0x2a, 0x80, 0x07, 0x38, 0x04], 5);
        }
      });
      packet.writeUInt32BE(this.epochNow, packet.length - this.payload.length + EPOCH_OFFSET);
      this.socket.send(packet, source.port, '127.0.0.1');
      source.sent++;
      this.sentInEpoch.set(this.epochNow, (this.sentInEpoch.get(this.epochNow) ?? 0) + 1);
    }
  }

  private packet(source: SourceState, timestamp: number, now: number, marker: boolean, fillPayload: (payload: Buffer) => void): Buffer {
    const ext = this.extensions;
    const elements: Array<[number, Buffer]> = [];
    if (ext.mid) elements.push([ext.mid, Buffer.from(source.mid)]);
    if (ext.absSendTime) {
      const t = absSendTime(now);
      elements.push([ext.absSendTime, Buffer.from([t >> 16, (t >> 8) & 0xff, t & 0xff])]);
    }
    // Voice activity bit set, level 30 dBov below full scale: a speaking participant.
    if (ext.audioLevel) elements.push([ext.audioLevel, Buffer.from([0x80 | 30])]);
    if (ext.transportCc) {
      this.transportSeq = (this.transportSeq + 1) & 0xffff;
      elements.push([ext.transportCc, Buffer.from([this.transportSeq >> 8, this.transportSeq & 0xff])]);
    }
    const extensionBytes = elements.reduce((n, [, value]) => n + 1 + value.length, 0);
    const extensionWords = Math.ceil(extensionBytes / 4);
    const headerBytes = 12 + (elements.length > 0 ? 4 + extensionWords * 4 : 0);
    const packet = Buffer.alloc(headerBytes + this.payload.length);
    packet[0] = 0x80 | (elements.length > 0 ? 0x10 : 0);
    packet[1] = (marker ? 0x80 : 0) | this.shape.payloadType;
    packet.writeUInt16BE(source.seq, 2);
    source.seq = (source.seq + 1) & 0xffff;
    packet.writeUInt32BE(timestamp, 4);
    packet.writeUInt32BE(source.ssrc, 8);
    if (elements.length > 0) {
      packet.writeUInt16BE(0xbede, 12);
      packet.writeUInt16BE(extensionWords, 14);
      let at = 16;
      for (const [id, value] of elements) {
        packet[at++] = (id << 4) | (value.length - 1);
        value.copy(packet, at);
        at += value.length;
      }
    }
    this.payload.copy(packet, headerBytes);
    fillPayload(packet.subarray(headerBytes));
    return packet;
  }

  private onRtcp(packet: Buffer): void {
    // A compound packet: walk it for PSFB (206) PLI (FMT 1) or FIR (FMT 4); media SSRC at bytes 8..11.
    let at = 0;
    while (at + 12 <= packet.length) {
      const fmt = packet[at] & 0x1f;
      const type = packet[at + 1];
      const length = (packet.readUInt16BE(at + 2) + 1) * 4;
      if (type === 206 && (fmt === 1 || fmt === 4)) {
        const ssrc = fmt === 1 ? packet.readUInt32BE(at + 8) : at + 16 <= packet.length ? packet.readUInt32BE(at + 12) : 0;
        for (const source of this.sources) if (source.ssrc === ssrc) source.keyFrameWanted = true;
      }
      at += length;
    }
  }

  async close(): Promise<void> {
    clearInterval(this.timer);
    await closeSocket(this.socket);
  }
}

/** What the sink has counted so far. */
export interface SinkCounts {
  /** RTP packets. */
  total: number;
  rtcp: number;
  perSsrc: Map<number, number>;
  /** RTP packets per sender epoch (see EPOCH_OFFSET). */
  epochs: Map<number, number>;
}

/**
 * Counts RTP packets (not RTCP) arriving on a few UDP sockets, per SSRC and per sender epoch, in a worker
 * thread (rtp-sink-thread.ts). Several sockets because each has its own kernel buffer (net.core.rmem_max
 * caps one): together they absorb the bursts that pile up while the thread waits for a core on a busy machine.
 */
export class RtpSink {
  private nextId = 0;
  private readonly pending = new Map<number, { resolve: (counts: SinkCounts) => void; reject: (error: Error) => void }>();
  private closing?: Promise<void>;
  private exited = false;

  private constructor(
    private readonly thread: Worker,
    readonly ports: number[],
  ) {
    thread.on('message', (message: { type: string; id: number; snapshot: SinkCounts }) => {
      if (message.type !== 'snapshot') return;
      this.pending.get(message.id)?.resolve(message.snapshot);
      this.pending.delete(message.id);
    });
    thread.on('exit', () => {
      this.exited = true;
      for (const { reject } of this.pending.values()) reject(new Error('the sink thread has exited'));
      this.pending.clear();
    });
  }

  static async open(sockets = 8): Promise<RtpSink> {
    // The thread's TypeScript is loaded through tsx's require hook, as `npm run bench` loads this file.
    const entry = `require(${JSON.stringify(require.resolve('tsx/cjs'))}); require(${JSON.stringify(join(__dirname, 'rtp-sink-thread.ts'))});`;
    const thread = new Worker(entry, { eval: true, workerData: { sockets } });
    try {
      const ports = await new Promise<number[]>((resolve, reject) => {
        thread.once('error', reject);
        thread.once('exit', (code) => reject(new Error(`sink thread exited (${code}) before it was ready`)));
        thread.once('message', (message: { type: string; ports: number[] }) => resolve(message.ports));
      });
      thread.removeAllListeners('exit');
      thread.removeAllListeners('error');
      thread.on('error', (error) => console.error(`  sink thread: ${error.message}`));
      return new RtpSink(thread, ports);
    } catch (error) {
      await thread.terminate();
      throw error;
    }
  }

  /** The counts so far. */
  async counts(): Promise<SinkCounts> {
    if (this.exited) throw new Error('the sink thread has exited');
    const id = ++this.nextId;
    return new Promise<SinkCounts>((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      this.thread.postMessage({ type: 'snapshot', id });
    });
  }

  /** Datagrams the kernel dropped on these sockets because their buffers were full (/proc/net/udp), if readable. */
  kernelDrops(): number | undefined {
    return udpSocketDrops(this.ports);
  }

  async close(): Promise<void> {
    if (this.exited) return;
    this.closing ??= new Promise<void>((resolve) => {
      this.thread.once('exit', () => resolve());
      this.thread.postMessage({ type: 'close' });
      // A thread that does not end by itself is ended.
      setTimeout(() => void this.thread.terminate(), 2000).unref();
    });
    return this.closing;
  }
}

const closed = new WeakSet<Socket>();

/** Closes once: cleanup paths may reach a socket twice. */
async function closeSocket(socket: Socket): Promise<void> {
  if (closed.has(socket)) return;
  closed.add(socket);
  await new Promise<void>((resolve) => socket.close(() => resolve()));
}

/**
 * Packets the kernel dropped machine-wide because a CPU's input backlog was full (/proc/net/softnet_stat,
 * second column): on loopback every datagram passes that queue, and it overflows when the receiving side waits
 * for a core. Other processes' loopback traffic counts too.
 */
export function backlogDrops(): number | undefined {
  try {
    return readFileSync('/proc/net/softnet_stat', 'utf8')
      .trim()
      .split('\n')
      .reduce((sum, line) => sum + Number.parseInt(line.trim().split(/\s+/)[1], 16), 0);
  } catch {
    return undefined;
  }
}

/** The `drops` column of /proc/net/udp, summed over the sockets bound to 127.0.0.1 on `ports`. */
function udpSocketDrops(ports: number[]): number | undefined {
  try {
    const wanted = new Set(ports.map((port) => `0100007F:${port.toString(16).toUpperCase().padStart(4, '0')}`));
    let drops = 0;
    let found = 0;
    for (const line of readFileSync('/proc/net/udp', 'utf8').split('\n').slice(1)) {
      const fields = line.trim().split(/\s+/);
      if (wanted.has(fields[1])) {
        drops += Number(fields[fields.length - 1]);
        found++;
      }
    }
    return found === ports.length ? drops : undefined;
  } catch {
    // not Linux
    return undefined;
  }
}
