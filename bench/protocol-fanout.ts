import { randomUUID } from 'node:crypto';
import WebSocket from 'ws';
import { connectionsOfServer } from '../lambdas/domain/connections';
import { createDb, type DynamoDbStore as Db } from '../lambdas/aws/dynamodb-store';
import { ensureTable, startDynamoDbLocal } from '../local/dynamodb';
import { mapBounded, openSocket } from './support/clients';
import { seedServer, type SeededServer } from './support/population';
import { formatTable, quantile, section, sleep } from './support/report';
import { type ServerProcess, startServerProcess } from './support/server-process';

/**
 * The workspace protocol's fan-out next to the main socket's (issue 16): the same domain event, a presence
 * change of one member (REST PUT /user_status, alternating away and online), to N recipients who are all
 * ZavodChat main-socket connections, all workspace (socket.io) connections, or half of each. The main socket
 * receives `user_changed`, the workspace socket `online-status-updated`: the fan-out resolves the audience once
 * and renders each protocol's frame. Per event: REST call to the last delivery, time per delivery, bytes per
 * delivery and DynamoDB requests, each also as a ratio to the ZavodChat-only fan-out of the same run. The
 * three audiences are connected at once and get their events in turn (see measureSize).
 *
 * BENCH_PROTOCOL_SIZES (default 100,500) and BENCH_PROTOCOL_EVENTS (default 40, per mix and size).
 */

export type Mix = 'zavodchat' | 'workspace' | 'mixed';
const MIXES: Mix[] = ['zavodchat', 'workspace', 'mixed'];

export interface ProtocolFanoutRow {
  recipients: number;
  mix: Mix;
  events: number;
  /** REST call start to the frame at the last recipient, ms. */
  p50: number;
  p95: number;
  /** p50 divided by the recipients, µs. */
  usPerDelivery: number;
  /** Mean frame size per delivery, bytes (the main socket's JSON or the Engine.IO/Socket.IO packet). */
  bytesPerDelivery: number;
  dynamoDbRequestsPerEvent: number;
  missing: number;
  /** p50 / the ZavodChat-only p50 at the same N. */
  timeRatio: number;
  bytesRatio: number;
}

/** Counts the status deliveries of the current event at every recipient. */
class Tracker {
  private count = 0;
  private bytes = 0;
  private last = 0;
  private wake?: () => void;
  constructor(readonly recipients: number) {}

  onFrame = (frame: string) => {
    // The main socket's user_changed with a status, or the workspace's online-status-updated (pings do not match).
    if (!frame.includes('"online-status-updated"') && !(frame.includes('"user_changed"') && frame.includes('"status"'))) return;
    this.count++;
    this.bytes += Buffer.byteLength(frame);
    this.last = performance.now();
    if (this.count >= this.recipients) this.wake?.();
  };

  reset(): void {
    this.count = 0;
    this.bytes = 0;
  }

  async wait(timeoutMs: number): Promise<{ count: number; bytes: number; last: number }> {
    if (this.count < this.recipients) {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, timeoutMs);
        this.wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      this.wake = undefined;
    }
    return { count: this.count, bytes: this.bytes, last: this.last };
  }
}

/** A workspace connection: open packet, namespace `/`, `auth` for the seeded server; answers pings. */
function openWorkspace(baseUrl: string, token: string, serverId: number, onFrame: (frame: string) => void, timeoutMs = 30_000): Promise<WebSocket> {
  return new Promise((resolve, reject) => {
    const socket = new WebSocket(`${baseUrl}/socket.io/?EIO=4&transport=websocket`, { perMessageDeflate: false });
    const timer = setTimeout(() => (socket.terminate(), reject(new Error('workspace connection: no auth-success in time'))), timeoutMs);
    let ready = false;
    socket.on('message', (data: Buffer) => {
      const frame = data.toString('utf8');
      if (frame === '2') return void socket.send('3');
      if (ready) return onFrame(frame);
      if (frame.startsWith('0{')) socket.send('40');
      else if (frame.startsWith('40{')) socket.send(`42${JSON.stringify(['auth', { token, workspaceId: String(serverId) }])}`);
      else if (frame.startsWith('42["auth-success"')) {
        ready = true;
        clearTimeout(timer);
        resolve(socket);
      } else if (frame.startsWith('42["socket-api-error"')) {
        clearTimeout(timer);
        socket.terminate();
        reject(new Error(`workspace auth refused: ${frame}`));
      }
    });
    socket.on('error', (error) => (clearTimeout(timer), reject(error)));
  });
}

async function openRecipients(server: ServerProcess, seeded: SeededServer, mix: Mix, onFrame: (frame: string) => void): Promise<WebSocket[]> {
  // Generous timeouts: on the shared machine an opening may queue behind everybody else's.
  return mapBounded(seeded.members, 8, async (member, index) => {
    const workspace = mix === 'workspace' || (mix === 'mixed' && index % 2 === 1);
    if (workspace) return openWorkspace(server.workspaceUrl!, member.token, seeded.serverId, onFrame, 60_000);
    const socket = await openSocket(`${server.wsUrl}/?token=${member.token}`, 60_000);
    socket.on('message', (data: Buffer) => onFrame(data.toString('utf8')));
    socket.on('error', () => undefined);
    return socket;
  });
}

async function closeAll(sockets: WebSocket[]): Promise<void> {
  await Promise.race([Promise.all(sockets.map((s) => new Promise<void>((resolve) => (s.once('close', () => resolve()), s.close())))), sleep(10_000)]);
  for (const socket of sockets) socket.terminate();
}

async function waitForDisconnects(db: Db, serverId: number, timeoutMs = 120_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if ((await connectionsOfServer(db, serverId)).length === 0) return;
    await sleep(300);
  }
  console.warn(`  (subscriptions of server ${serverId} still present after ${timeoutMs} ms)`);
}

/** Each actor's status, toggled between away (2) and online (1). */
const statuses = new Map<string, number>();
async function changeStatus(server: ServerProcess, token: string): Promise<void> {
  const status = statuses.get(token) === 2 ? 1 : 2;
  statuses.set(token, status);
  const response = await fetch(`${server.restUrl}/user_status?status=${status}`, { method: 'PUT', headers: { authorization: `Bearer ${token}` } });
  const text = await response.text();
  if (response.status !== 200) throw new Error(`PUT /user_status: ${response.status} ${text}`);
}

interface Audience {
  mix: Mix;
  seeded: SeededServer;
  tracker: Tracker;
  sockets: WebSocket[];
  latencies: number[];
  bytes: number;
  deliveries: number;
  missing: number;
  dynamoDbRequests: number;
}

/** One event to one audience, waited for at every recipient. */
async function oneEvent(server: ServerProcess, audience: Audience, record: boolean): Promise<void> {
  const { tracker, seeded } = audience;
  tracker.reset();
  if (record) await server.dynamoDbTime();
  const started = performance.now();
  await changeStatus(server, seeded.owner.token);
  const arrival = await tracker.wait(10_000);
  if (!record) {
    if (arrival.count === 0) throw new Error(`${audience.mix}: a status change reached none of the ${tracker.recipients} recipients`);
    return;
  }
  audience.dynamoDbRequests += Object.values(await server.dynamoDbTime()).reduce((n, c) => n + c.requests, 0);
  audience.missing += Math.max(0, tracker.recipients - arrival.count);
  audience.bytes += arrival.bytes;
  audience.deliveries += arrival.count;
  if (arrival.count >= tracker.recipients) audience.latencies.push(arrival.last - started);
}

/**
 * The three audiences are three servers of N seeded members each, all connected at once; the events go to
 * them in turn (the order rotating every round), so load and warm-up drift on the shared machine fall on all
 * three alike instead of on whichever ran first.
 */
async function measureSize(server: ServerProcess, db: Db, size: number, events: number): Promise<ProtocolFanoutRow[]> {
  const audiences: Audience[] = [];
  try {
    for (const mix of MIXES) {
      const seeded = await seedServer(db, size);
      const tracker = new Tracker(size);
      const audience: Audience = { mix, seeded, tracker, sockets: [], latencies: [], bytes: 0, deliveries: 0, missing: 0, dynamoDbRequests: 0 };
      audiences.push(audience);
      console.log(`  N=${size}: connecting the ${mix} audience...`);
      audience.sockets = await openRecipients(server, seeded, mix, tracker.onFrame);
      // A status is announced only while its user is connected (lambdas/domain/presence.ts): the actor's own
      // main socket, not a recipient (its frames are not counted).
      const actor = await openSocket(`${server.wsUrl}/?token=${seeded.owner.token}`, 60_000);
      actor.on('error', () => undefined);
      audience.sockets.push(actor);
    }
    // Warm-up: JIT, keep-alive pools, DynamoDB Local's caches.
    for (let round = 0; round < 5; round++) for (const audience of audiences) await oneEvent(server, audience, false);
    for (let round = 0; round < events; round++) {
      for (let i = 0; i < audiences.length; i++) await oneEvent(server, audiences[(round + i) % audiences.length], true);
    }
  } finally {
    for (const audience of audiences) await closeAll(audience.sockets);
    for (const audience of audiences) await waitForDisconnects(db, audience.seeded.serverId);
  }
  const rows = audiences.map((a) => {
    const p50 = quantile(a.latencies, 0.5);
    return {
      recipients: size,
      mix: a.mix,
      events,
      p50,
      p95: quantile(a.latencies, 0.95),
      usPerDelivery: (p50 * 1000) / size,
      bytesPerDelivery: a.bytes / Math.max(1, a.deliveries),
      dynamoDbRequestsPerEvent: a.dynamoDbRequests / events,
      missing: a.missing,
    };
  });
  return rows.map((row) => ({ ...row, timeRatio: row.p50 / rows[0].p50, bytesRatio: row.bytesPerDelivery / rows[0].bytesPerDelivery }));
}

export async function runProtocolFanoutBench(sizes: number[], events: number): Promise<ProtocolFanoutRow[]> {
  section('protocol fan-out: one presence change to N recipients, ZavodChat main socket vs workspace (socket.io) socket vs half of each');
  const dynamo = await startDynamoDbLocal();
  const tableName = `proto${randomUUID().slice(0, 8)}`;
  const db = createDb({ table: tableName, endpoint: dynamo.endpoint });
  let server: ServerProcess | undefined;
  const rows: ProtocolFanoutRow[] = [];
  try {
    await ensureTable(dynamo.endpoint, tableName);
    server = await startServerProcess({ kind: 'runtime', dynamoDbEndpoint: dynamo.endpoint, tableName, workspace: true });
    for (const size of sizes) {
      const sized = await measureSize(server, db, size, events);
      rows.push(...sized);
      const table = protocolFanoutTable(sized);
      console.log(formatTable(table.headers, table.rows));
    }
    return rows;
  } finally {
    db.doc.destroy();
    await server?.stop();
    await dynamo.stop();
  }
}

export function protocolFanoutTable(rows: ProtocolFanoutRow[]): { headers: string[]; rows: Array<Array<string | number>> } {
  return {
    headers: ['N', 'recipients', 'events', 'p50 ms', 'p95 ms', 'µs/delivery', 'bytes/delivery', 'DynamoDB req/event', 'missing', 'time vs ZavodChat-only', 'bytes vs ZavodChat-only'],
    rows: rows.map((r) => [
      r.recipients,
      r.mix === 'zavodchat' ? 'ZavodChat main socket' : r.mix === 'workspace' ? 'workspace (socket.io)' : 'half of each',
      r.events,
      r.p50,
      r.p95,
      r.usPerDelivery,
      r.bytesPerDelivery,
      r.dynamoDbRequestsPerEvent,
      r.missing,
      `${r.timeRatio.toFixed(2)}×`,
      `${r.bytesRatio.toFixed(2)}×`,
    ]),
  };
}

export function protocolFanoutOptionsFromEnv(): { sizes: number[]; events: number } {
  return {
    sizes: (process.env.BENCH_PROTOCOL_SIZES ?? '100,500').split(',').map(Number).filter((n) => n > 0),
    events: Number(process.env.BENCH_PROTOCOL_EVENTS ?? 40),
  };
}

if (require.main === module) {
  const options = protocolFanoutOptionsFromEnv();
  runProtocolFanoutBench(options.sizes, options.events).then(
    () => process.exit(0),
    (error) => {
      console.error(error);
      process.exit(1);
    },
  );
}
