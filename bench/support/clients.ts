import WebSocket from 'ws';

/** Called for every text frame a fleet socket receives, with the index of the socket and the arrival time. */
export type FrameListener = (socketIndex: number, frame: string, receivedAt: number) => void;

/** Runs `task` over `items` with at most `concurrency` in flight; results keep the input order. */
export async function mapBounded<T, R>(items: readonly T[], concurrency: number, task: (item: T, index: number) => Promise<R>): Promise<R[]> {
  const results = new Array<R>(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const index = next++;
      results[index] = await task(items[index], index);
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, items.length) }, worker));
  return results;
}

/** Opens one main-socket connection with `?token=`; rejects on a refused upgrade or after `timeoutMs`. */
export function openSocket(url: string, timeoutMs = 15_000): Promise<WebSocket> {
  return new Promise((resolve, reject) => {
    const socket = new WebSocket(url, { perMessageDeflate: false });
    const timer = setTimeout(() => {
      socket.terminate();
      reject(new Error(`no open within ${timeoutMs} ms: ${url.replace(/token=[^&]+/, 'token=…')}`));
    }, timeoutMs);
    socket.once('open', () => {
      clearTimeout(timer);
      resolve(socket);
    });
    socket.once('unexpected-response', (_request, response) => {
      clearTimeout(timer);
      socket.terminate();
      reject(new Error(`upgrade refused with HTTP ${response.statusCode}`));
    });
    socket.once('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
  });
}

/**
 * Many WebSocket clients in this process, all reporting their frames to one listener. The same fleet
 * measures our gateway and the plain `ws` baseline, so client-side costs are equal on both sides.
 */
export class ClientFleet {
  private constructor(
    readonly sockets: WebSocket[],
    private listener: FrameListener,
  ) {}

  static async open(urls: readonly string[], listener: FrameListener, concurrency = 32): Promise<ClientFleet> {
    const fleet = new ClientFleet([], listener);
    try {
      await mapBounded(urls, concurrency, async (url, index) => {
        const socket = await openSocket(url);
        fleet.sockets[index] = socket;
        socket.on('message', (data: Buffer, isBinary: boolean) => {
          if (!isBinary) fleet.listener(index, data.toString('utf8'), performance.now());
        });
        socket.on('error', () => undefined);
      });
    } catch (error) {
      await fleet.close();
      throw error;
    }
    return fleet;
  }

  setListener(listener: FrameListener): void {
    this.listener = listener;
  }

  /** Closes every socket cleanly (bounded: stragglers are terminated after `timeoutMs`). */
  async close(timeoutMs = 10_000): Promise<void> {
    const open = this.sockets.filter((s) => s && s.readyState !== WebSocket.CLOSED);
    const closed = Promise.all(open.map((s) => new Promise<void>((resolve) => (s.once('close', () => resolve()), s.close()))));
    await Promise.race([closed, new Promise((r) => setTimeout(r, timeoutMs))]);
    for (const socket of open) socket.terminate();
  }
}
