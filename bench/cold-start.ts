import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { build } from 'esbuild';
import { LAMBDA_BUNDLING, SOURCE_MAP_ENVIRONMENT } from '../lib/lambda-bundling';
import { HANDLERS, type HandlerName, REPOSITORY_ROOT } from '../lib/lambda-functions';
import { formatTable, median, section } from './support/report';

/**
 * Cold start of each Lambda: the size of its bundle, built with the stack's own esbuild settings
 * (lib/lambda-bundling.ts, as NodejsFunction passes them to esbuild), and the time a fresh `node` takes to
 * start and `require` it, as a ratio to a fresh `node` requiring an empty module.
 *
 * `sdk`: 'bundled' builds the AWS SDK into the bundle and runs it without NODE_PATH (what the stack deploys,
 * lib/lambda-bundling.ts); 'external' leaves the SDK out and loads it from node_modules, as a function relying
 * on the runtime's SDK would (`BENCH_COLD_SDK=both npx tsx bench/cold-start.ts` measures both).
 */
export type SdkPackaging = 'external' | 'bundled';
const DEPLOYED: SdkPackaging = LAMBDA_BUNDLING.externalModules?.some((name) => name.startsWith('@aws-sdk')) ? 'external' : 'bundled';
const SDK_MODULES = ['@aws-sdk/*'];

export interface ColdStartRow {
  handler: HandlerName;
  entry: string;
  bundleBytes: number;
  sourceMapBytes: number;
  /** Median wall time of `node -e require(bundle)`, spawn to exit, ms. */
  processMs: number;
  /** Median time of the `require` call alone, inside the fresh process, ms. */
  requireMs: number;
  /** processMs over the empty module's processMs. */
  ratioToEmpty: number;
}

/** Prints how long the require took; the SDK (external, as on Lambda) is found on NODE_PATH. */
const REQUIRE_AND_TIME = `
const started = performance.now();
const loaded = require(process.argv[1]);
const took = performance.now() - started;
if (process.argv[2] === 'handler' && typeof loaded.handler !== 'function') throw new Error('no handler export');
process.stdout.write(String(took));
`;

function timeRequire(file: string, expect: 'handler' | 'empty', sdk: SdkPackaging = DEPLOYED): { processMs: number; requireMs: number } {
  const started = performance.now();
  const output = execFileSync(process.execPath, ['-e', REQUIRE_AND_TIME, file, expect], {
    env: {
      PATH: process.env.PATH,
      // A bundled SDK must not be able to fall back on node_modules.
      ...(sdk === 'external' ? { NODE_PATH: join(REPOSITORY_ROOT, 'node_modules') } : {}),
      // As the functions run: Node then reads each bundle's source map while loading it.
      ...(expect === 'handler' ? SOURCE_MAP_ENVIRONMENT : {}),
      AWS_REGION: 'us-east-1',
      TABLE_NAME: 'cold-start-bench',
      WS_MANAGEMENT_ENDPOINT: 'https://cold-start-bench.invalid/live',
      AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
    },
    encoding: 'utf8',
    timeout: 30_000,
  });
  return { processMs: performance.now() - started, requireMs: Number(output) };
}

/** The esbuild options NodejsFunction derives from LAMBDA_BUNDLING (aws-lambda-nodejs's bundling.ts). */
async function bundle(entry: string, outfile: string, sdk: SdkPackaging): Promise<void> {
  await build({
    entryPoints: [join(REPOSITORY_ROOT, entry)],
    outfile,
    bundle: true,
    platform: 'node',
    target: LAMBDA_BUNDLING.target,
    format: LAMBDA_BUNDLING.format === 'esm' ? 'esm' : 'cjs',
    mainFields: LAMBDA_BUNDLING.mainFields,
    minify: LAMBDA_BUNDLING.minify,
    sourcemap: LAMBDA_BUNDLING.sourceMap,
    sourcesContent: LAMBDA_BUNDLING.sourcesContent,
    external: sdk === 'external' ? [...(LAMBDA_BUNDLING.externalModules ?? []), ...SDK_MODULES] : (LAMBDA_BUNDLING.externalModules ?? []),
    logLevel: 'error',
  });
}

export async function runColdStartBench(
  runs = Number(process.env.BENCH_COLD_RUNS ?? 9),
  sdk: SdkPackaging = DEPLOYED,
): Promise<{ emptyProcessMs: number; rows: ColdStartRow[] }> {
  section(`cold start: Lambda bundles (stack esbuild settings, AWS SDK ${sdk}), fresh node + require, median of ${runs}`);
  const dir = mkdtempSync(join(tmpdir(), 'zavodchat-cold-'));
  try {
    const empty = join(dir, 'empty.js');
    writeFileSync(empty, '');
    const bundles = new Map<HandlerName, string>();
    for (const name of Object.keys(HANDLERS) as HandlerName[]) {
      const out = join(dir, name, 'index.js');
      mkdirSync(join(dir, name));
      await bundle(HANDLERS[name].entry, out, sdk);
      bundles.set(name, out);
    }
    // Interleaved runs, so a burst of load on a noisy machine hits every module alike.
    const samples = new Map<string, Array<{ processMs: number; requireMs: number }>>();
    const record = (key: string, sample: { processMs: number; requireMs: number }) => samples.set(key, [...(samples.get(key) ?? []), sample]);
    timeRequire(empty, 'empty'); // warm the file cache
    for (let run = 0; run < runs; run++) {
      record('empty', timeRequire(empty, 'empty'));
      for (const [name, file] of bundles) record(name, timeRequire(file, 'handler', sdk));
    }
    const emptyProcessMs = median(samples.get('empty')!.map((s) => s.processMs));
    const rows: ColdStartRow[] = [...bundles].map(([name, file]) => {
      const processMs = median(samples.get(name)!.map((s) => s.processMs));
      return {
        handler: name,
        entry: HANDLERS[name].entry,
        bundleBytes: statSync(file).size,
        sourceMapBytes: statSync(`${file}.map`).size,
        processMs,
        requireMs: median(samples.get(name)!.map((s) => s.requireMs)),
        ratioToEmpty: processMs / emptyProcessMs,
      };
    });
    const table = coldStartTable(emptyProcessMs, rows);
    console.log(formatTable(table.headers, table.rows));
    return { emptyProcessMs, rows };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

export function coldStartTable(emptyProcessMs: number, rows: ColdStartRow[]) {
  return {
    headers: ['handler', 'entry', 'bundle KB', 'map KB', 'node+require ms', 'require ms', 'vs empty module'],
    rows: [
      ['(empty module)', '', '0', '', emptyProcessMs, 0, '1.00×'] as Array<string | number>,
      ...rows.map((r) => [r.handler, r.entry, (r.bundleBytes / 1024).toFixed(1), (r.sourceMapBytes / 1024).toFixed(1), r.processMs, r.requireMs, `${r.ratioToEmpty.toFixed(2)}×`]),
    ],
  };
}

if (require.main === module) {
  const packagings: SdkPackaging[] = process.env.BENCH_COLD_SDK === 'both' ? ['external', 'bundled'] : [(process.env.BENCH_COLD_SDK as SdkPackaging) || DEPLOYED];
  (async () => {
    for (const sdk of packagings) await runColdStartBench(undefined, sdk);
  })().then(
    () => process.exit(0),
    (error) => {
      console.error(error);
      process.exit(1);
    },
  );
}
