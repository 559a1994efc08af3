import * as mediasoup from 'mediasoup';
import type { types } from 'mediasoup';
import type { MediaSettings } from './config';

/** One mediasoup worker process and the WebRtcServer through which all its transports share two ports. */
export interface MediaWorker {
  index: number;
  worker: types.Worker;
  webRtcServer: types.WebRtcServer;
  /** The WebRtcServer's UDP port (TCP has the same number unless RTC_MIN_PORT is 0, i.e. random ports). */
  port: number;
  /** Rooms (routers) placed on this worker; new rooms go to the least loaded worker. */
  rooms: number;
}

type PoolSettings = Pick<MediaSettings, 'workers' | 'rtcListenIp' | 'announcedAddress' | 'rtcBasePort'>;

const RESPAWN_DELAY_MS = 1000;

/**
 * The node's workers, one per core by default. A worker that dies takes its routers with it (their rooms
 * close their peers on `workerclose`); the pool starts a replacement on the same ports.
 */
export class WorkerPool {
  private readonly workers: Array<MediaWorker | undefined>;
  private closed = false;

  private constructor(
    private readonly settings: PoolSettings,
    private readonly log: (line: string) => void,
  ) {
    this.workers = new Array(settings.workers).fill(undefined);
  }

  static async start(settings: PoolSettings, log: (line: string) => void): Promise<WorkerPool> {
    const pool = new WorkerPool(settings, log);
    try {
      for (let index = 0; index < settings.workers; index++) pool.workers[index] = await pool.spawn(index);
    } catch (error) {
      pool.close();
      throw error;
    }
    return pool;
  }

  private async spawn(index: number): Promise<MediaWorker> {
    const worker = await mediasoup.createWorker({ logLevel: 'warn' });
    try {
      const port = this.settings.rtcBasePort === 0 ? undefined : this.settings.rtcBasePort + index;
      const listen = { ip: this.settings.rtcListenIp, announcedAddress: this.settings.announcedAddress, port };
      const webRtcServer = await worker.createWebRtcServer({
        listenInfos: [
          { protocol: 'udp', ...listen },
          { protocol: 'tcp', ...listen },
        ],
      });
      const { udpSockets } = await webRtcServer.dump();
      const entry: MediaWorker = { index, worker, webRtcServer, port: udpSockets[0].port, rooms: 0 };
      worker.on('died', (error) => this.replace(entry, error));
      return entry;
    } catch (error) {
      worker.close();
      throw error;
    }
  }

  private replace(dead: MediaWorker, error: Error): void {
    if (this.workers[dead.index] !== dead) return;
    this.workers[dead.index] = undefined;
    this.log(`media worker ${dead.index} (pid ${dead.worker.pid}) died: ${error.message}; starting a new one`);
    const attempt = () => {
      if (this.closed) return;
      this.spawn(dead.index).then(
        (entry) => {
          if (this.closed) entry.worker.close();
          else this.workers[dead.index] = entry;
        },
        (spawnError: Error) => {
          this.log(`media worker ${dead.index} could not be restarted: ${spawnError.message}; retrying`);
          setTimeout(attempt, RESPAWN_DELAY_MS);
        },
      );
    };
    attempt();
  }

  /** The live worker with the fewest rooms. */
  pick(): MediaWorker {
    let best: MediaWorker | undefined;
    for (const entry of this.workers) if (entry && (!best || entry.rooms < best.rooms)) best = entry;
    if (!best) throw new Error('no media worker is running');
    return best;
  }

  /** Live workers, e.g. for tests that kill one. */
  list(): MediaWorker[] {
    return this.workers.filter((entry): entry is MediaWorker => entry !== undefined);
  }

  close(): void {
    this.closed = true;
    for (const entry of this.workers) entry?.worker.close();
    this.workers.fill(undefined);
  }
}
