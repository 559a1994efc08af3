import * as fs from 'node:fs';
import * as os from 'node:os';
import { builtinModules } from 'node:module';
import * as path from 'node:path';
import { App, AssetStaging, Stack } from 'aws-cdk-lib';
import { REPOSITORY_ROOT } from '../../lib/lambda-functions';
import { mediaNodeBundleAsset } from '../../lib/media-node';
import { MEDIA_NODE_BUNDLE_FILE, MEDIA_NODE_EXTERNAL_PACKAGES, OPTIONAL_MISSING_MODULES } from '../../lib/media-node-bundle';

/**
 * The media node's asset (and so its instance) must change only when what the node runs changes. Each
 * case builds the asset the way the stack does (CDK local bundling, hash of the output) from a scratch
 * copy of the sources, edits the copy, and builds again.
 */
let scratch: string;
let outdir: string;

beforeAll(() => {
  scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'zavodchat-media-asset-'));
  outdir = fs.mkdtempSync(path.join(os.tmpdir(), 'zavodchat-media-asset-out-'));
  for (const name of ['package.json', 'package-lock.json', 'tsconfig.json', 'lambdas', 'media-node']) {
    fs.cpSync(path.join(REPOSITORY_ROOT, name), path.join(scratch, name), { recursive: true });
  }
  fs.symlinkSync(path.join(REPOSITORY_ROOT, 'node_modules'), path.join(scratch, 'node_modules'));
});

afterAll(() => {
  fs.rmSync(scratch, { recursive: true, force: true });
  fs.rmSync(outdir, { recursive: true, force: true });
});

let builds = 0;
/** The asset hash CDK computes for the scratch sources as they are now. */
function assetHash(): { hash: string; dir: string } {
  // CDK caches staged assets per source path for the process: each build must really rebuild.
  AssetStaging.clearAssetHashCache();
  const app = new App({ outdir: path.join(outdir, String(builds++)) });
  const asset = mediaNodeBundleAsset(new Stack(app, 'Asset'), 'Bundle', scratch);
  return { hash: asset.assetHash, dir: path.join(app.outdir, `asset.${asset.assetHash}`) };
}

function edit(file: string, change: (text: string) => string): void {
  const full = path.join(scratch, file);
  fs.writeFileSync(full, change(fs.readFileSync(full, 'utf8')));
}

test('holds the bundle and a package.json/lockfile of the native packages only', () => {
  const { dir } = assetHash();
  expect(fs.readdirSync(dir).sort()).toEqual([MEDIA_NODE_BUNDLE_FILE, 'package-lock.json', 'package.json'].sort());
  const manifest = JSON.parse(fs.readFileSync(path.join(dir, 'package.json'), 'utf8')) as { dependencies: Record<string, string>; devDependencies?: unknown };
  expect(Object.keys(manifest.dependencies)).toEqual([...MEDIA_NODE_EXTERNAL_PACKAGES]);
  expect(manifest.devDependencies).toBeUndefined();
  const lock = JSON.parse(fs.readFileSync(path.join(dir, 'package-lock.json'), 'utf8')) as { packages: Record<string, { version?: string; integrity?: string }> };
  const repositoryLock = JSON.parse(fs.readFileSync(path.join(REPOSITORY_ROOT, 'package-lock.json'), 'utf8')) as typeof lock;
  // The same versions and integrity hashes as the tests ran with; none of the dev tooling.
  for (const [location, entry] of Object.entries(lock.packages)) {
    if (location === '') continue;
    expect({ location, version: entry.version, integrity: entry.integrity }).toEqual({
      location,
      version: repositoryLock.packages[location].version,
      integrity: repositoryLock.packages[location].integrity,
    });
  }
  expect(Object.keys(lock.packages)).toContain('node_modules/mediasoup');
  for (const tooling of ['typescript', 'tsx', 'jest', 'aws-cdk-lib', 'esbuild', '@aws-sdk/client-dynamodb']) {
    expect(Object.keys(lock.packages)).not.toContain(`node_modules/${tooling}`);
  }
  // Everything else is inside the bundle: the AWS SDK, ws, the domain code. No tsx at run time.
  const bundle = fs.readFileSync(path.join(dir, MEDIA_NODE_BUNDLE_FILE), 'utf8');
  const required = [...bundle.matchAll(/\brequire\("([^"]+)"\)/g)].map((match) => match[1]);
  const external = required.filter((name) => !name.startsWith('node:') && !builtinModules.includes(name));
  expect([...new Set(external)].sort()).toEqual([...MEDIA_NODE_EXTERNAL_PACKAGES, ...OPTIONAL_MISSING_MODULES].sort());
}, 120_000);

test('an unrelated change (a comment and code in a REST route) leaves the asset unchanged; a media node change does not', () => {
  const before = assetHash().hash;
  edit('lambdas/rest/handler.ts', (text) => `// An unrelated comment in a REST route.\n${text}\nexport const unrelatedRestChange = 42;\n`);
  edit('media-node/main.ts', (text) => `/* A comment in the media node itself: esbuild drops it. */\n${text}`);
  expect(assetHash().hash).toBe(before);

  edit('media-node/main.ts', (text) => text.replace('media node failed to start', 'media node could not start'));
  expect(assetHash().hash).not.toBe(before);
}, 120_000);
