import { randomUUID } from 'node:crypto';
import { connectionsOfServer } from '../lambdas/domain/connections';
import { createDb, type DynamoDbStore as Db } from '../lambdas/aws/dynamodb-store';
import { ensureTable, startDynamoDbLocal } from '../local/dynamodb';
import { ClientFleet } from './support/clients';
import { seedServer } from './support/population';
import { formatTable, quantile, section, sleep } from './support/report';
import { type ServerKind, type ServerProcess, startServerProcess } from './support/server-process';

/**
 * Fan-out throughput and latency: N main-socket clients of one server, messages posted through REST
 * (POST /channels/{cid}/messages, a public channel) and, as the baseline, a plain `ws` server that
 * broadcasts the same event to the same number of clients. One client fleet measures both. Unless
 * BENCH_WHATIF=0, also the runtime with in-process delivery (see support/server-process.ts), to size that fix.
 */

export interface FanoutOptions {
  sizes: number[];
  /** Bounds of each phase, per N and per system. */
  maxMessages: number;
  maxSeconds: number;
  /** Posts in flight during the throughput phase. */
  concurrency: number;
  cpuProfileDir?: string;
  /** Also measure the what-if runtime that posts straight onto the gateway's sockets. */
  whatIfDirect: boolean;
}

export interface PhaseResult {
  messages: number;
  deliveries: number;
  /** Deliveries that did not arrive within the wait (expected = messages × N). */
  missing: number;
  /** Deliveries beyond one per socket and message. */
  extra: number;
  seconds: number;
  eventsPerSecond: number;
  messagesPerSecond: number;
}

export interface LatencyResult extends PhaseResult {
  /** REST call start to the frame's arrival at the last recipient, ms. */
  p50: number;
  p95: number;
  p99: number;
  max: number;
  /** REST call start to its response, ms (median). */
  restP50: number;
  /** Per message: DynamoDB requests and the time spent waiting for them (summed, parallel ones too), ms. */
  dynamoDbRequestsPerMessage: number;
  dynamoDbMsPerMessage: number;
}

export interface SystemResult {
  system: ServerKind;
  members: number;
  connectSeconds: number;
  latency: LatencyResult;
  throughput: PhaseResult;
}

export interface FanoutRow {
  members: number;
  ours: SystemResult;
  baseline: SystemResult;
  /** ours / baseline delivered events per second (throughput phase). */
  throughputRatio: number;
  /** What-if: the runtime delivering in-process instead of through the Management API. */
  direct?: SystemResult;
  directRatio?: number;
}

const MARKER = '"text":"fanout:';

/** Counts, per message marker, how many sockets received it and when the last one did. */
class DeliveryTracker {
  private readonly arrivals = new Map<number, { count: number; last: number; perSocket: Set<number> }>();
  private readonly waiters = new Map<number, () => void>();

  constructor(readonly recipients: number) {}

  readonly onFrame = (socketIndex: number, frame: string, receivedAt: number) => {
    // No JSON.parse: client-side cost must stay small next to the servers being measured.
    const at = frame.indexOf(MARKER);
    if (at < 0) return;
    const seq = Number.parseInt(frame.slice(at + MARKER.length, at + MARKER.length + 12), 10);
    let arrival = this.arrivals.get(seq);
    if (!arrival) this.arrivals.set(seq, (arrival = { count: 0, last: 0, perSocket: new Set() }));
    arrival.count++;
    arrival.perSocket.add(socketIndex);
    arrival.last = receivedAt;
    if (arrival.count >= this.recipients) this.waiters.get(seq)?.();
  };

  /** Resolves once every recipient got `seq`, or after `timeoutMs` with what arrived. */
  async waitFor(seq: number, timeoutMs: number): Promise<{ count: number; last: number; distinct: number }> {
    const done = () => {
      const a = this.arrivals.get(seq);
      return a && a.count >= this.recipients;
    };
    if (!done()) {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, timeoutMs);
        this.waiters.set(seq, () => {
          clearTimeout(timer);
          resolve();
        });
      });
      this.waiters.delete(seq);
    }
    const a = this.arrivals.get(seq);
    return { count: a?.count ?? 0, last: a?.last ?? NaN, distinct: a?.perSocket.size ?? 0 };
  }
}

interface Target {
  postUrl: string;
  headers: Record<string, string>;
}

let nextSeq = 0;

async function post(target: Target, seq: number): Promise<void> {
  const response = await fetch(target.postUrl, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...target.headers },
    body: JSON.stringify({ text: `fanout:${seq}` }),
  });
  const text = await response.text();
  if (response.status !== 200) throw new Error(`post answered ${response.status}: ${text.slice(0, 200)}`);
}

/** One message at a time, each waited for at every recipient: latency without queueing. */
async function latencyPhase(server: ServerProcess, target: Target, tracker: DeliveryTracker, options: FanoutOptions): Promise<LatencyResult> {
  await server.dynamoDbTime();
  const latencies: number[] = [];
  const restTimes: number[] = [];
  let deliveries = 0;
  let missing = 0;
  let extra = 0;
  const started = performance.now();
  const deadline = started + options.maxSeconds * 1000;
  while (latencies.length < options.maxMessages && performance.now() < deadline) {
    const seq = ++nextSeq;
    const t0 = performance.now();
    await post(target, seq);
    restTimes.push(performance.now() - t0);
    const arrival = await tracker.waitFor(seq, 10_000);
    deliveries += arrival.count;
    missing += tracker.recipients - arrival.distinct;
    extra += arrival.count - arrival.distinct;
    if (arrival.count >= tracker.recipients) latencies.push(arrival.last - t0);
  }
  const seconds = (performance.now() - started) / 1000;
  const dynamo = Object.values(await server.dynamoDbTime());
  const perMessage = (sum: number) => sum / Math.max(1, latencies.length);
  return {
    dynamoDbRequestsPerMessage: perMessage(dynamo.reduce((n, c) => n + c.requests, 0)),
    dynamoDbMsPerMessage: perMessage(dynamo.reduce((n, c) => n + c.totalMs, 0)),
    messages: latencies.length,
    deliveries,
    missing,
    extra,
    seconds,
    eventsPerSecond: deliveries / seconds,
    messagesPerSecond: latencies.length / seconds,
    p50: quantile(latencies, 0.5),
    p95: quantile(latencies, 0.95),
    p99: quantile(latencies, 0.99),
    max: Math.max(...latencies),
    restP50: quantile(restTimes, 0.5),
  };
}

/** `concurrency` posters back to back: delivered events per second at saturation. */
async function throughputPhase(target: Target, tracker: DeliveryTracker, options: FanoutOptions): Promise<PhaseResult> {
  const seqs: number[] = [];
  const started = performance.now();
  const deadline = started + options.maxSeconds * 1000;
  const poster = async () => {
    while (seqs.length < options.maxMessages && performance.now() < deadline) {
      const seq = ++nextSeq;
      seqs.push(seq);
      await post(target, seq);
    }
  };
  await Promise.all(Array.from({ length: options.concurrency }, poster));
  let deliveries = 0;
  let missing = 0;
  let extra = 0;
  let lastArrival = started;
  for (const seq of seqs) {
    const arrival = await tracker.waitFor(seq, 10_000);
    deliveries += arrival.count;
    missing += tracker.recipients - arrival.distinct;
    extra += arrival.count - arrival.distinct;
    if (arrival.last > lastArrival) lastArrival = arrival.last;
  }
  const seconds = (lastArrival - started) / 1000;
  return { messages: seqs.length, deliveries, missing, extra, seconds, eventsPerSecond: deliveries / seconds, messagesPerSecond: seqs.length / seconds };
}

async function measure(system: ServerKind, server: ServerProcess, urls: string[], target: Target, options: FanoutOptions): Promise<SystemResult> {
  const tracker = new DeliveryTracker(urls.length);
  const connectStarted = performance.now();
  const fleet = await ClientFleet.open(urls, tracker.onFrame, 32);
  const connectSeconds = (performance.now() - connectStarted) / 1000;
  try {
    // Warm-up: JIT, HTTP keep-alive pools, DynamoDB Local's caches.
    for (let i = 0; i < 3; i++) {
      const seq = ++nextSeq;
      await post(target, seq);
      await tracker.waitFor(seq, 10_000);
    }
    const latency = await latencyPhase(server, target, tracker, options);
    const throughput = await throughputPhase(target, tracker, options);
    return { system, members: urls.length, connectSeconds, latency, throughput };
  } finally {
    await fleet.close();
  }
}

/** Waits until the server's subscriptions are gone, i.e. every $disconnect of the last fleet has run. */
async function waitForDisconnects(db: Db, serverId: number, timeoutMs = 120_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if ((await connectionsOfServer(db, serverId)).length === 0) return;
    await sleep(500);
  }
  console.warn(`  (subscriptions of server ${serverId} still present after ${timeoutMs} ms)`);
}

export async function runFanoutBench(options: FanoutOptions): Promise<FanoutRow[]> {
  section('fan-out: REST post -> message_created on every member connection, vs a plain ws broadcast');
  const dynamo = await startDynamoDbLocal();
  // Each runtime its own table, as two deployments would have: sharing one, each would take the other's
  // connections for dead (its own gateway answers 410 for them) and prune them, e.g. when its offline grace
  // announces the users of the previous fleet offline while the next fleet is connected.
  const tableName = `bench${randomUUID().slice(0, 8)}`;
  const directTableName = `${tableName}direct`;
  let ours: ServerProcess | undefined;
  let direct: ServerProcess | undefined;
  let baseline: ServerProcess | undefined;
  const db = createDb({ table: tableName, endpoint: dynamo.endpoint });
  const directDb = createDb({ table: directTableName, endpoint: dynamo.endpoint });
  try {
    await ensureTable(dynamo.endpoint, tableName);
    ours = await startServerProcess({ kind: 'runtime', dynamoDbEndpoint: dynamo.endpoint, tableName, cpuProfileDir: options.cpuProfileDir });
    baseline = await startServerProcess({ kind: 'baseline' });
    if (options.whatIfDirect) {
      await ensureTable(dynamo.endpoint, directTableName);
      direct = await startServerProcess({ kind: 'runtime-direct', dynamoDbEndpoint: dynamo.endpoint, tableName: directTableName });
    }
    const rows: FanoutRow[] = [];
    for (const members of options.sizes) {
      const seeded = await seedServer(db, members);
      console.log(`  N=${members}: seeded server ${seeded.serverId}; measuring our runtime...`);
      const oursResult = await measure(
        'runtime',
        ours,
        seeded.members.map((m) => `${ours!.wsUrl}/?token=${m.token}`),
        { postUrl: `${ours.restUrl}/channels/${seeded.channelId}/messages`, headers: { authorization: `Bearer ${seeded.owner.token}` } },
        options,
      );
      await waitForDisconnects(db, seeded.serverId);
      let directResult: SystemResult | undefined;
      if (direct) {
        const seededDirect = await seedServer(directDb, members);
        console.log(`  N=${members}: measuring the what-if runtime with in-process delivery...`);
        directResult = await measure(
          'runtime-direct',
          direct,
          seededDirect.members.map((m) => `${direct!.wsUrl}/?token=${m.token}`),
          { postUrl: `${direct.restUrl}/channels/${seededDirect.channelId}/messages`, headers: { authorization: `Bearer ${seededDirect.owner.token}` } },
          options,
        );
        await waitForDisconnects(directDb, seededDirect.serverId);
      }
      console.log(`  N=${members}: measuring the plain ws baseline...`);
      const baselineResult = await measure(
        'baseline',
        baseline,
        seeded.members.map(() => `${baseline!.wsUrl}/`),
        { postUrl: `${baseline.restUrl}/broadcast`, headers: {} },
        options,
      );
      const baselineRate = baselineResult.throughput.eventsPerSecond;
      rows.push({
        members,
        ours: oursResult,
        baseline: baselineResult,
        throughputRatio: oursResult.throughput.eventsPerSecond / baselineRate,
        direct: directResult,
        directRatio: directResult ? directResult.throughput.eventsPerSecond / baselineRate : undefined,
      });
      printFanout(rows.slice(-1));
    }
    return rows;
  } finally {
    db.doc.destroy();
    directDb.doc.destroy();
    await ours?.stop();
    await direct?.stop();
    await baseline?.stop();
    await dynamo.stop();
  }
}

export function fanoutTable(rows: FanoutRow[]): { headers: string[]; rows: Array<Array<string | number>> } {
  return {
    headers: ['N', 'system', 'events/s', 'msgs/s', 'p50 ms', 'p95 ms', 'p99 ms', 'REST p50 ms', 'DynamoDB req/msg', 'DynamoDB ms/msg', 'missing', 'dup', 'connect s', 'vs baseline'],
    rows: rows.flatMap((row) =>
      [row.ours, ...(row.direct ? [row.direct] : []), row.baseline].map((r) => [
        row.members,
        r.system === 'runtime' ? 'ours' : r.system === 'runtime-direct' ? 'what-if: in-process delivery' : 'ws baseline',
        r.throughput.eventsPerSecond,
        r.throughput.messagesPerSecond,
        r.latency.p50,
        r.latency.p95,
        r.latency.p99,
        r.latency.restP50,
        r.system === 'baseline' ? '' : r.latency.dynamoDbRequestsPerMessage,
        r.system === 'baseline' ? '' : r.latency.dynamoDbMsPerMessage,
        r.latency.missing + r.throughput.missing,
        r.latency.extra + r.throughput.extra,
        r.connectSeconds,
        r.system === 'runtime' ? `${(row.throughputRatio * 100).toFixed(1)}%` : r.system === 'runtime-direct' ? `${((row.directRatio ?? 0) * 100).toFixed(1)}%` : '',
      ]),
    ),
  };
}

function printFanout(rows: FanoutRow[]): void {
  const table = fanoutTable(rows);
  console.log(formatTable(table.headers, table.rows));
}

export function fanoutOptionsFromEnv(): FanoutOptions {
  return {
    sizes: (process.env.BENCH_SIZES ?? '100,1000,2000').split(',').map(Number).filter((n) => n > 0),
    maxMessages: Number(process.env.BENCH_MESSAGES ?? 200),
    maxSeconds: Number(process.env.BENCH_SECONDS ?? 20),
    concurrency: Number(process.env.BENCH_CONCURRENCY ?? 4),
    cpuProfileDir: process.env.BENCH_CPU_PROFILE_DIR || undefined,
    whatIfDirect: process.env.BENCH_WHATIF !== '0',
  };
}

if (require.main === module) {
  runFanoutBench(fanoutOptionsFromEnv()).then(
    () => process.exit(0),
    (error) => {
      console.error(error);
      process.exit(1);
    },
  );
}
