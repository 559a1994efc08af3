import type { JoinedAnswer, VoiceDeparture, VoiceJoin, VoiceParticipant, VoicePresence, VoiceSpeaking, VoiceStateChange } from './ports';

type Operation =
  | { kind: 'joined'; state: VoiceJoin; apply: (answer: JoinedAnswer) => void }
  | { kind: 'changed'; delta: VoiceStateChange }
  | { kind: 'left'; who: VoiceParticipant; departure?: VoiceDeparture }
  | { kind: 'speaking'; change: VoiceSpeaking };

interface UserQueue {
  /** Calls not started yet, in order. */
  pending: Operation[];
  /** Resolves when the queue has run dry. */
  drained: Promise<void>;
}

const sameConnection = (a: VoiceParticipant, b: VoiceParticipant) => a.channelId === b.channelId;

/**
 * Calls the presence port one call at a time per user, so `joined` / `changed` / `left` of one user reach
 * the main socket in the order they happened even when the port is slow; failures are logged, never thrown
 * into the media path.
 *
 * Bounded however fast a client sends: `changed` calls that have not started yet merge into one (later
 * values win), so a burst of state changes costs at most one call in flight and one waiting, each a table
 * write and an event; and a `left` takes back its connection's `joined` (and what followed) when that has
 * not started yet, as nobody has heard of the connection. A user's queue thus holds at most one waiting
 * `joined`, `changed` and `left` per connection he opened while the port was busy.
 */
export class PresenceQueue {
  private readonly queues = new Map<number, UserQueue>();

  constructor(
    private readonly presence: VoicePresence,
    private readonly log: (line: string) => void,
  ) {}

  /** `apply` gets what the port answers (administrator mute/deafen, or a refusal), if anything. */
  joined(state: VoiceJoin, apply: (answer: JoinedAnswer) => void): void {
    this.add(state.userId, { kind: 'joined', state, apply });
  }

  left(who: VoiceParticipant, departure?: VoiceDeparture): void {
    const queue = this.queues.get(who.userId);
    if (queue) {
      const joined = queue.pending.findIndex((op) => op.kind === 'joined' && sameConnection(op.state, who));
      if (joined >= 0) queue.pending.splice(joined);
    }
    this.add(who.userId, { kind: 'left', who, ...(departure ? { departure } : {}) });
  }

  changed(delta: VoiceStateChange): void {
    // A waiting speaking change does not keep a later state change from merging (room.ts re-reports
    // speaking after every state change; it moves to the end of the queue, so this stays bounded).
    const pending = this.queues.get(delta.userId)?.pending ?? [];
    let at = pending.length - 1;
    while (at >= 0 && pending[at].kind === 'speaking') at--;
    const last = pending[at];
    if (last?.kind === 'changed' && sameConnection(last.delta, delta)) {
      Object.assign(last.delta, delta);
      return;
    }
    this.add(delta.userId, { kind: 'changed', delta: { ...delta } });
  }

  /** A speaking change; one not started yet is replaced by a later one (only the latest matters). */
  speaking(change: VoiceSpeaking): void {
    if (!this.presence.speaking) return;
    const queue = this.queues.get(change.userId);
    const waiting = queue?.pending.findIndex((op) => op.kind === 'speaking' && sameConnection(op.change, change)) ?? -1;
    if (waiting >= 0) queue!.pending.splice(waiting, 1);
    this.add(change.userId, { kind: 'speaking', change: { ...change } });
  }

  /** How many calls of the user wait behind the one in flight (tests, and the bound above). */
  waiting(userId: number): number {
    return this.queues.get(userId)?.pending.length ?? 0;
  }

  async heartbeat(participants: VoiceParticipant[]): Promise<void> {
    if (!this.presence.heartbeat || participants.length === 0) return;
    await this.presence.heartbeat(participants).catch((error: Error) => this.log(`voice presence heartbeat failed: ${error.message}`));
  }

  /** Resolves when every call made so far has settled. */
  async flush(): Promise<void> {
    while (this.queues.size > 0) await Promise.all([...this.queues.values()].map((queue) => queue.drained));
  }

  private add(userId: number, operation: Operation): void {
    const existing = this.queues.get(userId);
    if (existing) {
      existing.pending.push(operation);
      return;
    }
    const queue: UserQueue = { pending: [operation], drained: Promise.resolve() };
    this.queues.set(userId, queue);
    queue.drained = this.drain(userId, queue);
  }

  private async drain(userId: number, queue: UserQueue): Promise<void> {
    // Starts on the next microtask, so calls made in the same turn can still merge.
    await Promise.resolve();
    for (let operation = queue.pending.shift(); operation; operation = queue.pending.shift()) {
      try {
        await this.call(operation);
      } catch (error) {
        this.log(`voice presence ${operation.kind} of user ${userId} failed: ${(error as Error).message}`);
      }
    }
    this.queues.delete(userId);
  }

  private async call(operation: Operation): Promise<void> {
    switch (operation.kind) {
      case 'joined': {
        const answer = await this.presence.joined(operation.state);
        if (answer) operation.apply(answer);
        return;
      }
      case 'changed':
        return this.presence.changed(operation.delta);
      case 'left':
        return operation.departure ? this.presence.left(operation.who, operation.departure) : this.presence.left(operation.who);
      case 'speaking':
        return this.presence.speaking?.(operation.change);
    }
  }
}
