import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { REPOSITORY_ROOT } from '../lib/lambda-functions';
import { type ColdStartRow, coldStartTable, runColdStartBench } from './cold-start';
import { type DeliveryPathRow, runDeliveryPathBench } from './delivery-path';
import { type FanoutRow, fanoutOptionsFromEnv, fanoutTable, runFanoutBench } from './fanout';
import { type RequestCount, requestCountTable, runRequestCountBench } from './requests';
import { formatTable, machineInfo, markdownTable, section, writeResults, writeResultsText } from './support/report';

/**
 * `npm run bench`: fan-out throughput and latency against a plain `ws` baseline, the cost of one delivery
 * through each possible path, DynamoDB requests per
 * operation at 10 and 1,000 members, Lambda cold start, and (when it exists) the media node. Prints tables
 * and writes results/bench-<time>.json plus results/bench-latest.md (the tables of docs/performance.md).
 *
 * BENCH_PARTS=fanout,delivery,requests,coldstart,media picks parts; BENCH_SIZES, BENCH_MESSAGES, BENCH_SECONDS,
 * BENCH_CONCURRENCY shape the fan-out; BENCH_REQUEST_SIZES the request counts; BENCH_COLD_RUNS the cold start.
 */

interface Targets {
  name: string;
  target: string;
  measured: string;
  met: boolean | 'n/a';
}

/** The media node is written elsewhere; benchmark it only when it is there and can start. */
function mediaNodeStatus(): { available: boolean; reason: string } {
  const file = join(REPOSITORY_ROOT, 'media-node', 'node.ts');
  if (!existsSync(file)) return { available: false, reason: 'media-node/node.ts does not exist' };
  if (!/export async function startMediaNode/.test(readFileSync(file, 'utf8'))) return { available: false, reason: 'media-node/node.ts does not export startMediaNode' };
  const worker = process.env.MEDIASOUP_WORKER_BIN;
  const bundled = join(REPOSITORY_ROOT, 'node_modules', 'mediasoup', 'worker', 'out', 'Release', 'mediasoup-worker');
  if (!(worker && existsSync(worker)) && !existsSync(bundled)) return { available: false, reason: 'no mediasoup worker binary on this machine (MEDIASOUP_WORKER_BIN unset, none built)' };
  return { available: false, reason: 'media node benchmark not written yet (the node was unfinished when the bench was written)' };
}

function targets(fanout: FanoutRow[], requests: RequestCount[]): Targets[] {
  const out: Targets[] = [];
  const at1000 = fanout.find((row) => row.members === 1000);
  if (at1000) {
    out.push({ name: 'fan-out throughput at 1,000', target: '>= 50% of raw ws', measured: `${(at1000.throughputRatio * 100).toFixed(1)}%`, met: at1000.throughputRatio >= 0.5 });
    out.push({ name: 'p99 REST-to-last-delivery at 1,000', target: '< 20 ms', measured: `${at1000.ours.latency.p99.toFixed(0)} ms`, met: at1000.ours.latency.p99 < 20 });
  }
  if (requests.length > 0) {
    const growing = requests.filter((r) => r.grows && !r.inherent);
    out.push({
      name: 'DynamoDB requests per event constant in member count',
      target: '0 operations grow',
      measured: growing.length === 0 ? '0 grow' : `${growing.length} grow: ${growing.map((r) => r.operation).join('; ')}`,
      met: growing.length === 0,
    });
  }
  return out;
}

async function main(): Promise<void> {
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
  const parts = new Set((process.env.BENCH_PARTS ?? 'fanout,delivery,requests,coldstart,media').split(','));
  const machine = machineInfo();
  console.log(`machine: ${machine.nproc} × ${machine.cpuModel}, ${machine.totalMemoryGiB} GiB, Node ${machine.node}`);
  const requestSizes = (process.env.BENCH_REQUEST_SIZES ?? '10,1000').split(',').map(Number);
  const fanoutOptions = fanoutOptionsFromEnv();
  const fanout = parts.has('fanout') ? await runFanoutBench(fanoutOptions) : [];
  const delivery: DeliveryPathRow[] = parts.has('delivery') ? await runDeliveryPathBench() : [];
  const requests = parts.has('requests') ? await runRequestCountBench(requestSizes) : [];
  const coldStart: { emptyProcessMs: number; rows: ColdStartRow[] } | undefined = parts.has('coldstart') ? await runColdStartBench() : undefined;
  const media = parts.has('media') ? mediaNodeStatus() : undefined;
  if (media) {
    section('media node');
    console.log(`skipped: ${media.reason}`);
  }

  const met = targets(fanout, requests);
  section('summary');
  if (fanout.length > 0) {
    const table = fanoutTable(fanout);
    console.log(formatTable(table.headers, table.rows));
  }
  console.log(formatTable(['target', 'wanted', 'measured', 'met'], met.map((t) => [t.name, t.target, t.measured, t.met === true ? 'yes' : t.met === false ? 'NO' : 'n/a'])));

  const path = writeResults('bench', { fanoutOptions, fanout, delivery, requestSizes, requests, coldStart, media, targets: met });
  const markdown = [
    `Machine: ${machine.nproc} × ${machine.cpuModel}, ${machine.totalMemoryGiB} GiB, Node ${machine.node}, ${new Date().toISOString()}`,
    fanout.length > 0 ? `### Fan-out\n\n${markdownTable(fanoutTable(fanout).headers, fanoutTable(fanout).rows)}` : '',
    delivery.length > 0
      ? `### Delivery path\n\n${markdownTable(['path', 'ms per post', 'vs in-process'], delivery.map((r) => [r.path, r.msPerPost.toFixed(3), `${r.ratioToInProcess.toFixed(0)}×`]))}`
      : '',
    requests.length > 0 ? `### DynamoDB requests per operation\n\n${markdownTable(requestCountTable(requests, requestSizes).headers, requestCountTable(requests, requestSizes).rows)}` : '',
    coldStart ? `### Cold start\n\n${markdownTable(coldStartTable(coldStart.emptyProcessMs, coldStart.rows).headers, coldStartTable(coldStart.emptyProcessMs, coldStart.rows).rows)}` : '',
    `### Targets\n\n${markdownTable(['target', 'wanted', 'measured', 'met'], met.map((t) => [t.name, t.target, t.measured, String(t.met)]))}`,
  ]
    .filter(Boolean)
    .join('\n\n');
  const markdownPath = writeResultsText('bench-latest.md', `${markdown}\n`);
  console.log(`\nresults: ${path}, tables as Markdown: ${markdownPath}`);
}

main().then(
  () => process.exit(0),
  (error) => {
    console.error(error);
    process.exit(1);
  },
);
