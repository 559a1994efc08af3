import { Architecture, Runtime } from 'aws-cdk-lib/aws-lambda';
import { type BundlingOptions, OutputFormat } from 'aws-cdk-lib/aws-lambda-nodejs';

/**
 * How every Lambda is built and run: the stack and the bundle-size test both use these, so the test
 * measures exactly what gets deployed.
 */
export const LAMBDA_RUNTIME = Runtime.NODEJS_22_X;
export const LAMBDA_ARCHITECTURE = Architecture.ARM_64;

/**
 * Modules the Lambda runtime provides: Node's built-ins and the AWS SDK for JavaScript v3, preinstalled
 * in every Node.js 18+ runtime. Everything else is bundled. Bundling the SDK too was measured at
 * 370-420 KB per function, over the 250 KB budget; the runtime's SDK keeps bundles small and is patched by AWS.
 */
export const RUNTIME_PROVIDED_MODULES = ['@aws-sdk/*'];

/** The budget of one minified bundle (the handler's own code and its non-SDK dependencies). */
export const MAX_BUNDLE_BYTES = 250 * 1024;

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
