/**
 * `VoicePresence.speaking` through the media node's presence queue (issue 16): in order behind `joined`, a
 * waiting change replaced by a later one, withdrawn with its connection's `joined` by `left`, and skipped
 * entirely for a port that does not implement it; state changes still merge behind a waiting speaking change
 * (the room re-reports speaking after each state change), and `left` passes on why the connection ended.
 */
import type { VoiceDeparture, VoiceJoin, VoiceParticipant, VoicePresence, VoiceSpeaking } from '../../media-node/ports';
import { PresenceQueue } from '../../media-node/presence-queue';

class GatedPresence implements VoicePresence {
  readonly calls: string[] = [];
  private gates: Array<() => void> = [];
  private gate(): Promise<void> {
    return new Promise((resolve) => this.gates.push(resolve));
  }
  release(): void {
    for (const open of this.gates.splice(0)) open();
  }
  async joined(state: VoiceJoin) {
    this.calls.push(`joined ${state.channelId}`);
    await this.gate();
    return undefined;
  }
  async left(who: VoiceParticipant, departure?: VoiceDeparture) {
    this.calls.push(`left ${who.channelId}${departure?.replaced ? ' replaced' : ''}`);
    await this.gate();
  }
  async changed() {
    this.calls.push('changed');
    await this.gate();
  }
  async speaking(change: VoiceSpeaking) {
    this.calls.push(`speaking ${change.speaking}`);
    await this.gate();
  }
}

const join = (channelId: number): VoiceJoin => ({ userId: 1, channelId, joined: '2024-01-01T00:00:00.000Z', mute: 0, deaf: 0, video: 0 });
const settle = async (queue: PresenceQueue, port: GatedPresence) => {
  for (let i = 0; i < 10; i++) {
    port.release();
    await new Promise((resolve) => setImmediate(resolve));
  }
  await queue.flush();
};

test('speaking changes wait behind joined, and a waiting one is replaced by the latest', async () => {
  const port = new GatedPresence();
  const queue = new PresenceQueue(port, () => undefined);
  queue.joined(join(5), () => undefined);
  queue.speaking({ userId: 1, channelId: 5, speaking: true });
  queue.speaking({ userId: 1, channelId: 5, speaking: false });
  queue.speaking({ userId: 1, channelId: 5, speaking: true });
  // `joined` (not started before the next microtask) and one speaking change.
  expect(queue.waiting(1)).toBe(2);
  await settle(queue, port);
  expect(port.calls).toEqual(['joined 5', 'speaking true']);
});

test('left withdraws a joined not started, with the speaking changes behind it', async () => {
  const port = new GatedPresence();
  const queue = new PresenceQueue(port, () => undefined);
  queue.changed({ userId: 1, channelId: 4, mute: 1 });
  queue.joined(join(5), () => undefined);
  queue.speaking({ userId: 1, channelId: 5, speaking: true });
  queue.left({ userId: 1, channelId: 5 });
  await settle(queue, port);
  expect(port.calls).toEqual(['changed', 'left 5']);
});

test('a port without speaking gets no call and no queue entry', async () => {
  const calls: string[] = [];
  const port: VoicePresence = {
    joined: async () => void calls.push('joined'),
    left: async () => void calls.push('left'),
    changed: async () => void calls.push('changed'),
  };
  const queue = new PresenceQueue(port, () => undefined);
  queue.speaking({ userId: 1, channelId: 5, speaking: true });
  expect(queue.waiting(1)).toBe(0);
  await queue.flush();
  expect(calls).toEqual([]);
});

test('state changes merge across a waiting speaking change, which moves behind them: a burst stays bounded', async () => {
  const port = new GatedPresence();
  const queue = new PresenceQueue(port, () => undefined);
  queue.joined(join(5), () => undefined);
  for (let i = 0; i < 50; i++) {
    // What room.ts does for a participant who speaks while toggling his video.
    queue.changed({ userId: 1, channelId: 5, video: (i % 2) as 0 | 1 });
    queue.speaking({ userId: 1, channelId: 5, speaking: true });
  }
  expect(queue.waiting(1)).toBe(3);
  await settle(queue, port);
  expect(port.calls).toEqual(['joined 5', 'changed', 'speaking true']);
});

test('left passes on that its connection was replaced by another of the user (user-changed-device)', async () => {
  const port = new GatedPresence();
  const queue = new PresenceQueue(port, () => undefined);
  queue.left({ userId: 1, channelId: 4 }, { replaced: true });
  queue.left({ userId: 1, channelId: 5 });
  await settle(queue, port);
  expect(port.calls).toEqual(['left 4 replaced', 'left 5']);
});
