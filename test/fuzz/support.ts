/**
 * Shared settings of the fuzz tests. `npm test` runs a small subset (FUZZ_CASES defaults to 300); `npm run
 * fuzz` runs FUZZ_CASES=10000. The seed is fixed (and in each test's name) unless FUZZ_SEED says otherwise.
 */
export const FUZZ_CASES = Number(process.env.FUZZ_CASES ?? 300);
export const FUZZ_SEED = process.env.FUZZ_SEED !== undefined ? Number(process.env.FUZZ_SEED) : 20261126;

/** Generous per-test time: about 60 ms a case on a busy 2-core machine, never under jest's 30 s. */
export function fuzzTimeoutMs(cases: number, msPerCase = 60): number {
  return Math.max(30_000, cases * msPerCase + 60_000);
}

/**
 * Records unhandled rejections and uncaught exceptions while a fuzz test runs (the runtime runs inside the
 * jest worker, so its stray promises land here). `stop()` removes the listeners and returns what was seen.
 */
export function watchProcessFailures(): { failures: string[]; stop: () => string[] } {
  const failures: string[] = [];
  const onRejection = (reason: unknown) => failures.push(`unhandledRejection: ${String((reason as Error)?.stack ?? reason)}`);
  const onException = (error: Error) => failures.push(`uncaughtException: ${String(error?.stack ?? error)}`);
  process.on('unhandledRejection', onRejection);
  process.on('uncaughtException', onException);
  return {
    failures,
    stop: () => {
      process.off('unhandledRejection', onRejection);
      process.off('uncaughtException', onException);
      return failures;
    },
  };
}

/**
 * The end of a fuzz run: waits until the runtime has nothing in flight (a failure to settle is a finding),
 * lets stray rejections of the last turn surface, then stops watching for them.
 */
export async function settleThenStopWatching(system: { settle(): Promise<unknown> }, watcher: { failures: string[]; stop: () => string[] }): Promise<void> {
  await system.settle().catch((error: Error) => watcher.failures.push(`settle: ${error.message}`));
  await new Promise((resolve) => setImmediate(resolve));
  watcher.stop();
}

/** Keeps the first `limit` distinct findings by key, counting the rest, so a report stays readable. */
export class Findings {
  private readonly byKey = new Map<string, { example: string; count: number }>();

  add(key: string, example: string): void {
    const entry = this.byKey.get(key);
    if (entry) entry.count++;
    else this.byKey.set(key, { example, count: 1 });
  }

  get size(): number {
    return this.byKey.size;
  }

  report(limit = 30): string[] {
    return [...this.byKey].slice(0, limit).map(([key, { example, count }]) => `${key} (×${count}): ${example}`);
  }
}

/** Shortens a value for a failure message. */
export function preview(value: unknown, max = 300): string {
  const text = typeof value === 'string' ? value : JSON.stringify(value);
  if (text === undefined) return String(value);
  return text.length > max ? `${text.slice(0, max)}… (${text.length} chars)` : text;
}
