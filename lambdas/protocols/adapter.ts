import type { InboundCommand } from '../domain/commands';
import type { Recipient } from '../domain/connections';
import type { DomainEvent } from '../domain/events';
import type { FanoutContext } from '../domain/fanout';

/** One frame and the connections it goes to. */
export interface Rendering {
  frame: string;
  recipients: readonly Recipient[];
}

/**
 * How the fan-out removes connections of a protocol that stores them itself, apart from the ZavodChat users'
 * (the desk: users of its own, presence of its own): one that answered 410 (`gone`, a proof only when it
 * was open before `postedAt`) and one closed from the server's side (`close`: its session expired).
 */
export interface ConnectionLifecycle {
  gone(context: FanoutContext, recipient: Recipient, postedAt: number): Promise<void>;
  close(context: FanoutContext, connectionId: string): Promise<void>;
}

/**
 * A socket protocol at the edge (docs/architecture.md, "Protocol adapters"). The fan-out resolves an event's
 * audience once, groups the recipients by their `protocol`, and calls `render` once per protocol present
 * with that protocol's recipients; whatever the renderings name is delivered.
 */
export interface ProtocolAdapter {
  /** The value of the connection item's `protocol` attribute; unique in the registry. */
  readonly name: string;
  /**
   * The frames for `event`: usually one rendering for all `recipients`; several when recipients need
   * different frames (e.g. by `scope`); none (`[]`) when the protocol has no counterpart for the event.
   * A rendering may name only some of the recipients (e.g. those whose scope the event concerns), never others.
   */
  render(event: DomainEvent, recipients: readonly Recipient[]): Rendering[];
  /** Inbound: a text frame from a client to a typed command (protocols without client frames omit it). */
  decode?(frame: string): InboundCommand;
  /** The frame that tells a client its input was refused (`InboundCommand` 'invalid', a frame limit). */
  errorFrame?(text: string): string;
  /** Connections stored by the protocol itself (absent: presence.ts stores them under their ZavodChat user). */
  connections?: ConnectionLifecycle;
}

/** The adapters by protocol name. */
export class ProtocolRegistry {
  private readonly byName = new Map<string, ProtocolAdapter>();

  constructor(adapters: readonly ProtocolAdapter[]) {
    for (const adapter of adapters) {
      if (this.byName.has(adapter.name)) throw new Error(`protocol '${adapter.name}' registered twice`);
      this.byName.set(adapter.name, adapter);
    }
  }

  get(name: string): ProtocolAdapter | undefined {
    return this.byName.get(name);
  }

  get names(): string[] {
    return [...this.byName.keys()];
  }
}
