import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';

/**
 * Whether a real mediasoup worker starts on this machine (checked once, synchronously, in a child
 * process, because jest collects suites synchronously).
 */
function probeMediasoup(): string | undefined {
  const probe = spawnSync(
    process.execPath,
    ['-e', "require('mediasoup').createWorker().then((w) => { w.close(); process.exit(0); }, (e) => { console.error(e.message); process.exit(1); })"],
    { encoding: 'utf8', timeout: 20_000, cwd: `${__dirname}/../../..` },
  );
  if (probe.status === 0) return undefined;
  return (probe.stderr || probe.error?.message || `exit ${probe.status}`).trim().split('\n').pop();
}

const mediasoupProblem = probeMediasoup();
export const CHROMIUM_PATH = process.env.CHROMIUM_PATH || '/usr/bin/chromium';

/**
 * `describe` for suites that need a real mediasoup worker (and, with `browser`, Chromium). Without them the
 * suite is skipped with the reason printed, unless REQUIRE_MEDIASOUP=1 (CI), where the suite fails.
 */
export function describeMedia(name: string, needs: { browser?: boolean }, body: () => void): void {
  const problems = [
    mediasoupProblem && `mediasoup cannot start a worker (${mediasoupProblem}; set MEDIASOUP_WORKER_BIN)`,
    needs.browser && !existsSync(CHROMIUM_PATH) && `no Chromium at ${CHROMIUM_PATH} (apt-get install chromium, or set CHROMIUM_PATH)`,
  ].filter(Boolean);
  if (problems.length === 0) {
    describe(name, body);
  } else if (process.env.REQUIRE_MEDIASOUP === '1') {
    describe(name, () => {
      test('media prerequisites are present (REQUIRE_MEDIASOUP=1)', () => {
        throw new Error(problems.join('; '));
      });
    });
  } else {
    console.warn(`skipping "${name}": ${problems.join('; ')}`);
    describe.skip(name, body);
  }
}
