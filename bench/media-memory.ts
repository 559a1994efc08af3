/**
 * Memory of the media node by participants, for choosing its instance type (docs/voice.md, "Capacity").
 * `MEDIASOUP_WORKER_BIN=... npx tsx bench/media-memory.ts`
 *
 * Loads the node's whole service module (what `media-node/main.ts` loads: the AWS SDK's DynamoDB client,
 * ws, mediasoup), starts the node's WorkerPool with MEDIA_WORKERS workers (default 2: a t4g instance has 2
 * vCPUs) and then, step by step, adds participants in voice channels of ROOM_SIZE people as the node builds
 * them: per participant a WebRtcTransport on its worker's WebRtcServer, an Opus producer and a consumer of
 * every other participant's audio; one participant per room also shares a VP8 screen consumed by the others.
 * No media flows (no browser), so packet buffers (NACK and retransmission) are not in these figures; they
 * are bounded per stream by mediasoup. RSS: the Node process (process.memoryUsage) and each worker (VmRSS).
 */
import { readFileSync } from 'node:fs';
import type { types } from 'mediasoup';
import { CONSUMER_RTP_CAPABILITIES, ROUTER_MEDIA_CODECS } from '../media-node/codecs';
import { WorkerPool } from '../media-node/workers';

const WORKERS = Number(process.env.MEDIA_WORKERS ?? 2);
const ROOM_SIZE = Number(process.env.ROOM_SIZE ?? 5);
const STEPS = (process.env.PARTICIPANTS ?? '0,4,10,25,50,100,200').split(',').map(Number);

const rssOf = (pid: number) => Number(/VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0) / 1024;
const mib = (n: number) => n.toFixed(1);

let ssrc = 1000;
const opus = (): types.RtpParameters => ({
  codecs: [{ mimeType: 'audio/opus', payloadType: 96, clockRate: 48000, channels: 2, parameters: { minptime: 10, useinbandfec: 1 }, rtcpFeedback: [] }],
  encodings: [{ ssrc: ssrc++ }],
  headerExtensions: [],
  rtcp: { cname: `c${ssrc}` },
});
const vp8 = (): types.RtpParameters => ({
  codecs: [{ mimeType: 'video/VP8', payloadType: 99, clockRate: 90000, parameters: {}, rtcpFeedback: [{ type: 'nack', parameter: '' }, { type: 'nack', parameter: 'pli' }] }],
  encodings: [{ ssrc: ssrc++ }],
  headerExtensions: [],
  rtcp: { cname: `c${ssrc}` },
});

async function main(): Promise<void> {
  // The node process as it runs: the same modules loaded (they are what its baseline RSS is made of).
  await import('../media-node/service');
  const pool = await WorkerPool.start({ workers: WORKERS, rtcListenIp: '127.0.0.1', announcedAddress: undefined, rtcBasePort: 0 }, () => {});
  const rooms: Array<{ router: types.Router; worker: ReturnType<WorkerPool['pick']>; members: Array<{ transport: types.WebRtcTransport; audio: types.Producer }>; video?: types.Producer }> = [];
  let participants = 0;
  const rows: string[] = [];
  for (const target of STEPS) {
    while (participants < target) {
      let room = rooms.at(-1);
      if (!room || room.members.length >= ROOM_SIZE) {
        const worker = pool.pick();
        worker.rooms++;
        room = { router: await worker.worker.createRouter({ mediaCodecs: ROUTER_MEDIA_CODECS }), worker, members: [] };
        rooms.push(room);
      }
      const transport = await room.router.createWebRtcTransport({ webRtcServer: room.worker.webRtcServer });
      const audio = await transport.produce({ kind: 'audio', rtpParameters: opus() });
      for (const other of room.members) {
        await transport.consume({ producerId: other.audio.id, rtpCapabilities: CONSUMER_RTP_CAPABILITIES });
        await other.transport.consume({ producerId: audio.id, rtpCapabilities: CONSUMER_RTP_CAPABILITIES });
        if (room.video) await transport.consume({ producerId: room.video.id, rtpCapabilities: CONSUMER_RTP_CAPABILITIES });
      }
      if (!room.video && room.members.length === 0) room.video = await transport.produce({ kind: 'video', rtpParameters: vp8() });
      room.members.push({ transport, audio });
      participants++;
    }
    if (global.gc) global.gc();
    await new Promise((resolve) => setTimeout(resolve, 500));
    const workerRss = pool.list().map((w) => rssOf(w.worker.pid));
    const node = process.memoryUsage().rss / 1024 / 1024;
    const total = node + workerRss.reduce((a, b) => a + b, 0);
    rows.push(`| ${participants} | ${rooms.length} | ${mib(node)} | ${workerRss.map(mib).join(' + ')} | ${mib(total)} |`);
  }
  console.log(`Node ${process.version}, ${WORKERS} workers, rooms of ${ROOM_SIZE} (one screen share each)`);
  console.log('| participants | rooms | node process MiB | workers MiB | total MiB |');
  console.log('| --- | --- | --- | --- | --- |');
  for (const row of rows) console.log(row);
  pool.close();
  process.exit(0);
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
