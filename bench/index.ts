import { type ColdStartRow, coldStartTable, runColdStartBench } from './cold-start';
import { type DeliveryPathRow, runDeliveryPathBench } from './delivery-path';
import { type DeskRequestCount, deskRequestTable, deskSizesFromEnv, runDeskRequestBench } from './desk-requests';
import { type FanoutRow, fanoutOptionsFromEnv, fanoutTable, runFanoutBench } from './fanout';
import { type MediaBenchResult, mediaOptionsFromEnv, mediaStepTable, mediasoupWorkerBinary, mediaSummaryTable, runMediaBench } from './media';
import { mediaNodeStartTable, type NodeStartResult, runMediaNodeStartBench } from './media-node-start';
import { type ProtocolFanoutRow, protocolFanoutOptionsFromEnv, protocolFanoutTable, runProtocolFanoutBench } from './protocol-fanout';
import { type RequestCount, requestCountTable, runRequestCountBench } from './requests';
import { formatTable, machineInfo, markdownTable, section, writeResults, writeResultsText } from './support/report';

/**
 * `npm run bench`: fan-out throughput and latency against a plain `ws` baseline, the cost of one delivery
 * through each possible path, DynamoDB requests per
 * operation at 10 and 1,000 members, Lambda cold start, and forwarded streams per media-node worker (when a
 * mediasoup worker binary is there). Prints tables
 * and writes results/bench-<time>.json plus results/bench-latest.md (the tables of docs/performance.md).
 *
 * Also the workspace (socket.io) protocol's fan-out next to the main socket's (bench/protocol-fanout.ts) and a
 * desk message's DynamoDB requests at 1, 10 and 100 curators and chats (bench/desk-requests.ts).
 *
 * BENCH_PARTS=fanout,delivery,requests,protocols,desk,coldstart,media,nodestart picks parts; BENCH_SIZES, BENCH_MESSAGES,
 * BENCH_SECONDS, BENCH_CONCURRENCY shape the fan-out; BENCH_REQUEST_SIZES the request counts;
 * BENCH_PROTOCOL_SIZES and BENCH_PROTOCOL_EVENTS the protocol fan-out; BENCH_DESK_SIZES the desk counts;
 * BENCH_COLD_RUNS the cold start; BENCH_MEDIA_* the media bench (bench/media.ts);
 * BENCH_NODE_START_* the media node's start-up (bench/media-node-start.ts).
 */

interface Targets {
  name: string;
  target: string;
  measured: string;
  met: boolean | 'n/a';
}

/** The media bench needs a mediasoup worker binary; without one it is skipped, and says why. */
function mediaNodeStatus(): { available: boolean; reason: string } {
  const binary = mediasoupWorkerBinary();
  if (!binary.path) return { available: false, reason: binary.reason ?? 'no mediasoup worker binary' };
  return { available: true, reason: `mediasoup worker ${binary.path}` };
}

function targets(fanout: FanoutRow[], requests: RequestCount[], desk: DeskRequestCount[]): Targets[] {
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
  if (desk.length > 0) {
    const growing = desk.filter((r) => r.grows);
    out.push({
      name: "a desk message's DynamoDB requests constant in curators and chats",
      target: '0 operations grow',
      measured: growing.length === 0 ? '0 grow' : `${growing.length} grow: ${growing.map((r) => r.operation).join('; ')}`,
      met: growing.length === 0,
    });
  }
  return out;
}

async function main(): Promise<void> {
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
  const parts = new Set((process.env.BENCH_PARTS ?? 'fanout,delivery,requests,protocols,desk,coldstart,media,nodestart').split(','));
  const machine = machineInfo();
  console.log(`machine: ${machine.nproc} × ${machine.cpuModel}, ${machine.totalMemoryGiB} GiB, Node ${machine.node}`);
  const requestSizes = (process.env.BENCH_REQUEST_SIZES ?? '10,1000').split(',').map(Number);
  const fanoutOptions = fanoutOptionsFromEnv();
  const fanout = parts.has('fanout') ? await runFanoutBench(fanoutOptions) : [];
  const delivery: DeliveryPathRow[] = parts.has('delivery') ? await runDeliveryPathBench() : [];
  const requests = parts.has('requests') ? await runRequestCountBench(requestSizes) : [];
  const protocolOptions = protocolFanoutOptionsFromEnv();
  const protocols: ProtocolFanoutRow[] = parts.has('protocols') ? await runProtocolFanoutBench(protocolOptions.sizes, protocolOptions.events) : [];
  const deskSizes = deskSizesFromEnv();
  const desk: DeskRequestCount[] = parts.has('desk') ? await runDeskRequestBench(deskSizes) : [];
  const coldStart: { emptyProcessMs: number; rows: ColdStartRow[] } | undefined = parts.has('coldstart') ? await runColdStartBench() : undefined;
  const mediaStatus = parts.has('media') ? mediaNodeStatus() : undefined;
  let media: MediaBenchResult | { skipped: string } | undefined;
  if (mediaStatus && !mediaStatus.available) {
    section('media node');
    console.log(`skipped: ${mediaStatus.reason}`);
    media = { skipped: mediaStatus.reason };
  } else if (mediaStatus) {
    media = await runMediaBench(mediaOptionsFromEnv());
  }
  const mediaResult = media && 'kinds' in media ? media : undefined;
  const nodeStart: NodeStartResult | { skipped: string } | undefined = parts.has('nodestart') ? await runMediaNodeStartBench() : undefined;
  const nodeStartResult = nodeStart && 'rows' in nodeStart ? nodeStart : undefined;

  const met = targets(fanout, requests, desk);
  section('summary');
  if (fanout.length > 0) {
    const table = fanoutTable(fanout);
    console.log(formatTable(table.headers, table.rows));
  }
  if (mediaResult) {
    const table = mediaSummaryTable(mediaResult);
    console.log(formatTable(table.headers, table.rows));
  }
  console.log(formatTable(['target', 'wanted', 'measured', 'met'], met.map((t) => [t.name, t.target, t.measured, t.met === true ? 'yes' : t.met === false ? 'NO' : 'n/a'])));

  const path = writeResults('bench', { fanoutOptions, fanout, delivery, requestSizes, requests, protocolOptions, protocols, deskSizes, desk, coldStart, media, nodeStart, targets: met });
  const markdown = [
    `Machine: ${machine.nproc} × ${machine.cpuModel}, ${machine.totalMemoryGiB} GiB, Node ${machine.node}, ${new Date().toISOString()}`,
    fanout.length > 0 ? `### Fan-out\n\n${markdownTable(fanoutTable(fanout).headers, fanoutTable(fanout).rows)}` : '',
    delivery.length > 0
      ? `### Delivery path\n\n${markdownTable(['path', 'ms per post', 'vs in-process'], delivery.map((r) => [r.path, r.msPerPost.toFixed(3), `${r.ratioToInProcess.toFixed(0)}×`]))}`
      : '',
    requests.length > 0 ? `### DynamoDB requests per operation\n\n${markdownTable(requestCountTable(requests, requestSizes).headers, requestCountTable(requests, requestSizes).rows)}` : '',
    protocols.length > 0 ? `### Fan-out by protocol\n\n${markdownTable(protocolFanoutTable(protocols).headers, protocolFanoutTable(protocols).rows)}` : '',
    desk.length > 0 ? `### Desk: DynamoDB requests by curators and chats\n\n${markdownTable(deskRequestTable(desk, deskSizes).headers, deskRequestTable(desk, deskSizes).rows)}` : '',
    mediaResult
      ? `### Media node\n\n${markdownTable(mediaSummaryTable(mediaResult).headers, mediaSummaryTable(mediaResult).rows)}\n\n${markdownTable(mediaStepTable(mediaResult.kinds).headers, mediaStepTable(mediaResult.kinds).rows)}`
      : '',
    coldStart ? `### Cold start\n\n${markdownTable(coldStartTable(coldStart.emptyProcessMs, coldStart.rows).headers, coldStartTable(coldStart.emptyProcessMs, coldStart.rows).rows)}` : '',
    nodeStartResult ? `### Media node start-up\n\n${markdownTable(mediaNodeStartTable(nodeStartResult).headers, mediaNodeStartTable(nodeStartResult).rows)}` : '',
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
