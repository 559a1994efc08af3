import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { HANDLERS, type HandlerName, REPOSITORY_ROOT } from '../../lib/lambda-functions';
import { LAMBDA_BUNDLING, MAX_BUNDLE_BYTES, RUNTIME_PROVIDED_MODULES } from '../../lib/lambda-bundling';
import type { IConstruct } from 'constructs';
import { SUPPORTED_CONFIGURATIONS } from './support/configurations';
import { logicalId, removeOutput, resourcesOfType, type Synthesized, synthesize } from './support/synth';

/**
 * Loads a bundle the way the Lambda runtime would, in a fresh `node`: only Node's built-ins and the
 * runtime-provided modules may be required from the bundle (the AWS SDK is found on NODE_PATH, as the
 * runtime has it in /var/runtime), and any attempt to open a connection or resolve a host while loading
 * fails. Prints the type of the `handler` export.
 */
const LOAD_LIKE_THE_RUNTIME = `
const Module = require('node:module');
const net = require('node:net');
const dns = require('node:dns');
const [bundle, provided] = process.argv.slice(1);
const prefixes = JSON.parse(provided).map((pattern) => pattern.replace(/\\*$/, ''));
const resolve = Module._resolveFilename;
Module._resolveFilename = function (request, parent, ...rest) {
  const fromBundle = parent && parent.filename === bundle;
  const builtin = request.startsWith('node:') || Module.builtinModules.includes(request);
  if (fromBundle && !builtin && !request.startsWith('.') && !prefixes.some((p) => request.startsWith(p))) {
    throw new Error('the bundle requires ' + request + ', which the Lambda runtime does not provide');
  }
  return resolve.call(this, request, parent, ...rest);
};
net.Socket.prototype.connect = function () { throw new Error('the bundle opened a connection while loading'); };
dns.lookup = function () { throw new Error('the bundle resolved a host name while loading'); };
const loaded = require(bundle);
process.stdout.write(typeof loaded.handler);
process.exit(0);
`;

let synthesized: Synthesized;

beforeAll(() => {
  // With a Route 53 zone: every function of the default configuration, plus the voice wake's (mediaStartOn=voice).
  synthesized = synthesize(SUPPORTED_CONFIGURATIONS['hosted zone']);
}, 120_000);

afterAll(() => removeOutput(synthesized));

/**
 * Every handler, the media node's idle check (lib/media-node-lifecycle.ts) and the voice wake's `$connect`
 * (lib/voice-wake.ts), which are not in HANDLERS.
 */
const MEDIA_NODE_CHECK = 'mediaNodeCheck';
const VOICE_WAKE_CONNECT = 'voiceWakeConnect';
type BundledFunction = HandlerName | typeof MEDIA_NODE_CHECK | typeof VOICE_WAKE_CONNECT;

function functionConstruct(name: BundledFunction): IConstruct {
  if (name === MEDIA_NODE_CHECK) return synthesized.stack.node.findChild('MediaLifecycle').node.findChild('Check').node.findChild('Function');
  if (name === VOICE_WAKE_CONNECT) return synthesized.stack.node.findChild('VoiceWake').node.findChild('Connect').node.findChild('Function');
  return synthesized.stack.functions[name].function;
}

/** The asset directory of a function's code: its S3 key is `<asset hash>.zip`. */
function bundleOf(name: BundledFunction): string {
  const functions = resourcesOfType(synthesized.template, 'AWS::Lambda::Function');
  const code = functions[logicalId(functionConstruct(name))].Properties.Code as { S3Key: string };
  return path.join(synthesized.outdir, `asset.${code.S3Key.replace(/\.zip$/, '')}`, 'index.js');
}

describe.each([...(Object.keys(HANDLERS) as HandlerName[]), MEDIA_NODE_CHECK, VOICE_WAKE_CONNECT] as BundledFunction[])('bundle of %s', (name) => {
  test(`is minified and at most ${MAX_BUNDLE_BYTES / 1024} KB, with a source map`, () => {
    const bundle = bundleOf(name);
    const { size } = fs.statSync(bundle);
    expect(size).toBeLessThanOrEqual(MAX_BUNDLE_BYTES);
    expect(fs.existsSync(`${bundle}.map`)).toBe(true);
    // Minified output has few, long lines: thousands of characters a line on average, where source has tens.
    // (Not a fixed line count: the bundled SDK keeps the line breaks of its multi-line template strings.)
    const lines = fs.readFileSync(bundle, 'utf8').split('\n').length;
    expect(size / lines).toBeGreaterThan(2000);
  });

  test('loads in a fresh node with only what the runtime provides, without connecting anywhere', () => {
    const output = execFileSync(process.execPath, ['-e', LOAD_LIKE_THE_RUNTIME, bundleOf(name), JSON.stringify(RUNTIME_PROVIDED_MODULES)], {
      cwd: synthesized.outdir,
      env: {
        PATH: process.env.PATH,
        NODE_PATH: path.join(REPOSITORY_ROOT, 'node_modules'),
        AWS_REGION: 'us-east-1',
        TABLE_NAME: 'bundle-load-test',
        WS_MANAGEMENT_ENDPOINT: 'https://bundle-load-test.invalid/live',
      },
      encoding: 'utf8',
      timeout: 20_000,
    });
    expect(output).toBe('function');
  });
});

test('the stack bundles with the exported settings: local esbuild, nothing external, the AWS SDK included', () => {
  expect(LAMBDA_BUNDLING).toMatchObject({ forceDockerBundling: false, minify: true, sourceMap: true, externalModules: RUNTIME_PROVIDED_MODULES });
  // Nothing external: the AWS SDK is bundled, at the version the tests run (docs/deploy.md).
  expect(RUNTIME_PROVIDED_MODULES).toEqual([]);
});
