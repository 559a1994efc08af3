/**
 * The media node's per-user presence queue is bounded (issue 18, item 7; docs/security.md, "Voice socket
 * budget"): state changes waiting behind a slow call merge into one, and a departure withdraws its
 * connection's calls that have not started. The frame budget's windows, on a fake clock.
 */
import { FrameBudget } from '../../media-node/frame-budget';
import type { VoiceJoin, VoiceParticipant, VoicePresence, VoiceStateChange } from '../../media-node/ports';
import { PresenceQueue } from '../../media-node/presence-queue';

/** A presence port whose calls finish only when the test says so. */
class GatedPresence implements VoicePresence {
  readonly calls: string[] = [];
  private gates: Array<() => void> = [];

  private gate(): Promise<void> {
    return new Promise((resolve) => this.gates.push(resolve));
  }

  /** Lets every call made so far finish. */
  release(): void {
    for (const open of this.gates.splice(0)) open();
  }

  async joined(state: VoiceJoin) {
    this.calls.push(`joined ${state.channelId}`);
    await this.gate();
    return undefined;
  }

  async left(who: VoiceParticipant) {
    this.calls.push(`left ${who.channelId}`);
    await this.gate();
  }

  async changed(delta: VoiceStateChange) {
    const { userId: _u, channelId: _c, serverId: _s, ...flags } = delta;
    this.calls.push(`changed ${JSON.stringify(flags)}`);
    await this.gate();
  }
}

const user = { userId: 7, channelId: 1, serverId: 2 };
const join: VoiceJoin = { ...user, joined: '2026-01-01T00:00:00.000Z', mute: 0, deaf: 0, video: 0 };
const tick = () => new Promise((resolve) => setImmediate(resolve));

test('1,000 state changes behind a slow call: one call in flight, one waiting, the last values win', async () => {
  const presence = new GatedPresence();
  const queue = new PresenceQueue(presence, () => undefined);
  queue.joined(join, () => undefined);
  await tick();
  for (let i = 1; i <= 1000; i++) queue.changed({ ...user, mute: (i % 2) as 0 | 1, ...(i === 500 ? { video: 1 as const } : {}) });
  expect(queue.waiting(user.userId)).toBe(1);
  presence.release();
  await tick();
  presence.release();
  await queue.flush();
  expect(presence.calls).toEqual(['joined 1', 'changed {"mute":0,"video":1}']);
});

test('a departure withdraws the join and changes that have not started; the departure itself is still reported', async () => {
  const presence = new GatedPresence();
  const queue = new PresenceQueue(presence, () => undefined);
  queue.changed({ ...user, channelId: 9, deaf: 1 });
  await tick();
  // Behind the call in flight: a whole connection to channel 1, and its end.
  queue.joined(join, () => undefined);
  queue.changed({ ...user, mute: 1 });
  queue.left(user);
  expect(queue.waiting(user.userId)).toBe(1);
  presence.release();
  await tick();
  presence.release();
  await queue.flush();
  expect(presence.calls).toEqual(['changed {"deaf":1}', 'left 1']);
});

test('changes of one connection never merge across a join or a departure', async () => {
  const presence = new GatedPresence();
  const queue = new PresenceQueue(presence, () => undefined);
  queue.joined(join, () => undefined);
  await tick();
  queue.changed({ ...user, mute: 1 });
  queue.left(user);
  queue.joined({ ...join, channelId: 3 }, () => undefined);
  queue.changed({ ...user, channelId: 3, deaf: 1 });
  for (let i = 0; i < 6; i++) {
    presence.release();
    await tick();
  }
  await queue.flush();
  expect(presence.calls).toEqual(['joined 1', 'changed {"mute":1}', 'left 1', 'joined 3', 'changed {"deaf":1}']);
});

test('the frame budget: handled up to the budget, one refusal, dropped, closed at twice the budget; a new window starts afresh', () => {
  let now = 120_000;
  const budget = new FrameBudget({ requests: 3, windowSeconds: 60 }, () => now);
  const decisions = Array.from({ length: 9 }, () => budget.admit());
  expect(decisions).toEqual(['handle', 'handle', 'handle', 'refuse', 'drop', 'drop', 'close', 'drop', 'drop']);
  now += 60_000;
  expect(budget.admit()).toBe('handle');
  expect(new FrameBudget(undefined).admit()).toBe('handle');
});
