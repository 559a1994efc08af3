import type { RateLimit } from './config';

/**
 * Fixed-window rate limits: windows, verdicts and the main socket's per-connection frame gate. The shared
 * counters themselves are in rate-counters.ts. This module imports no AWS SDK: the `ping` handler loads it
 * at cold start and should cost what an empty module costs until a connection needs counting
 * (docs/performance.md).
 */

/** What a counter limits; part of the item's key (docs/data-model.md). */
export type RateBucket = 'rest' | 'messages' | 'login' | 'register' | 'socket' | 'connect';

export interface Window {
  /** Epoch seconds. */
  start: number;
  end: number;
}

export function windowOf(limit: RateLimit, now = Date.now()): Window {
  const start = Math.floor(now / 1000 / limit.windowSeconds) * limit.windowSeconds;
  return { start, end: start + limit.windowSeconds };
}

export interface Verdict {
  allowed: boolean;
  /** Counted in this window so far, this request included. */
  count: number;
  window: Window;
  /** Seconds until the window ends, at least 1: a refusal's `Retry-After`. */
  retryAfterSeconds: number;
  /** This is the first refusal of the window: exactly one request, across all instances, sees it. */
  firstRefusal: boolean;
}

/** The text of the main socket's `error` event when a connection goes over its frame budget. */
export function frameLimitText(limit: RateLimit): string {
  return `too many frames: at most ${limit.requests} per ${limit.windowSeconds} s, the rest of this window is ignored`;
}

/**
 * What to do with a main-socket frame: `handle` it, `refuse` it (the window's first refusal: tell the
 * client once), `drop` it silently, or `close` the connection (it sent twice its budget in one window).
 */
export type FrameDecision = 'handle' | 'refuse' | 'drop' | 'close';

interface ConnectionWindow {
  start: number;
  /** Frames this instance saw in the window. */
  seen: number;
  /** Of those, already added to the shared counter. */
  counted: number;
  /** The shared counter said the budget is spent: no more requests for this window. */
  spent: boolean;
  refused: number;
  /** Counter requests of this connection, one after the other (see admit). */
  turn: Promise<unknown>;
}

/**
 * Per-connection frame budget. A handler instance first admits `freeFrames` frames per connection and
 * window from memory, so the web client's keepalive (one `ping` a minute) costs no DynamoDB request.
 * Beyond that every frame goes to the shared counter (the first such request adds the frames seen so
 * far), because on AWS one connection's frames reach many Lambda instances. Once the counter says the
 * budget is spent, this instance drops the connection's frames from memory until the window ends: a flood
 * costs one UpdateItem per instance, not one per frame. The price: each instance may admit up to
 * `freeFrames` frames of a window beyond the budget.
 */
export class FrameGate {
  private readonly windows = new Map<string, ConnectionWindow>();
  private sweptWindow = 0;

  admit(
    connectionId: string,
    limit: RateLimit | undefined,
    freeFrames: number,
    count: (amount: number) => Promise<Verdict>,
    now = Date.now(),
  ): Promise<FrameDecision> {
    if (!limit) return Promise.resolve('handle');
    const { start } = windowOf(limit, now);
    this.sweep(start);
    let state = this.windows.get(connectionId);
    if (!state || state.start !== start) {
      state = { start, seen: 0, counted: 0, spent: false, refused: 0, turn: Promise.resolve() };
      this.windows.set(connectionId, state);
    }
    // Numbered synchronously, in the order frames arrive.
    const frame = ++state.seen;
    if (frame <= Math.min(freeFrames, limit.requests)) return Promise.resolve('handle');
    // One counter request at a time per connection: a frame counts the frames before it exactly once, and
    // frames queued behind the first refusal are dropped without asking. (A Lambda instance runs one
    // invocation at a time anyway; the local runtime runs them concurrently.)
    const window = state;
    const decision = window.turn.then(() => this.decide(window, frame, limit, freeFrames, count));
    window.turn = decision.catch(() => undefined);
    return decision;
  }

  private async decide(
    state: ConnectionWindow,
    frame: number,
    limit: RateLimit,
    freeFrames: number,
    count: (amount: number) => Promise<Verdict>,
  ): Promise<FrameDecision> {
    if (state.spent) return this.refusal(state, limit, false);
    if (freeFrames >= limit.requests) {
      // Memory alone already knows: the free allowance covers the whole budget.
      state.spent = true;
      return this.refusal(state, limit, true);
    }
    const amount = frame - state.counted;
    state.counted = frame;
    const verdict = await count(amount);
    if (verdict.allowed) return 'handle';
    state.spent = true;
    return this.refusal(state, limit, verdict.firstRefusal);
  }

  private refusal(state: ConnectionWindow, limit: RateLimit, first: boolean): FrameDecision {
    state.refused++;
    // Once: later frames of a closing connection are just dropped.
    if (state.refused === limit.requests + 1) return 'close';
    return first ? 'refuse' : 'drop';
  }

  /** Once per window, forget the connections of earlier windows (closed ones included). */
  private sweep(start: number): void {
    if (start === this.sweptWindow) return;
    this.sweptWindow = start;
    for (const [id, state] of this.windows) if (state.start < start) this.windows.delete(id);
  }
}
