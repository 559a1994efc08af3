import type { AdminVoiceFlags, VoiceJoin, VoiceParticipant, VoicePresence, VoiceStateChange } from './ports';

/**
 * Calls the presence port one call at a time per user, so `joined` / `changed` / `left` of one user reach
 * the main socket in the order they happened even when the port is slow; failures are logged, never thrown
 * into the media path.
 */
export class PresenceQueue {
  private readonly chains = new Map<number, Promise<void>>();

  constructor(
    private readonly presence: VoicePresence,
    private readonly log: (line: string) => void,
  ) {}

  /** `applyAdmin` gets the administrator mute/deafen the port returns, if any. */
  joined(state: VoiceJoin, applyAdmin: (flags: AdminVoiceFlags) => void): void {
    this.run(state.userId, 'joined', async () => {
      const admin = await this.presence.joined(state);
      if (admin) applyAdmin(admin);
    });
  }

  left(who: VoiceParticipant): void {
    this.run(who.userId, 'left', () => this.presence.left(who));
  }

  changed(delta: VoiceStateChange): void {
    this.run(delta.userId, 'changed', () => this.presence.changed(delta));
  }

  async heartbeat(participants: VoiceParticipant[]): Promise<void> {
    if (!this.presence.heartbeat || participants.length === 0) return;
    await this.presence.heartbeat(participants).catch((error: Error) => this.log(`voice presence heartbeat failed: ${error.message}`));
  }

  /** Resolves when every call made so far has settled. */
  async flush(): Promise<void> {
    while (this.chains.size > 0) await Promise.all([...this.chains.values()]);
  }

  private run(userId: number, what: string, call: () => Promise<void>): void {
    const next = (this.chains.get(userId) ?? Promise.resolve())
      .then(call)
      .catch((error: Error) => this.log(`voice presence ${what} of user ${userId} failed: ${error.message}`))
      .then(() => {
        if (this.chains.get(userId) === next) this.chains.delete(userId);
      });
    this.chains.set(userId, next);
  }
}
