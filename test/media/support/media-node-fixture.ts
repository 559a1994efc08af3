import { InMemoryAdmission, type InMemoryChannel, RecordingPresence } from '../../../media-node/in-memory-ports';
import { type MediaNode, startMediaNode } from '../../../media-node/node';
import type { MediaSettings } from '../../../media-node/config';

const SEGFAULT_HINT =
  'A mediasoup worker crashing during the DTLS handshake is the KTLS issue of workers linked against Debian OpenSSL: ' +
  "the worker's DTLS BIO callback must pass BIO_ctrl results through (see docs/voice.md, 'Worker binary').";

/** Users 1..30 have tokens `token-<id>`. */
export const tokenOf = (userId: number) => `token-${userId}`;

export interface Fixture {
  node: MediaNode;
  presence: RecordingPresence;
  admission: InMemoryAdmission;
  logs: string[];
}

/** A media node on free ports with in-memory admission over `channels` and a recording presence. */
export async function startFixture(channels: Record<number, InMemoryChannel>, settings: Partial<MediaSettings> = {}): Promise<Fixture> {
  const tokens = new Map(Array.from({ length: 30 }, (_, i) => [tokenOf(i + 1), i + 1] as [string, number]));
  const admission = new InMemoryAdmission(tokens, new Map(Object.entries(channels).map(([id, channel]) => [Number(id), channel])));
  const presence = new RecordingPresence();
  const logs: string[] = [];
  const node = await startMediaNode({
    port: 0,
    host: '127.0.0.1',
    admission,
    presence,
    settings: { workers: 1, rtcBasePort: 0, ...settings },
    // The node alone: its pages come from test servers on any port (the whole system checks origins).
    allowedOrigins: 'any',
    log: (line) => {
      logs.push(line);
      if (/died.*SIGSEGV/.test(line)) console.error(`${line}\n${SEGFAULT_HINT}`);
    },
  });
  return { node, presence, admission, logs };
}

/** Polls `condition` until it holds. */
export async function eventually(condition: () => boolean | Promise<boolean>, what: string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

export const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
