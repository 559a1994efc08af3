import WebSocket from 'ws';
import { type TestSystem, UpgradeRefused } from './system';

/** A frame of the desk socket (seed 004): `{"event_type", "data"}`. */
export interface DeskFrame {
  event_type: string;
  data: any;
}

/** Each barrier's marker has its own name, so its answer cannot be mistaken for another's. */
let markers = 0;

/** A desk-socket client that records every frame it receives. */
export class DeskClient {
  readonly frames: DeskFrame[] = [];
  readonly closed: Promise<{ code: number; reason: string }>;
  private waiters: Array<() => void> = [];

  constructor(
    readonly socket: WebSocket,
    private readonly settle: () => Promise<void>,
  ) {
    socket.on('message', (data) => {
      this.frames.push(JSON.parse(data.toString()) as DeskFrame);
      for (const wake of this.waiters.splice(0)) wake();
    });
    this.closed = new Promise((resolve) => socket.on('close', (code, reason) => resolve({ code, reason: reason.toString() })));
  }

  send(frame: unknown): void {
    this.socket.send(typeof frame === 'string' ? frame : JSON.stringify(frame));
  }

  /** Waits until a frame matches (without consuming it); a condition wait. */
  private async waitFor(match: (frame: DeskFrame) => boolean, timeoutMs: number, what: string): Promise<number> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const index = this.frames.findIndex(match);
      if (index >= 0) return index;
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`no ${what} within ${timeoutMs} ms; got ${JSON.stringify(this.frames)}`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
  }

  /**
   * The barrier (as SocketClient.barrier, test/support/system.ts): once the system is settled (the desk
   * gateway's handlers included), a marker frame goes to `$default`, which answers with an `error` event
   * through the same Management API path; one TCP stream delivers in order, so every frame the system
   * caused before has arrived when the answer does. Returns (and consumes) every frame before the answer.
   */
  async take(timeoutMs = 10_000): Promise<DeskFrame[]> {
    await this.settle();
    const marker = `zavodchat-test-barrier-${++markers}`;
    this.send({ event_type: marker });
    const answer = `unknown event '${marker}': the desk socket takes no events from clients`;
    const index = await this.waitFor((f) => f.event_type === 'error' && f.data?.message === answer, timeoutMs, `answer to the marker ${marker}`);
    const before = this.frames.splice(0, index + 1);
    before.pop();
    return before;
  }

  async close(): Promise<void> {
    this.socket.close();
    await this.closed;
  }
}

/**
 * Opens the desk socket at the runtime's `/connect/` with `?token=` (or any path and headers given);
 * refused upgrades reject with UpgradeRefused (its HTTP status) and carry the answer's body.
 */
export function openDesk(system: TestSystem, token: string | undefined, options: { path?: string; headers?: Record<string, string> } = {}): Promise<DeskClient> {
  const base = system.runtime.deskUrl!;
  const url = new URL(options.path ?? '', base);
  if (token !== undefined) url.searchParams.set('token', token);
  const socket = new WebSocket(url, { headers: options.headers });
  const client = new DeskClient(socket, () => system.settle());
  return new Promise((resolve, reject) => {
    socket.once('open', () => resolve(client));
    socket.once('unexpected-response', (_request, response) => {
      let body = '';
      response.on('data', (chunk: Buffer) => (body += chunk.toString()));
      response.on('end', () => reject(Object.assign(new UpgradeRefused(response.statusCode ?? 0), { body })));
    });
    socket.once('error', (error) => reject(error));
  });
}

/** The refusal of an upgrade that must be refused: `[status, body]`. */
export async function refusal(opening: Promise<DeskClient>): Promise<[number, string]> {
  try {
    const client = await opening;
    await client.close();
    return [101, 'opened'];
  } catch (error) {
    if (error instanceof UpgradeRefused) return [error.status, (error as UpgradeRefused & { body?: string }).body ?? ''];
    throw error;
  }
}
