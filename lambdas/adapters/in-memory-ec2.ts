import { type Ec2Port, IncorrectInstanceStateError, type InstanceState } from '../domain/media-node-lifecycle';
import { type Clock, systemClock } from '../domain/ports';

export interface InMemoryEc2Options {
  instanceId?: string;
  initial?: InstanceState;
  /** How long pending -> running and stopping -> stopped take (ms); 0 completes at the next call. */
  startMs?: number;
  stopMs?: number;
  /** Latency of every call (ms): widens the windows a storm of callers races in. */
  callMs?: number;
  /** The time transitions complete by; a test's own clock lets it skip the minutes a stop takes. */
  clock?: Clock;
}

/**
 * One EC2 instance in memory with EC2's rules (StartInstances on a running or pending instance changes
 * nothing, on a stopping one it is refused; StopInstances likewise), for the lifecycle's tests and for a
 * local runtime that wants to exercise the lifecycle (`MEDIA_NODE_LIFECYCLE=memory`). Counts the calls.
 */
export class InMemoryEc2 implements Ec2Port {
  readonly instanceId: string;
  readonly calls = { start: 0, stop: 0 };
  /** Calls that changed the state: the number of real starts and stops. */
  readonly effective = { start: 0, stop: 0 };
  private state: InstanceState;
  private readonly clock: Clock;
  private changedAt: number;
  private readonly startMs: number;
  private readonly stopMs: number;
  private readonly callMs: number;

  constructor(options: InMemoryEc2Options = {}) {
    this.instanceId = options.instanceId ?? 'i-0123456789abcdef0';
    // As CloudFormation leaves a new instance.
    this.state = options.initial ?? 'running';
    this.startMs = options.startMs ?? 0;
    this.stopMs = options.stopMs ?? 0;
    this.callMs = options.callMs ?? 0;
    this.clock = options.clock ?? systemClock;
    this.changedAt = this.clock.now();
  }

  /** The state now, after the transitions their time has completed. */
  current(): InstanceState {
    const elapsed = this.clock.now() - this.changedAt;
    if (this.state === 'pending' && elapsed >= this.startMs) this.set('running');
    if (this.state === 'stopping' && elapsed >= this.stopMs) this.set('stopped');
    return this.state;
  }

  async start(): Promise<InstanceState> {
    this.calls.start++;
    await this.latency();
    const state = this.current();
    if (state === 'stopping') throw new IncorrectInstanceStateError(`The instance '${this.instanceId}' is not in a state from which it can be started.`);
    if (state === 'stopped') {
      this.effective.start++;
      this.set('pending');
    }
    return this.state;
  }

  async stop(): Promise<InstanceState> {
    this.calls.stop++;
    await this.latency();
    const state = this.current();
    if (state === 'pending') throw new IncorrectInstanceStateError(`The instance '${this.instanceId}' is not in a state from which it can be stopped.`);
    if (state === 'running') {
      this.effective.stop++;
      this.set('stopping');
    }
    return this.state;
  }

  private set(state: InstanceState): void {
    this.state = state;
    this.changedAt = this.clock.now();
  }

  private async latency(): Promise<void> {
    if (this.callMs > 0) await new Promise((resolve) => setTimeout(resolve, this.callMs));
  }
}
