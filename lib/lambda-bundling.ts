import { Architecture, Runtime } from 'aws-cdk-lib/aws-lambda';
import { type BundlingOptions, OutputFormat } from 'aws-cdk-lib/aws-lambda-nodejs';

/**
 * How every Lambda is built and run: the stack and the bundle-size test both use these, so the test
 * measures exactly what gets deployed.
 */
export const LAMBDA_RUNTIME = Runtime.NODEJS_22_X;
export const LAMBDA_ARCHITECTURE = Architecture.ARM_64;

/**
 * Modules left out of the bundles because the Lambda runtime provides them: none but Node's built-ins.
 * The AWS SDK is bundled too, deliberately (docs/deploy.md, "Lambda bundles and the AWS SDK"): the function
 * runs the SDK version the tests ran (package-lock.json), not whichever version the runtime ships that
 * month, as AWS recommends; and a minified bundle initializes faster than the runtime's SDK loaded file by
 * file (`BENCH_COLD_SDK=both npx tsx bench/cold-start.ts`: 0.6-0.7x the require time for the handlers that
 * load the SDK at init, docs/performance.md). The price is bundles of 0.5-0.6 MB instead of 20-130 KB.
 */
export const RUNTIME_PROVIDED_MODULES: string[] = [];

/** The budget of one minified bundle (the handler's code and every dependency, the AWS SDK included). */
export const MAX_BUNDLE_BYTES = 768 * 1024;

export const LAMBDA_BUNDLING: BundlingOptions = {
  // Local esbuild from node_modules: synth must work offline and without Docker.
  forceDockerBundling: false,
  format: OutputFormat.CJS,
  target: 'node22',
  // Prefer packages' ES module builds: they tree-shake far better than their CommonJS builds.
  mainFields: ['module', 'main'],
  minify: true,
  sourceMap: true,
  // Stack traces need names and lines, not the original sources; this keeps the maps small.
  sourcesContent: false,
  externalModules: RUNTIME_PROVIDED_MODULES,
};

/** Node reads the bundle's source map only with this flag; stack traces then point into lambdas/. */
export const SOURCE_MAP_ENVIRONMENT = { NODE_OPTIONS: '--enable-source-maps' };
