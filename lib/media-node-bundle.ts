import * as fs from 'node:fs';
import * as path from 'node:path';

/**
 * What the media node's instance receives: `main.js` (media-node/main.ts and everything it imports,
 * the AWS SDK included, bundled by esbuild), and a package.json + package-lock.json naming only the
 * packages that cannot be bundled. The instance runs `npm ci --omit=dev` there and `node main.js`.
 *
 * mediasoup is the one such package: it is native (its worker is a C++ binary fetched or built by its
 * install script for the instance's CPU and libc), so it is installed on the instance at the version and
 * integrity the repository's lockfile pins, not shipped from the machine that runs `cdk synth`.
 */
export const MEDIA_NODE_EXTERNAL_PACKAGES = ['mediasoup'] as const;

/**
 * Modules the bundled code loads only inside a try/catch and works without; they are not installed.
 * ws: optional native speed-ups. AWS SDK: the CRT signer, needed only for SigV4a (multi-region access points).
 */
export const OPTIONAL_MISSING_MODULES = ['bufferutil', 'utf-8-validate', '@aws-sdk/signature-v4-crt'];

export const MEDIA_NODE_ENTRY = 'media-node/main.ts';
export const MEDIA_NODE_BUNDLE_FILE = 'main.js';

interface LockEntry {
  version: string;
  resolved?: string;
  integrity?: string;
  dependencies?: Record<string, string>;
  optionalDependencies?: Record<string, string>;
  [key: string]: unknown;
}

interface Lockfile {
  lockfileVersion: number;
  packages: Record<string, LockEntry>;
}

/**
 * The lockfile entries of the external packages and of everything they depend on, copied from the
 * repository's lockfile (same versions, tarballs and integrity hashes), so `npm ci` on the instance
 * installs exactly what the tests ran with. Flags that only make sense in the full tree (dev, optional:
 * mediasoup is optional there, required here) are dropped.
 */
export function runtimeLockfile(repositoryLock: Lockfile, packageJson: { dependencies: Record<string, string> }): object {
  const packages: Record<string, LockEntry> = {};
  const visit = (name: string, from: string) => {
    // npm's resolution: the nearest node_modules up from the dependent package.
    let base = from;
    for (;;) {
      const location = `${base ? `${base}/` : ''}node_modules/${name}`;
      const entry = repositoryLock.packages[location];
      if (entry) {
        if (packages[location]) return;
        const { dev: _dev, optional: _optional, devOptional: _devOptional, peer: _peer, ...kept } = entry;
        packages[location] = kept as LockEntry;
        for (const dependency of Object.keys({ ...entry.dependencies, ...entry.optionalDependencies })) visit(dependency, location);
        return;
      }
      if (!base) throw new Error(`package-lock.json has no entry for ${name} (needed from ${from || 'the media node'})`);
      const parent = base.lastIndexOf('/node_modules/');
      base = parent < 0 ? '' : base.slice(0, parent);
    }
  };
  for (const name of Object.keys(packageJson.dependencies)) visit(name, '');
  const sorted = Object.fromEntries(Object.keys(packages).sort().map((key) => [key, packages[key]]));
  return {
    name: 'zavodchat-media-node',
    lockfileVersion: 3,
    requires: true,
    packages: { '': { name: 'zavodchat-media-node', dependencies: packageJson.dependencies }, ...sorted },
  };
}

/**
 * Builds the bundle into `outDir` from the sources under `root`. The output depends only on the code the
 * media node runs and on the external packages' locked versions: esbuild drops comments, no source map
 * (whose line numbers would change with any edit of an imported file) and no timestamps, so an unrelated
 * change (a REST route, a test, a comment) leaves the asset, and therefore the instance, alone.
 */
export function buildMediaNodeBundle(outDir: string, root: string): void {
  // esbuild is a dev dependency of the machine that synthesizes; loaded here so importing this module is free.
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const esbuild = require('esbuild') as typeof import('esbuild');
  const rootPackage = JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8')) as {
    dependencies?: Record<string, string>;
    optionalDependencies?: Record<string, string>;
  };
  const dependencies: Record<string, string> = {};
  for (const name of MEDIA_NODE_EXTERNAL_PACKAGES) {
    const version = rootPackage.dependencies?.[name] ?? rootPackage.optionalDependencies?.[name];
    if (!version) throw new Error(`package.json does not declare ${name}, which the media node needs at run time`);
    dependencies[name] = version;
  }
  const result = esbuild.buildSync({
    absWorkingDir: root,
    entryPoints: [MEDIA_NODE_ENTRY],
    outfile: path.join(outDir, MEDIA_NODE_BUNDLE_FILE),
    bundle: true,
    platform: 'node',
    // Amazon Linux 2023's nodejs22 on the instance; node20 keeps the bundle runnable on the CI's Node too.
    target: 'node20',
    format: 'cjs',
    // Readable on the instance (stack traces keep names and bundle lines); minifying saves nothing that matters here.
    minify: false,
    sourcemap: false,
    legalComments: 'eof',
    external: [...MEDIA_NODE_EXTERNAL_PACKAGES, ...OPTIONAL_MISSING_MODULES],
    mainFields: ['module', 'main'],
    logLevel: 'silent',
  });
  if (result.errors.length > 0) throw new Error(`media node bundle failed: ${result.errors.map((e) => e.text).join('; ')}`);
  const packageJson = { name: 'zavodchat-media-node', private: true, dependencies };
  fs.writeFileSync(path.join(outDir, 'package.json'), `${JSON.stringify(packageJson, null, 2)}\n`);
  const lock = JSON.parse(fs.readFileSync(path.join(root, 'package-lock.json'), 'utf8')) as Lockfile;
  fs.writeFileSync(path.join(outDir, 'package-lock.json'), `${JSON.stringify(runtimeLockfile(lock, packageJson), null, 2)}\n`);
}
