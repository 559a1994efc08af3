import type { Socket } from 'node:dgram';
import { parentPort, workerData } from 'node:worker_threads';
import { bindLoopbackUdp, EPOCH_OFFSET, type SinkCounts } from './rtp';

/**
 * The sink's sockets, in a thread of their own (started by RtpSink): reading every forwarded datagram is
 * the bench's heaviest work, and on the main thread it would delay the mediasoup channel and the senders' pacing.
 */

const counts = new Map<number, number>();
const epochs = new Map<number, number>();
let rtcp = 0;
let total = 0;

function count(packet: Buffer): void {
  if (packet.length < 12) return;
  // RFC 5761: with RTCP muxed, a second byte of 192..223 is an RTCP packet type.
  const second = packet[1];
  if (second >= 192 && second <= 223) {
    rtcp++;
    return;
  }
  const ssrc = packet.readUInt32BE(8);
  counts.set(ssrc, (counts.get(ssrc) ?? 0) + 1);
  total++;
  // Header: 12 bytes, CSRCs, then the extension block (the SFU writes its own) when X is set.
  let header = 12 + (packet[0] & 0x0f) * 4;
  if (packet[0] & 0x10 && packet.length >= header + 4) header += 4 + packet.readUInt16BE(header + 2) * 4;
  if (packet.length >= header + EPOCH_OFFSET + 4) {
    const epoch = packet.readUInt32BE(header + EPOCH_OFFSET);
    epochs.set(epoch, (epochs.get(epoch) ?? 0) + 1);
  }
}

async function bind(): Promise<Socket> {
  const socket = await bindLoopbackUdp();
  // As large as net.core.rmem_max allows: the sink must not be where packets are lost.
  socket.setRecvBufferSize(16 * 1024 * 1024);
  socket.on('message', count);
  return socket;
}

async function main(): Promise<void> {
  const port = parentPort!;
  const sockets: Socket[] = [];
  try {
    for (let i = 0; i < (workerData as { sockets: number }).sockets; i++) sockets.push(await bind());
  } catch (error) {
    for (const socket of sockets) socket.close();
    throw error;
  }
  port.on('message', (message: { type: 'snapshot' | 'close'; id?: number }) => {
    if (message.type === 'snapshot') {
      const snapshot: SinkCounts = { total, rtcp, perSsrc: new Map(counts), epochs: new Map(epochs) };
      port.postMessage({ type: 'snapshot', id: message.id, snapshot });
    } else {
      for (const socket of sockets) socket.close();
      port.close();
    }
  });
  port.postMessage({ type: 'ready', ports: sockets.map((socket) => socket.address().port) });
}

main().catch((error) => {
  throw error;
});
