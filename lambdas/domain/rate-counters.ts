import type { RateLimit } from './config';
import type { Db } from './db';
import { type RateBucket, type Verdict, windowOf, type Window } from './rate-limits';
import { keys, TTL_ATTRIBUTE } from './table';

/**
 * The shared counters of the rate limits: one item per (bucket, subject, window) in the table, raised by
 * one atomic UpdateItem `ADD` that returns the new count, so concurrent Lambdas serving the same caller
 * agree without a read. The item's `ttl` is the window's end: DynamoDB deletes old windows, and nothing
 * ever reads them (docs/data-model.md, "Rate-limit counters").
 */

function retryAfter(window: Window, now: number): number {
  return Math.max(1, Math.ceil(window.end - now / 1000));
}

/**
 * Counts `amount` requests (1, or frames a connection had sent uncounted) of `subject` and judges the
 * last of them against `limit`. Refused requests are counted too, so the count only grows in a window.
 */
export async function countRequest(
  db: Db,
  bucket: RateBucket,
  subject: string,
  limit: RateLimit,
  options: { amount?: number; now?: number } = {},
): Promise<Verdict> {
  const now = options.now ?? Date.now();
  const amount = options.amount ?? 1;
  const window = windowOf(limit, now);
  const result = await db.update(keys.rateWindow(bucket, subject, window.start), { add: { count: amount }, set: { [TTL_ATTRIBUTE]: window.end } }, { returning: 'UPDATED_NEW' });
  const count = Number(result?.count);
  return {
    allowed: count <= limit.requests,
    count,
    window,
    retryAfterSeconds: retryAfter(window, now),
    firstRefusal: count > limit.requests && count - amount <= limit.requests,
  };
}

/**
 * One upgrade attempt against the connect budget of its source (`RATE_LIMIT_CONNECT`), counted before
 * anything else so that a flood costs one UpdateItem per attempt, refused ones too. True when it may go on:
 * also when there is no budget or no known source. `subject` names the budget (`ip:<address>`: the main and
 * desk sockets share one; the voice wake has its own).
 */
export async function connectAttemptAllowed(db: Db, limit: RateLimit | undefined, subject: string | undefined): Promise<boolean> {
  if (!limit || !subject) return true;
  return (await countRequest(db, 'connect', subject, limit)).allowed;
}

/** Takes back one counted request (a login that turned out to be right does not count as a failure). */
export async function uncountRequest(db: Db, bucket: RateBucket, subject: string, verdict: Verdict): Promise<void> {
  await db.update(keys.rateWindow(bucket, subject, verdict.window.start), { add: { count: -1 } });
}
