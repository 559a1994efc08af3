/**
 * How many invocations of one function a process runs at once where it stands in for Lambda (the local
 * gateway's routes, the in-process after-connect step and offline grace). On AWS each function scales out on
 * its own and one function's burst cannot starve another; in one process everything shares one event loop, so
 * a reconnect storm of thousands of `$connect`s, each fanning out to hundreds of members, would queue tens of
 * thousands of requests and starve REST (docs/performance.md, "Reconnect storm"). A bound per function keeps
 * the work in flight, and so the queues in front of DynamoDB and the Management API, small; the rest waits
 * its turn in order, as Lambda's reserved concurrency would throttle it.
 */
export const IN_PROCESS_FUNCTION_CONCURRENCY = 32;

/** The wait for a slot was given up (its `signal` aborted) before a slot was free. */
export class SlotWaitAbandoned extends Error {
  override readonly name = 'SlotWaitAbandoned';
}

interface Waiter {
  grant: () => void;
  abandoned: boolean;
}

/** A first-in first-out bound on concurrent tasks. */
export class ConcurrencyLimit {
  private active = 0;
  // A queue with a moving head: `shift()` on a long array is linear, and a storm queues thousands.
  private waiting: Waiter[] = [];
  private head = 0;
  private live = 0;

  constructor(readonly limit: number) {
    if (!Number.isInteger(limit) || limit < 1) throw new Error(`a concurrency limit must be a positive integer, not ${limit}`);
  }

  /** Tasks running now. */
  get running(): number {
    return this.active;
  }

  /** Tasks waiting for a slot (given-up waits not counted). */
  get queued(): number {
    return this.live;
  }

  /**
   * Runs `task` once a slot is free. If `signal` aborts while it still waits, it never runs and this rejects
   * with SlotWaitAbandoned (a `$connect` whose client or timeout went first costs nothing).
   */
  async run<T>(task: () => Promise<T>, signal?: AbortSignal): Promise<T> {
    await this.acquire(signal);
    try {
      return await task();
    } finally {
      this.release();
    }
  }

  private acquire(signal?: AbortSignal): Promise<void> {
    if (signal?.aborted) return Promise.reject(new SlotWaitAbandoned());
    // Below the limit nobody live is waiting (a release always hands its slot to the next live waiter).
    if (this.active < this.limit) {
      this.active++;
      return Promise.resolve();
    }
    return new Promise((resolve, reject) => {
      const waiter: Waiter = {
        abandoned: false,
        grant: () => {
          signal?.removeEventListener('abort', abandon);
          this.live--;
          resolve();
        },
      };
      const abandon = () => {
        waiter.abandoned = true;
        this.live--;
        reject(new SlotWaitAbandoned());
      };
      signal?.addEventListener('abort', abandon, { once: true });
      this.waiting.push(waiter);
      this.live++;
    });
  }

  private release(): void {
    this.active--;
    while (this.head < this.waiting.length) {
      const next = this.waiting[this.head++];
      if (next.abandoned) continue;
      this.active++;
      next.grant();
      break;
    }
    if (this.head > 1024 && this.head * 2 > this.waiting.length) {
      this.waiting = this.waiting.slice(this.head);
      this.head = 0;
    }
  }
}
