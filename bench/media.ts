import { existsSync, readFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import type { types } from 'mediasoup';
import { REPOSITORY_ROOT } from '../lib/lambda-functions';
import { CONSUMER_RTP_CAPABILITIES, offeredExtensions, ROUTER_MEDIA_CODECS } from '../media-node/codecs';
import { formatTable, section, sleep } from './support/report';
import { backlogDrops, type ExtensionIds, OPUS_SHAPE, packetsPerSecond, RtpSink, RtpSource, type StreamShape, VP8_SHAPE } from './support/rtp';

/**
 * Forwarded consumer streams per mediasoup worker. One worker started by the media node's own WorkerPool,
 * a Router with the node's codecs, synthetic producers (PlainTransport with comedia, fed real RTP over
 * loopback UDP by bench/support/rtp.ts) and a growing number of consumers, each on a PlainTransport that
 * sends to a counting UDP sink. Per step: the worker's CPU (getResourceUsage, user + system) as a fraction
 * of one core, and delivered / expected packets. Baselines in the same run: the idle worker, and the
 * worker receiving the producers' streams with no consumer.
 */

export interface MediaOptions {
  /** Measuring window per step, seconds (BENCH_MEDIA_SECONDS). */
  seconds: number;
  kinds: Array<'audio' | 'video'>;
  /** Stop ramping once the worker uses this fraction of one core (BENCH_MEDIA_CEILING). */
  ceiling: number;
  /** Largest step, in consumer streams, per kind (BENCH_MEDIA_MAX_AUDIO, BENCH_MEDIA_MAX_VIDEO). */
  maxStreams: Record<'audio' | 'video', number>;
  /** Whole-bench time budget, seconds: no new step starts after it (BENCH_MEDIA_BUDGET). */
  budgetSeconds: number;
}

export interface MediaStep {
  streams: number;
  /** Listener transports: each consumes every producer, as a peer in a voice channel does. */
  transports: number;
  seconds: number;
  /** Worker user + system CPU over wall time, in cores. */
  workerCpu: number;
  /** workerCpu minus the producers-only baseline: the cost of forwarding. */
  forwardingCpu: number;
  /** This Node process (senders, sink, bookkeeping), in cores; for context. */
  benchProcessCpu: number;
  producerPackets: number;
  expectedPackets: number;
  deliveredPackets: number;
  /** Read by the sink / expected. */
  deliveryRatio: number;
  /** (read + dropped by the kernel on the way to the sink) / expected: what the worker put on the wire. */
  forwardedRatio: number;
  /** Consumer streams of which the sink received nothing in the window. */
  silentStreams: number;
  /** Datagrams the kernel dropped at the sink's sockets (buffers full) in the window: the harness's loss, not the worker's. */
  sinkKernelDrops?: number;
  /** Packets dropped machine-wide at a full input backlog in the window (loopback, every process). */
  backlogDrops?: number;
  /** Packets the worker forwarded per second (read by the sink + dropped by the kernel on the way). */
  forwardedPerSecond: number;
  /** Forwarded packets per second of forwarding CPU (the baseline subtracted). */
  packetsPerCpuSecond?: number;
  /** The machine's 1-minute load average after the step: other work on the shared cores. */
  loadAverage: number;
  /** Time to create this step's new transports and consumers. */
  setupSeconds?: number;
  /** After the window, how long the sink took to read the window's packets that were still queued. */
  drainSeconds?: number;
}

export interface MediaKindResult {
  kind: 'audio' | 'video';
  codec: string;
  producers: number;
  packetsPerSecondPerStream: number;
  payloadBytes: number;
  /** Worker CPU with the producers sending and no consumers. */
  producersOnlyCpu: number;
  steps: MediaStep[];
  /** Least squares of workerCpu against streams over every step (the baseline is streams = 0). */
  fit: { interceptCores: number; coresPerStream: number; r2: number };
  cpuPer100Streams: number;
  streamsAtHalfCore: number;
  streamsAtOneCore: number;
  /** Whether the fitted figure lies beyond the largest measured step (extrapolated). */
  halfCoreExtrapolated: boolean;
  oneCoreExtrapolated: boolean;
  /** Forwarded packets per CPU-second from the slope: packets/s per stream over cores per stream. */
  packetsPerCpuSecond: number;
  stoppedBecause: string;
}

export interface MediaBenchResult {
  workerBinary: string;
  options: MediaOptions;
  /** The worker with a router and nothing flowing, in cores. */
  idleWorkerCpu: number;
  kinds: MediaKindResult[];
}

const PRODUCERS: Record<'audio' | 'video', number> = { audio: 10, video: 4 };
const RAMPS: Record<'audio' | 'video', number[]> = {
  audio: [50, 100, 200, 400, 800, 1600, 2400, 3200, 4800, 6400],
  video: [8, 16, 32, 64, 128, 256, 384, 512, 768, 1024],
};
/** Below this share of the expected packets the ramp stops: the worker (or the bench's sink) no longer keeps up. */
const MIN_DELIVERY_RATIO = 0.95;
const MAX_SETUP_SECONDS = 20;
/** On two cores the worker and the bench's sink share the machine: past this the sink starts to starve. */
const MAX_BENCH_PROCESS_CPU = 0.85;

export function mediaOptionsFromEnv(): MediaOptions {
  const kinds = (process.env.BENCH_MEDIA_KINDS ?? 'audio,video').split(',').filter((k): k is 'audio' | 'video' => k === 'audio' || k === 'video');
  return {
    seconds: Number(process.env.BENCH_MEDIA_SECONDS ?? 3),
    kinds,
    ceiling: Number(process.env.BENCH_MEDIA_CEILING ?? 0.9),
    maxStreams: { audio: Number(process.env.BENCH_MEDIA_MAX_AUDIO ?? 6400), video: Number(process.env.BENCH_MEDIA_MAX_VIDEO ?? 1024) },
    budgetSeconds: Number(process.env.BENCH_MEDIA_BUDGET ?? 150),
  };
}

/** The worker binary mediasoup will spawn, or why there is none. */
export function mediasoupWorkerBinary(): { path?: string; reason?: string } {
  try {
    require.resolve('mediasoup');
  } catch {
    return { reason: 'the mediasoup package is not installed (it is an optional dependency)' };
  }
  const fromEnv = process.env.MEDIASOUP_WORKER_BIN;
  if (fromEnv) return existsSync(fromEnv) ? { path: fromEnv } : { reason: `MEDIASOUP_WORKER_BIN=${fromEnv} does not exist` };
  const bundled = join(REPOSITORY_ROOT, 'node_modules', 'mediasoup', 'worker', 'out', 'Release', 'mediasoup-worker');
  return existsSync(bundled) ? { path: bundled } : { reason: 'no mediasoup worker binary (MEDIASOUP_WORKER_BIN unset, none built under node_modules/mediasoup/worker/out)' };
}

interface Sample {
  at: number;
  workerMs: number;
  benchMicros: number;
  perSsrc: Map<number, number>;
  sinkDrops?: number;
  backlogDrops?: number;
}

/**
 * The worker's user + system CPU time, ms: from /proc/<pid>/stat (read at once, in clock ticks of 10 ms),
 * else from the worker itself (its answer waits behind the packets it is forwarding).
 */
async function workerCpuMs(worker: types.Worker): Promise<number> {
  try {
    const stat = readFileSync(`/proc/${worker.pid}/stat`, 'utf8');
    // Fields after the command name in parentheses: state is field 3, utime 14 and stime 15.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) * (1000 / CLOCK_TICKS_PER_SECOND);
  } catch {
    const usage = await worker.getResourceUsage();
    return usage.ru_utime + usage.ru_stime;
  }
}

/** USER_HZ: 100 on every Linux that Node runs on. */
const CLOCK_TICKS_PER_SECOND = 100;

async function sample(worker: types.Worker, sink?: RtpSink): Promise<Sample> {
  const at = performance.now();
  const workerMs = await workerCpuMs(worker);
  const own = process.cpuUsage();
  return {
    at,
    workerMs,
    benchMicros: own.user + own.system,
    perSsrc: sink ? (await sink.counts()).perSsrc : new Map(),
    sinkDrops: sink?.kernelDrops(),
    backlogDrops: backlogDrops(),
  };
}

/** After a window, wait while the sink is still reading that window's packets, up to this long. */
const DRAIN_MAX_MS = 5000;
const DRAIN_QUIET_MS = 250;

/**
 * Worker CPU in cores over `seconds` of whatever is flowing now. With a source and sink: the packets sent in
 * the window and those of them the sink read, matched by the epoch tag in their payload (late ones count),
 * and the packets the kernel dropped on the way to the sink during the window (they are dropped on arrival,
 * about when they are sent, so they are the window's).
 */
async function measureWindow(worker: types.Worker, source: RtpSource | undefined, sink: RtpSink | undefined, seconds: number) {
  const epoch = source?.nextEpoch();
  const before = await sample(worker, sink);
  await sleep(seconds * 1000);
  source?.nextEpoch();
  const after = await sample(worker, sink);
  const wallMs = after.at - before.at;
  let delivered = 0;
  let drainSeconds = 0;
  if (epoch !== undefined && sink) {
    // A sink that fell behind still holds the window's packets in its sockets' queues (first in, first out):
    // count them once read, so the sink's lag does not pass for the worker's loss.
    const drainUntil = performance.now() + DRAIN_MAX_MS;
    let read = -1;
    for (;;) {
      delivered = (await sink.counts()).epochs.get(epoch) ?? 0;
      if (delivered === read || performance.now() > drainUntil) break;
      read = delivered;
      await sleep(DRAIN_QUIET_MS);
    }
    drainSeconds = (performance.now() - after.at) / 1000;
  }
  return {
    seconds: wallMs / 1000,
    workerCpu: (after.workerMs - before.workerMs) / wallMs,
    benchProcessCpu: (after.benchMicros - before.benchMicros) / 1000 / wallMs,
    produced: epoch === undefined ? 0 : source!.sentIn(epoch),
    delivered,
    drainSeconds,
    sinkDrops: after.sinkDrops !== undefined && before.sinkDrops !== undefined ? after.sinkDrops - before.sinkDrops : undefined,
    backlogDrops: after.backlogDrops !== undefined && before.backlogDrops !== undefined ? after.backlogDrops - before.backlogDrops : undefined,
    before,
    after,
  };
}

function extensionIds(kind: 'audio' | 'video'): ExtensionIds {
  const ids: ExtensionIds = {};
  for (const { uri, id } of offeredExtensions(kind)) {
    if (uri.endsWith(':mid')) ids.mid = id;
    else if (uri.endsWith('abs-send-time')) ids.absSendTime = id;
    else if (uri.endsWith('ssrc-audio-level')) ids.audioLevel = id;
    else if (uri.includes('transport-wide-cc')) ids.transportCc = id;
  }
  return ids;
}

function linearFit(points: Array<[number, number]>): { interceptCores: number; coresPerStream: number; r2: number } {
  const n = points.length;
  const mx = points.reduce((s, [x]) => s + x, 0) / n;
  const my = points.reduce((s, [, y]) => s + y, 0) / n;
  const sxx = points.reduce((s, [x]) => s + (x - mx) ** 2, 0);
  const sxy = points.reduce((s, [x, y]) => s + (x - mx) * (y - my), 0);
  const syy = points.reduce((s, [, y]) => s + (y - my) ** 2, 0);
  const slope = sxx === 0 ? 0 : sxy / sxx;
  return { interceptCores: my - slope * mx, coresPerStream: slope, r2: syy === 0 || sxx === 0 ? 0 : (sxy * sxy) / (sxx * syy) };
}

async function rampKind(
  worker: types.Worker,
  kind: 'audio' | 'video',
  options: MediaOptions,
  deadline: number,
  cleanups: Array<() => Promise<void> | void>,
): Promise<MediaKindResult> {
  const shape: StreamShape = kind === 'audio' ? OPUS_SHAPE : VP8_SHAPE;
  const producerCount = PRODUCERS[kind];
  const listen = { protocol: 'udp' as const, ip: '127.0.0.1' };
  // A room's router, as Room.createRouter makes it.
  const router = await worker.createRouter({ mediaCodecs: ROUTER_MEDIA_CODECS });
  cleanups.push(() => router.close());
  const sink = await RtpSink.open();
  cleanups.push(() => sink.close());
  const source = await RtpSource.open(shape, extensionIds(kind));
  cleanups.push(() => source.close());

  const codec = CONSUMER_RTP_CAPABILITIES.codecs!.find((c) => c.preferredPayloadType === shape.payloadType)!;
  const producers: types.Producer[] = [];
  for (let i = 0; i < producerCount; i++) {
    const transport = await router.createPlainTransport({ listenInfo: listen, rtcpMux: true, comedia: true });
    const ssrc = 0x10000000 + (kind === 'audio' ? 0 : 0x1000) + i;
    const mid = kind === 'audio' ? 'my_voice' : 'my_video';
    // The parameters Peer gives a client's producer: the protocol's codec and extensions, one SSRC.
    producers.push(
      await transport.produce({
        kind,
        rtpParameters: {
          mid,
          codecs: [{ mimeType: codec.mimeType, payloadType: shape.payloadType, clockRate: codec.clockRate, channels: codec.channels, parameters: codec.parameters, rtcpFeedback: codec.rtcpFeedback }],
          headerExtensions: offeredExtensions(kind),
          encodings: [{ ssrc }],
          rtcp: { cname: `bench-${kind}-${i}`, reducedSize: true },
        },
      }),
    );
    source.add(transport.tuple.localPort, ssrc, mid);
  }
  source.start();
  await sleep(500);
  const baseline = await measureWindow(worker, source, sink, options.seconds);
  const load = () => Number(loadavg()[0].toFixed(2));
  const producersOnlyCpu = baseline.workerCpu;
  const steps: MediaStep[] = [
    {
      streams: 0,
      transports: 0,
      seconds: baseline.seconds,
      workerCpu: producersOnlyCpu,
      forwardingCpu: 0,
      benchProcessCpu: baseline.benchProcessCpu,
      producerPackets: baseline.produced,
      expectedPackets: 0,
      deliveredPackets: baseline.delivered,
      deliveryRatio: 1,
      forwardedRatio: 1,
      silentStreams: 0,
      sinkKernelDrops: baseline.sinkDrops,
      backlogDrops: baseline.backlogDrops,
      forwardedPerSecond: 0,
      loadAverage: load(),
    },
  ];
  printStep(kind, steps[0]);

  const consumerSsrcs: number[] = [];
  const sinkPorts = sink.ports;
  let nextPort = 0;
  let transports = 0;
  let stoppedBecause = `reached the largest step (${options.maxStreams[kind]} streams)`;
  for (const target of RAMPS[kind].filter((n) => n <= options.maxStreams[kind])) {
    if (performance.now() > deadline) {
      stoppedBecause = `its share of the ${options.budgetSeconds} s budget was spent`;
      break;
    }
    // Each listener transport consumes every producer: streams = transports × producers.
    const wantedTransports = Math.ceil(target / producerCount);
    const addListener = async () => {
      const transport = await router.createPlainTransport({ listenInfo: listen, rtcpMux: true, comedia: false });
      await transport.connect({ ip: '127.0.0.1', port: sinkPorts[nextPort++ % sinkPorts.length] });
      const consumers = await Promise.all(producers.map((producer) => transport.consume({ producerId: producer.id, rtpCapabilities: CONSUMER_RTP_CAPABILITIES })));
      for (const consumer of consumers) consumerSsrcs.push(consumer.rtpParameters.encodings![0].ssrc!);
    };
    const setupStarted = performance.now();
    // A few listeners at a time keep the worker's channel busy without queueing thousands of requests.
    while (transports < wantedTransports) {
      const batch = Math.min(16, wantedTransports - transports);
      await Promise.all(Array.from({ length: batch }, addListener));
      transports += batch;
    }
    const setupSeconds = (performance.now() - setupStarted) / 1000;
    // Video consumers wait for a keyframe (asked for by PLI on creation); audio flows at once.
    await sleep(kind === 'video' ? 1000 : 500);
    const window = await measureWindow(worker, source, sink, options.seconds);
    const streams = transports * producerCount;
    // Every packet of every producer goes to every listener transport.
    const expected = window.produced * transports;
    const silent = consumerSsrcs.filter((ssrc) => (window.after.perSsrc.get(ssrc) ?? 0) - (window.before.perSsrc.get(ssrc) ?? 0) === 0).length;
    const forwardingCpu = window.workerCpu - producersOnlyCpu;
    // What the worker put on the wire: read by the sink, or dropped by the kernel before the sink could read it.
    const forwarded = window.delivered + (window.sinkDrops ?? 0) + (window.backlogDrops ?? 0);
    const step: MediaStep = {
      streams,
      transports,
      seconds: window.seconds,
      workerCpu: window.workerCpu,
      forwardingCpu,
      benchProcessCpu: window.benchProcessCpu,
      producerPackets: window.produced,
      expectedPackets: expected,
      deliveredPackets: window.delivered,
      deliveryRatio: expected === 0 ? 1 : window.delivered / expected,
      forwardedRatio: expected === 0 ? 1 : forwarded / expected,
      silentStreams: silent,
      sinkKernelDrops: window.sinkDrops,
      backlogDrops: window.backlogDrops,
      forwardedPerSecond: forwarded / window.seconds,
      packetsPerCpuSecond: forwardingCpu > 0 ? forwarded / window.seconds / forwardingCpu : undefined,
      loadAverage: load(),
      setupSeconds,
      drainSeconds: window.drainSeconds,
    };
    steps.push(step);
    printStep(kind, step);
    if (step.workerCpu >= options.ceiling) {
      stoppedBecause = `worker CPU reached ${(step.workerCpu * 100).toFixed(0)}% of a core (ceiling ${(options.ceiling * 100).toFixed(0)}%)`;
      break;
    }
    if (step.forwardedRatio < MIN_DELIVERY_RATIO) {
      stoppedBecause = `the worker forwarded only ${pct(step.forwardedRatio)} of the expected packets`;
      break;
    }
    // Past here the bench, not the worker, is the limit: its sink or its setup could not keep up on this machine.
    if (step.deliveryRatio < MIN_DELIVERY_RATIO) {
      stoppedBecause = `the bench's sink read only ${pct(step.deliveryRatio)} of the packets (the worker forwarded ${pct(step.forwardedRatio)})`;
      break;
    }
    if (step.benchProcessCpu > MAX_BENCH_PROCESS_CPU) {
      stoppedBecause = `the bench's own sender and sink used ${pct(step.benchProcessCpu)} of a core; a larger step would measure the bench`;
      break;
    }
    if (setupSeconds > MAX_SETUP_SECONDS) {
      stoppedBecause = `creating the step's consumers took ${setupSeconds.toFixed(0)} s`;
      break;
    }
  }

  await source.close();
  router.close();
  await sink.close();

  // Only steps whose worker forwarded what it should count: a lossy worker's CPU is not the cost of its streams.
  const fitted = steps.filter((s) => s.forwardedRatio >= MIN_DELIVERY_RATIO);
  const fit = linearFit(fitted.map((s) => [s.streams, s.workerCpu]));
  const at = (cores: number) => (fit.coresPerStream > 0 ? (cores - fit.interceptCores) / fit.coresPerStream : NaN);
  const largest = Math.max(...fitted.map((s) => s.streams));
  const pps = packetsPerSecond(shape);
  return {
    kind,
    codec: codec.mimeType,
    producers: producerCount,
    packetsPerSecondPerStream: pps,
    payloadBytes: shape.payloadBytes,
    producersOnlyCpu,
    steps,
    fit,
    cpuPer100Streams: fit.coresPerStream * 100,
    streamsAtHalfCore: at(0.5),
    streamsAtOneCore: at(1),
    halfCoreExtrapolated: at(0.5) > largest,
    oneCoreExtrapolated: at(1) > largest,
    packetsPerCpuSecond: fit.coresPerStream > 0 ? pps / fit.coresPerStream : NaN,
    stoppedBecause,
  };
}

function pct(value: number): string {
  return `${(value * 100).toFixed(1)}%`;
}

export function mediaStepTable(kinds: MediaKindResult[]): { headers: string[]; rows: Array<Array<string | number>> } {
  return {
    headers: ['kind', 'streams', 'transports', 'worker CPU', 'forwarding CPU', 'bench process CPU', 'expected pkts', 'forwarded', 'read by sink', 'silent streams', 'pkts/s', 'pkts per CPU-s'],
    rows: kinds.flatMap((k) =>
      k.steps.map((s) => [
        k.kind,
        s.streams,
        s.transports,
        pct(s.workerCpu),
        s.streams === 0 ? 'baseline' : pct(s.forwardingCpu),
        pct(s.benchProcessCpu),
        s.expectedPackets,
        s.streams === 0 ? '' : pct(s.forwardedRatio),
        s.streams === 0 ? '' : pct(s.deliveryRatio),
        s.silentStreams,
        Math.round(s.forwardedPerSecond),
        s.packetsPerCpuSecond === undefined ? '' : Math.round(s.packetsPerCpuSecond),
      ]),
    ),
  };
}

export function mediaSummaryTable(result: MediaBenchResult): { headers: string[]; rows: Array<Array<string | number>> } {
  const streams = (n: number, extrapolated: boolean) => (Number.isFinite(n) ? `${Math.round(n)}${extrapolated ? ' (extrapolated)' : ''}` : 'n/a');
  return {
    headers: ['kind', 'stream', 'producers-only CPU', 'CPU per 100 streams', 'streams at 50% core', 'streams at 100% core', 'pkts per CPU-s', 'fit r²', 'stopped because'],
    rows: result.kinds.map((k) => [
      k.kind,
      `${k.codec}, ${k.packetsPerSecondPerStream} pkt/s × ${k.payloadBytes} B`,
      pct(k.producersOnlyCpu),
      pct(k.cpuPer100Streams),
      streams(k.streamsAtHalfCore, k.halfCoreExtrapolated),
      streams(k.streamsAtOneCore, k.oneCoreExtrapolated),
      Math.round(k.packetsPerCpuSecond),
      k.fit.r2.toFixed(3),
      k.stoppedBecause,
    ]),
  };
}

function printStep(kind: 'audio' | 'video', step: MediaStep): void {
  const ratio = step.streams === 0 ? 'baseline' : `forwarded ${pct(step.forwardedRatio)}, read ${pct(step.deliveryRatio)}, ${step.silentStreams} silent`;
  const setup = step.setupSeconds === undefined ? '' : `, set up in ${step.setupSeconds.toFixed(1)} s, drained in ${(step.drainSeconds ?? 0).toFixed(1)} s, drops ${step.sinkKernelDrops ?? '?'} + ${step.backlogDrops ?? '?'}`;
  console.log(`  ${kind} ${String(step.streams).padStart(5)} streams: worker ${pct(step.workerCpu)} of a core, bench process ${pct(step.benchProcessCpu)}, ${ratio}, load ${step.loadAverage}${setup}`);
}

export async function runMediaBench(options: MediaOptions = mediaOptionsFromEnv()): Promise<MediaBenchResult> {
  section(`media node: forwarded streams per mediasoup worker (synthetic RTP over loopback, ${options.seconds} s per step)`);
  const binary = mediasoupWorkerBinary();
  if (!binary.path) throw new Error(binary.reason);
  const started = performance.now();
  const deadline = started + options.budgetSeconds * 1000;
  // Loaded here, not at the top: mediasoup is optional, and `npm run bench` without it must still run the rest.
  const { WorkerPool } = await import('../media-node/workers');
  // The node's own pool, with one worker: the same createWorker settings, and its WebRtcServer (idle here).
  const pool = await WorkerPool.start({ workers: 1, rtcListenIp: '127.0.0.1', rtcBasePort: 0 }, (line) => console.log(`  ${line}`));
  const cleanups: Array<() => Promise<void> | void> = [];
  try {
    const { worker } = pool.list()[0];
    worker.on('died', (error) => console.error(`  worker died: ${error.message}`));
    const idle = await measureWindow(worker, undefined, undefined, options.seconds);
    console.log(`  idle worker: ${pct(idle.workerCpu)} of a core`);
    const kinds: MediaKindResult[] = [];
    for (const [index, kind] of options.kinds.entries()) {
      // An equal share of what is left, so a slow audio ramp on a busy machine still leaves time for video.
      const share = (deadline - performance.now()) / (options.kinds.length - index);
      kinds.push(await rampKind(worker, kind, options, performance.now() + share, cleanups));
    }
    const result: MediaBenchResult = { workerBinary: binary.path, options, idleWorkerCpu: idle.workerCpu, kinds };
    const steps = mediaStepTable(kinds);
    console.log(formatTable(steps.headers, steps.rows));
    const summary = mediaSummaryTable(result);
    console.log(formatTable(summary.headers, summary.rows));
    console.log(`  (${((performance.now() - started) / 1000).toFixed(0)} s)`);
    return result;
  } finally {
    // Closing twice is harmless for sockets and routers; each step may or may not have run.
    for (const cleanup of cleanups.reverse()) {
      try {
        await cleanup();
      } catch {
        // already closed
      }
    }
    const pids = pool.list().map((entry) => entry.worker.pid);
    pool.close();
    // Wait until the worker processes are gone and reaped, so none outlives a process.exit() that follows.
    const until = performance.now() + 3000;
    while (pids.some((pid) => existsSync(`/proc/${pid}`)) && performance.now() < until) await sleep(50);
  }
}

if (require.main === module) {
  runMediaBench().then(
    () => process.exit(0),
    (error) => {
      console.error(error);
      process.exit(1);
    },
  );
}
