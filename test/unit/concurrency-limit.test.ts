import { ConcurrencyLimit, SlotWaitAbandoned } from '../../lambdas/adapters/concurrency-limit';

/** A task that runs until its `finish` is called, recording when it started. */
function gatedTask(started: string[], name: string) {
  let finish!: () => void;
  const done = new Promise<void>((resolve) => (finish = resolve));
  return {
    finish: () => finish(),
    run: async () => {
      started.push(name);
      await done;
      return name;
    },
  };
}

const tick = () => new Promise((resolve) => setImmediate(resolve));

describe('ConcurrencyLimit', () => {
  test('runs at most `limit` tasks at once, the others in the order they came', async () => {
    const limit = new ConcurrencyLimit(2);
    const started: string[] = [];
    const tasks = ['a', 'b', 'c', 'd', 'e'].map((name) => gatedTask(started, name));
    const results = tasks.map((task) => limit.run(task.run));
    await tick();
    expect([started, limit.running, limit.queued]).toEqual([['a', 'b'], 2, 3]);
    tasks[1].finish();
    await tick();
    expect(started).toEqual(['a', 'b', 'c']);
    tasks[0].finish();
    tasks[2].finish();
    await tick();
    expect([started, limit.running]).toEqual([['a', 'b', 'c', 'd', 'e'], 2]);
    tasks[3].finish();
    tasks[4].finish();
    expect(await Promise.all(results)).toEqual(['a', 'b', 'c', 'd', 'e']);
    expect([limit.running, limit.queued]).toEqual([0, 0]);
  });

  test('a wait given up never runs, and its turn goes to the next', async () => {
    const limit = new ConcurrencyLimit(1);
    const started: string[] = [];
    const first = gatedTask(started, 'first');
    const abandoned = gatedTask(started, 'abandoned');
    const last = gatedTask(started, 'last');
    const giveUp = new AbortController();
    const running = limit.run(first.run);
    const waiting = limit.run(abandoned.run, giveUp.signal);
    const next = limit.run(last.run);
    await tick();
    expect(limit.queued).toBe(2);
    giveUp.abort();
    await expect(waiting).rejects.toBeInstanceOf(SlotWaitAbandoned);
    expect(limit.queued).toBe(1);
    first.finish();
    await tick();
    expect(started).toEqual(['first', 'last']);
    last.finish();
    expect(await Promise.all([running, next])).toEqual(['first', 'last']);
  });

  test('after only given-up waits, a new task starts at once (no slot is lost to them)', async () => {
    const limit = new ConcurrencyLimit(1);
    const started: string[] = [];
    const first = gatedTask(started, 'first');
    const running = limit.run(first.run);
    const giveUp = new AbortController();
    const waits = [limit.run(async () => 'never', giveUp.signal), limit.run(async () => 'never', giveUp.signal)];
    giveUp.abort();
    await Promise.allSettled(waits);
    first.finish();
    await running;
    const later = gatedTask(started, 'later');
    const result = limit.run(later.run);
    await tick();
    expect(started).toEqual(['first', 'later']);
    later.finish();
    expect(await result).toBe('later');
  });

  test('an already aborted signal never runs its task; a signal aborted after the start changes nothing', async () => {
    const limit = new ConcurrencyLimit(1);
    let ran = false;
    await expect(limit.run(async () => (ran = true), AbortSignal.abort())).rejects.toBeInstanceOf(SlotWaitAbandoned);
    expect(ran).toBe(false);
    const late = new AbortController();
    const started: string[] = [];
    const task = gatedTask(started, 'task');
    const result = limit.run(task.run, late.signal);
    await tick();
    late.abort();
    task.finish();
    expect(await result).toBe('task');
  });

  test('a failing task frees its slot', async () => {
    const limit = new ConcurrencyLimit(1);
    await expect(limit.run(async () => Promise.reject(new Error('boom')))).rejects.toThrow('boom');
    expect(await limit.run(async () => 'next')).toBe('next');
    expect(limit.running).toBe(0);
  });

  test('refuses a limit that is not a positive integer', () => {
    for (const bad of [0, -1, 1.5, Number.NaN]) expect(() => new ConcurrencyLimit(bad)).toThrow('positive integer');
  });
});
