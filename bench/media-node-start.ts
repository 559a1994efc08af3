import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import { request as httpsRequest } from 'node:https';
import * as os from 'node:os';
import * as path from 'node:path';
import { REPOSITORY_ROOT } from '../lib/lambda-functions';
import { buildMediaNodeBundle, MEDIA_NODE_BUNDLE_FILE } from '../lib/media-node-bundle';
import { freePort } from '../local/dynamodb';
import { OFFLINE_AWS_ENVIRONMENT as OFFLINE_AWS } from '../test/media/support/offline-aws';
import { mediasoupWorkerBinary } from './media';
import { formatTable, median, section } from './support/report';

/**
 * The media node's own start-up, as an instance runs it after boot: its bundle (lib/media-node-bundle.ts)
 * copied into an empty folder with only mediasoup beside it, started with `node main.js`, timed from spawn to
 * the first `GET /health` answered 200 on the voice socket's TLS port (the node listens only once its
 * workers are up, so that is the moment a voice join can succeed).
 *
 * Baseline, measured in the same run: a fresh `node` that starts a TLS server with the same certificate
 * and answers /health (what any Node service costs to come up here). The ratio is the node's own work:
 * loading its bundle and spawning its mediasoup workers.
 *
 * BENCH_NODE_START_RUNS (default 5) runs per row; BENCH_NODE_START_WORKERS (default 1,2) the worker counts.
 */

export interface NodeStartRow {
  what: string;
  workers?: number;
  /** Median spawn-to-healthy time, ms. */
  medianMs: number;
  maxMs: number;
  ratioToBaseline: number;
}

export interface NodeStartResult {
  runs: number;
  bundleBytes: number;
  baselineMs: number;
  rows: NodeStartRow[];
}

/** A Node TLS server answering /health, started the way the node is: a fresh process. */
const BASELINE_SERVER = `
const https = require('node:https');
const fs = require('node:fs');
https.createServer({ cert: fs.readFileSync(process.env.TLS_CERT), key: fs.readFileSync(process.env.TLS_KEY) }, (req, res) => {
  res.writeHead(req.url === '/health' ? 200 : 404).end();
}).listen(Number(process.env.VC_PORT), '127.0.0.1');
process.on('SIGTERM', () => process.exit(0));
`;

function healthStatus(port: number): Promise<number | undefined> {
  return new Promise((resolve) => {
    const request = httpsRequest({ host: '127.0.0.1', port, path: '/health', rejectUnauthorized: false, timeout: 1000, agent: false }, (response) => {
      response.resume();
      resolve(response.statusCode);
    });
    request.on('error', () => resolve(undefined));
    request.on('timeout', () => request.destroy());
    request.end();
  });
}

/** Spawns, then polls /health every 5 ms: the time to the first 200, ms. */
async function timeToHealthy(args: string[], cwd: string, env: NodeJS.ProcessEnv, port: number): Promise<number> {
  const started = performance.now();
  const child: ChildProcess = spawn(process.execPath, args, { cwd, env, stdio: ['ignore', 'ignore', 'pipe'] });
  let errors = '';
  child.stderr!.on('data', (chunk: Buffer) => (errors += chunk.toString()));
  try {
    for (;;) {
      if ((await healthStatus(port)) === 200) return performance.now() - started;
      if (child.exitCode !== null) throw new Error(`exited with ${child.exitCode}: ${errors.slice(-500)}`);
      if (performance.now() - started > 60_000) throw new Error('not healthy within 60 s');
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
  } finally {
    const exited = new Promise((resolve) => child.once('exit', resolve));
    if (child.exitCode === null) child.kill('SIGTERM');
    await Promise.race([exited, new Promise((resolve) => setTimeout(resolve, 5000))]);
    if (child.exitCode === null) child.kill('SIGKILL');
  }
}

export async function runMediaNodeStartBench(): Promise<NodeStartResult | { skipped: string }> {
  section('media node start-up from its bundle');
  const worker = mediasoupWorkerBinary();
  if (!worker.path) {
    console.log(`skipped: ${worker.reason}`);
    return { skipped: worker.reason ?? 'no mediasoup worker' };
  }
  const runs = Number(process.env.BENCH_NODE_START_RUNS ?? 5);
  const workerCounts = (process.env.BENCH_NODE_START_WORKERS ?? '1,2').split(',').map(Number);
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'zavodchat-node-start-'));
  try {
    const bundle = path.join(work, 'bundle');
    fs.mkdirSync(bundle);
    buildMediaNodeBundle(bundle, REPOSITORY_ROOT);
    // What the instance holds after `npm ci --omit=dev`: the bundle, its manifest, and mediasoup.
    const app = path.join(work, 'app');
    fs.mkdirSync(path.join(app, 'node_modules'), { recursive: true });
    for (const name of fs.readdirSync(bundle)) fs.copyFileSync(path.join(bundle, name), path.join(app, name));
    fs.symlinkSync(fs.realpathSync(path.join(REPOSITORY_ROOT, 'node_modules', 'mediasoup')), path.join(app, 'node_modules', 'mediasoup'));
    const bundleBytes = fs.statSync(path.join(app, MEDIA_NODE_BUNDLE_FILE)).size;
    const cert = path.join(work, 'cert.pem');
    const key = path.join(work, 'key.pem');
    execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '1', '-subj', '/CN=bench', '-keyout', key, '-out', cert], {
      stdio: 'ignore',
    });
    const baseEnv = { PATH: process.env.PATH, TLS_CERT: cert, TLS_KEY: key };

    const samples = async (measure: () => Promise<number>): Promise<number[]> => {
      const out: number[] = [];
      for (let i = 0; i < runs; i++) out.push(await measure());
      return out;
    };
    const baseline = await samples(async () => {
      const port = await freePort();
      return timeToHealthy(['-e', BASELINE_SERVER], work, { ...baseEnv, VC_PORT: String(port) }, port);
    });
    const baselineMs = median(baseline);
    const rows: NodeStartRow[] = [{ what: 'baseline: node + TLS server', medianMs: baselineMs, maxMs: Math.max(...baseline), ratioToBaseline: 1 }];
    for (const workers of workerCounts) {
      const times = await samples(async () => {
        const port = await freePort();
        const env = {
          ...baseEnv,
          ...OFFLINE_AWS,
          MEDIASOUP_WORKER_BIN: worker.path,
          VC_PORT: String(port),
          VC_HOST: '127.0.0.1',
          MEDIA_CONTROL_PORT: '0',
          MEDIA_CONTROL_SECRET: 'bench-secret',
          RTC_MIN_PORT: '0',
          MEDIA_WORKERS: String(workers),
        };
        return timeToHealthy([MEDIA_NODE_BUNDLE_FILE], app, env, port);
      });
      rows.push({ what: 'media node bundle', workers, medianMs: median(times), maxMs: Math.max(...times), ratioToBaseline: median(times) / baselineMs });
    }
    const table = mediaNodeStartTable({ runs, bundleBytes, baselineMs, rows });
    console.log(formatTable(table.headers, table.rows));
    return { runs, bundleBytes, baselineMs, rows };
  } finally {
    fs.rmSync(work, { recursive: true, force: true });
  }
}

export function mediaNodeStartTable(result: NodeStartResult): { headers: string[]; rows: Array<Array<string | number>> } {
  return {
    headers: ['process', 'workers', `median ms (${result.runs} runs)`, 'max ms', 'vs baseline'],
    rows: result.rows.map((row) => [row.what, row.workers ?? '–', row.medianMs.toFixed(0), row.maxMs.toFixed(0), `${row.ratioToBaseline.toFixed(1)}×`]),
  };
}

if (require.main === module) {
  runMediaNodeStartBench().then(
    () => process.exit(0),
    (error) => {
      console.error(error);
      process.exit(1);
    },
  );
}
