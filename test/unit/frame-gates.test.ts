/**
 * The frame gates: the main socket's per-connection budget (FrameGate, lambdas/domain/rate-limits.ts, used by
 * lambdas/socket/frame-limit.ts), the voice socket's (FrameBudget, media-node/frame-budget.ts), and the local
 * gateway's frame size limit (FrameSizeGuard, local/frame-guard.ts).
 */
import type { RateLimit } from '../../lambdas/domain/config';
import { type FrameDecision, FrameGate, frameLimitText, type Verdict, windowOf } from '../../lambdas/domain/rate-limits';
import { FrameSizeGuard } from '../../local/frame-guard';
import { FrameBudget } from '../../media-node/frame-budget';

const LIMIT: RateLimit = { requests: 5, windowSeconds: 10 };
/** An instant well inside one window of LIMIT, and one in the next window. */
const T0 = 1_700_000_000_000 + 1000;
const T1 = T0 + 10_000;

/** A shared counter as rate-counters.ts keeps it (one window), recording what it was asked. */
function counter(limit: RateLimit, options: { firstRefusalHere?: boolean } = {}) {
  let count = 0;
  let refusals = 0;
  const asked: number[] = [];
  const count$ = async (amount: number): Promise<Verdict> => {
    asked.push(amount);
    count += amount;
    const allowed = count <= limit.requests;
    if (!allowed) refusals++;
    return { allowed, count, window: windowOf(limit, T0), retryAfterSeconds: 1, firstRefusal: !allowed && refusals === 1 && options.firstRefusalHere !== false };
  };
  return { count: count$, asked, total: () => count };
}

async function admitMany(gate: FrameGate, n: number, count: (amount: number) => Promise<Verdict>, options: { free?: number; now?: number; connection?: string } = {}) {
  const decisions: FrameDecision[] = [];
  for (let i = 0; i < n; i++) decisions.push(await gate.admit(options.connection ?? 'c1', LIMIT, options.free ?? 2, count, options.now ?? T0));
  return decisions;
}

describe('FrameGate: the main socket budget per connection', () => {
  test('no limit configured: every frame is handled and nothing is counted', async () => {
    const gate = new FrameGate();
    const { count, asked } = counter(LIMIT);
    for (let i = 0; i < 20; i++) expect(await gate.admit('c1', undefined, 2, count, T0)).toBe('handle');
    expect(asked).toEqual([]);
  });

  test('the free frames cost no counter request; the first counted frame adds them; then one by one', async () => {
    const gate = new FrameGate();
    const { count, asked } = counter(LIMIT);
    expect(await admitMany(gate, 2, count)).toEqual(['handle', 'handle']);
    expect(asked).toEqual([]);
    expect(await admitMany(gate, 3, count)).toEqual(['handle', 'handle', 'handle']);
    expect(asked).toEqual([3, 1, 1]);
  });

  test('over the budget: refused once, then dropped without asking, and the frame making twice the budget closes', async () => {
    const gate = new FrameGate();
    const { count, asked } = counter(LIMIT);
    const decisions = await admitMany(gate, 12, count);
    expect(decisions).toEqual(['handle', 'handle', 'handle', 'handle', 'handle', 'refuse', 'drop', 'drop', 'drop', 'drop', 'close', 'drop']);
    // The one refusal spends the window: no request after it.
    expect(asked).toEqual([3, 1, 1, 1]);
  });

  test('another instance saw the first refusal: this one drops silently, and still closes at twice the budget', async () => {
    const gate = new FrameGate();
    const { count } = counter(LIMIT, { firstRefusalHere: false });
    expect(await admitMany(gate, 11, count)).toEqual(['handle', 'handle', 'handle', 'handle', 'handle', 'drop', 'drop', 'drop', 'drop', 'drop', 'close']);
  });

  test('a free allowance that covers the budget is decided from memory alone', async () => {
    const gate = new FrameGate();
    const { count, asked } = counter(LIMIT);
    expect(await admitMany(gate, 11, count, { free: 5 })).toEqual(['handle', 'handle', 'handle', 'handle', 'handle', 'refuse', 'drop', 'drop', 'drop', 'drop', 'close']);
    expect(asked).toEqual([]);
    // A free allowance above the budget is held to the budget.
    const generous = new FrameGate();
    expect((await admitMany(generous, 6, count, { free: 50 })).at(-1)).toBe('refuse');
  });

  test('a new window serves again; connections have their own budgets', async () => {
    const gate = new FrameGate();
    const first = counter(LIMIT);
    expect((await admitMany(gate, 7, first.count)).slice(5)).toEqual(['refuse', 'drop']);
    const other = counter(LIMIT);
    expect(await admitMany(gate, 3, other.count, { connection: 'c2' })).toEqual(['handle', 'handle', 'handle']);
    const next = counter(LIMIT);
    expect(await admitMany(gate, 6, next.count, { now: T1 })).toEqual(['handle', 'handle', 'handle', 'handle', 'handle', 'refuse']);
  });

  test('frames arriving together ask the counter one at a time, each frame counted once', async () => {
    const gate = new FrameGate();
    const asked: number[] = [];
    const answers: Array<() => void> = [];
    let total = 0;
    const slow = (amount: number) =>
      new Promise<Verdict>((resolve) => {
        asked.push(amount);
        answers.push(() => {
          total += amount;
          resolve({ allowed: total <= LIMIT.requests, count: total, window: windowOf(LIMIT, T0), retryAfterSeconds: 1, firstRefusal: total === LIMIT.requests + 1 });
        });
      });
    const pending = Array.from({ length: 6 }, () => gate.admit('c1', LIMIT, 2, slow, T0));
    // Frames 1 and 2 are free; frame 3 asks; 4..6 wait for it.
    await new Promise((resolve) => setImmediate(resolve));
    expect(asked).toEqual([3]);
    for (let i = 0; i < 4; i++) {
      answers.shift()!();
      await new Promise((resolve) => setImmediate(resolve));
    }
    expect(asked).toEqual([3, 1, 1, 1]);
    expect(await Promise.all(pending)).toEqual(['handle', 'handle', 'handle', 'handle', 'handle', 'refuse']);
  });

  test('a failing counter fails that frame only (the handler lets it through); the next frame asks again', async () => {
    const gate = new FrameGate();
    let fail = true;
    const { count, asked } = counter(LIMIT);
    const flaky = (amount: number) => (fail ? Promise.reject(new Error('table unreachable')) : count(amount));
    await admitMany(gate, 2, flaky);
    await expect(gate.admit('c1', LIMIT, 2, flaky, T0)).rejects.toThrow('table unreachable');
    fail = false;
    expect(await gate.admit('c1', LIMIT, 2, flaky, T0)).toBe('handle');
    // Only the frame after the failure is asked for: a failure under-counts at most the frames of its request.
    expect(asked).toEqual([1]);
  });

  test('the refusal text names the budget', () => {
    expect(frameLimitText({ requests: 120, windowSeconds: 60 })).toBe('too many frames: at most 120 per 60 s, the rest of this window is ignored');
  });
});

describe('FrameBudget: the voice socket budget, in the node\'s memory', () => {
  test('handle up to the budget, refuse once, drop, close at twice the budget, drop after', () => {
    let now = T0;
    const budget = new FrameBudget(LIMIT, () => now);
    const decisions = Array.from({ length: 13 }, () => budget.admit());
    expect(decisions).toEqual(['handle', 'handle', 'handle', 'handle', 'handle', 'refuse', 'drop', 'drop', 'drop', 'drop', 'close', 'drop', 'drop']);
    now = T1;
    expect(budget.admit()).toBe('handle');
  });

  test('windows are aligned to the clock, not to the first frame', () => {
    const start = windowOf(LIMIT, T0).start * 1000;
    let now = start + 9_999;
    const budget = new FrameBudget(LIMIT, () => now);
    for (let i = 0; i < 5; i++) expect(budget.admit()).toBe('handle');
    now = start + 10_000;
    for (let i = 0; i < 5; i++) expect(budget.admit()).toBe('handle');
    expect(budget.admit()).toBe('refuse');
  });

  test('no limit: everything is handled', () => {
    const budget = new FrameBudget(undefined, () => T0);
    for (let i = 0; i < 100; i++) expect(budget.admit()).toBe('handle');
  });
});

describe('FrameSizeGuard: the local gateway\'s per-frame size limit', () => {
  /** A client frame (masked unless `masked: false`) with a payload of `length` bytes. */
  function frame(length: number, options: { masked?: boolean; opcode?: number; fin?: boolean } = {}): Buffer {
    const first = ((options.fin ?? true) ? 0x80 : 0) | (options.opcode ?? 1);
    const mask = (options.masked ?? true) ? 0x80 : 0;
    let header: Buffer;
    if (length < 126) header = Buffer.from([first, mask | length]);
    else if (length < 65536) header = Buffer.from([first, mask | 126, length >> 8, length & 0xff]);
    else {
      header = Buffer.alloc(10);
      header[0] = first;
      header[1] = mask | 127;
      header.writeBigUInt64BE(BigInt(length), 2);
    }
    return Buffer.concat([header, mask ? Buffer.alloc(4, 0x11) : Buffer.alloc(0), Buffer.alloc(length, 0x61)]);
  }
  function run(limit: number, stream: Buffer, chunk = stream.length): number[] {
    const tripped: number[] = [];
    const guard = new FrameSizeGuard(limit, (n) => tripped.push(n));
    for (let at = 0; at < stream.length; at += chunk) guard.push(stream.subarray(at, at + chunk));
    return tripped;
  }

  test('exactly the limit passes, one byte more trips, at each length encoding boundary', () => {
    for (const limit of [125, 126, 65535, 65536]) {
      expect([limit, run(limit, frame(limit))]).toEqual([limit, []]);
      expect([limit, run(limit, frame(limit + 1).subarray(0, 14))]).toEqual([limit, [limit + 1]]);
    }
  });

  test('fed one byte at a time, headers split inside their length and mask bytes', () => {
    const stream = Buffer.concat([frame(3), frame(300), frame(70_000, { opcode: 2 }), frame(0)]);
    expect(run(70_000, stream, 1)).toEqual([]);
    expect(run(69_999, stream, 1)).toEqual([70_000]);
  });

  test('the limit is per frame: a message in fragments each under it passes, whatever its total', () => {
    const fragments = Buffer.concat([frame(900, { fin: false }), frame(900, { opcode: 0, fin: false }), frame(900, { opcode: 0 })]);
    expect(run(1000, fragments, 64)).toEqual([]);
  });

  test('control frames and unmasked frames are measured the same way', () => {
    expect(run(10, Buffer.concat([frame(5, { opcode: 9 }), frame(11, { masked: false })]))).toEqual([11]);
    // Without a mask key the next header follows the payload at once: misreading one would misplace it.
    expect(run(10, Buffer.concat([frame(3, { masked: false }), frame(20, { masked: false })]))).toEqual([20]);
  });

  test('reports once, then ignores the rest of the stream (the connection is being closed)', () => {
    expect(run(10, Buffer.concat([frame(20), frame(30), frame(40)]), 5)).toEqual([20]);
  });

  test('a 64-bit length beyond any real frame trips without waiting for its bytes', () => {
    const header = Buffer.alloc(14);
    header[0] = 0x82;
    header[1] = 0x80 | 127;
    header.writeBigUInt64BE(2n ** 62n, 2);
    const tripped = run(32 * 1024, header);
    expect(tripped).toHaveLength(1);
    expect(tripped[0]).toBeGreaterThan(32 * 1024);
  });
});
