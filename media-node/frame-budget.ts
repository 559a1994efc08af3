import type { RateLimit } from '../lambdas/domain/config';
import { type FrameDecision, windowOf } from '../lambdas/domain/rate-limits';

/**
 * One voice socket's frame budget: the main socket's rule (docs/protocol.md, "Rate limits") counted in
 * the node's memory, where a connection lives for its whole life, so it is exact and costs no request.
 * Within a window (aligned to the clock) the frames up to the budget are handled; the first one over it is
 * answered with the `error` text once, the rest are dropped, and the frame that makes twice the budget
 * closes the socket.
 */
export class FrameBudget {
  private windowStart = -1;
  private count = 0;

  constructor(
    private readonly limit: RateLimit | undefined,
    private readonly now: () => number = Date.now,
  ) {}

  admit(): FrameDecision {
    const limit = this.limit;
    if (!limit) return 'handle';
    const { start } = windowOf(limit, this.now());
    if (start !== this.windowStart) {
      this.windowStart = start;
      this.count = 0;
    }
    this.count++;
    if (this.count <= limit.requests) return 'handle';
    if (this.count === limit.requests + 1) return 'refuse';
    return this.count === 2 * limit.requests + 1 ? 'close' : 'drop';
  }
}
