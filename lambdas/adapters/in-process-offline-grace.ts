import { log } from '../domain/log';
import { ConcurrencyLimit, IN_PROCESS_FUNCTION_CONCURRENCY } from './concurrency-limit';
import type { OfflineGrace, PendingOffline } from '../domain/ports';

/**
 * The offline grace as a timer of this process: right for the local runtime and the media node, which
 * outlive the invocation that scheduled it; a Lambda would be frozen before the timer fires (there
 * PRESENCE_OFFLINE_QUEUE_URL names the queue that delays it instead).
 */
export class InProcessOfflineGrace implements OfflineGrace {
  private readonly tasks = new Map<Promise<void>, { timer: NodeJS.Timeout; fire: () => void }>();
  // Checks due at once (a storm's departures) run as many at a time as the queue's function would.
  private readonly limit = new ConcurrencyLimit(IN_PROCESS_FUNCTION_CONCURRENCY);

  constructor(
    readonly graceMs: number,
    private readonly run: (pending: PendingOffline) => Promise<void>,
  ) {}

  async schedule(pending: PendingOffline): Promise<void> {
    let fire!: () => void;
    const due = new Promise<void>((resolve) => (fire = resolve));
    const timer = setTimeout(fire, this.graceMs);
    const task: Promise<void> = due
      .then(() => this.limit.run(() => this.run(pending)))
      .catch((error) => log().error('offline grace', error, { userId: pending.userId }))
      .finally(() => this.tasks.delete(task));
    this.tasks.set(task, { timer, fire });
  }

  /** Checks scheduled and not yet done. */
  get pending(): number {
    return this.tasks.size;
  }

  /** Resolves once every check scheduled so far, and any they scheduled in turn, has run after its grace. */
  async settled(): Promise<void> {
    while (this.tasks.size > 0) await Promise.all([...this.tasks.keys()]);
  }

  /** Runs every pending check now instead of at its time (the process is stopping: the timers would be lost). */
  async flush(): Promise<void> {
    while (this.tasks.size > 0) {
      for (const { timer, fire } of this.tasks.values()) {
        clearTimeout(timer);
        fire();
      }
      await Promise.all([...this.tasks.keys()]);
    }
  }
}
