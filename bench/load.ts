import { randomUUID } from 'node:crypto';
import WebSocket from 'ws';
import { GetCommand } from '@aws-sdk/lib-dynamodb';
import { createDb, type DynamoDbStore as Db } from '../lambdas/aws/dynamodb-store';
import { keys } from '../lambdas/domain/table';
import { DEFAULT_OFFLINE_GRACE_MS } from '../lambdas/settings';
import { ensureTable, startDynamoDbLocal } from '../local/dynamodb';
import { mapBounded, openSocket } from './support/clients';
import { type SeededServer, type SeededUser, seedServer } from './support/population';
import { formatTable, machineInfo, section, sleep, writeResults } from './support/report';
import { type ServerProcess, startServerProcess } from './support/server-process';

/**
 * `npm run load`: a soak of the local runtime. LOAD_CONNECTIONS (2,000) main-socket connections spread over
 * LOAD_SERVERS servers, each server's channel receiving messages through REST at a sustained total rate
 * (LOAD_RATE messages/s) for LOAD_SECONDS (180), while LOAD_CHURN connections a second close and reopen.
 *
 * Verified at the end:
 * - every connection open for the whole run got every message of its server exactly once, in order;
 * - every churning connection got, exactly once and in order, every message posted entirely within its
 *   lifetime, and nothing twice;
 * - the runtime's RSS (it runs in a child process) before and after, with samples in between;
 * - after the storm (LOAD_STORM_AT seconds into the run, default half of it; `off` for none), in which every
 *   connection closes and all reopen at the same moment, as API Gateway's 2-hour cap does to connections opened
 *   together: every user's stored status is online again, and the exactly-once check above covers the
 *   connections opened by the storm like any other.
 */

interface LoadOptions {
  connections: number;
  servers: number;
  seconds: number;
  rate: number;
  churnPerSecond: number;
  /** Share of connections that churn; the others stay open from start to end. */
  churnShare: number;
  /** Seconds into the run at which every connection closes and reopens at once; undefined: no storm. */
  stormAt?: number;
  cpuProfileDir?: string;
}

function optionsFromEnv(): LoadOptions {
  const number = (name: string, fallback: number) => {
    const value = Number(process.env[name] ?? fallback);
    if (!Number.isFinite(value) || value < 0) throw new Error(`${name} must be a non-negative number`);
    return value;
  };
  return {
    connections: number('LOAD_CONNECTIONS', 2000),
    servers: Math.max(1, number('LOAD_SERVERS', 10)),
    seconds: number('LOAD_SECONDS', 180),
    rate: number('LOAD_RATE', 3),
    churnPerSecond: number('LOAD_CHURN', 2),
    churnShare: number('LOAD_CHURN_SHARE', 0.2),
    stormAt: process.env.LOAD_STORM_AT === 'off' ? undefined : number('LOAD_STORM_AT', number('LOAD_SECONDS', 180) / 2),
    cpuProfileDir: process.env.LOAD_CPU_PROFILE_DIR || undefined,
  };
}

/** One posted message: `seq` is its order within its server's channel. */
interface Posted {
  seq: number;
  startedAt: number;
  answeredAt: number;
}

/** One lifetime of one client connection (a churning user has several, one after another). */
class Lifetime {
  readonly received: number[] = [];
  openedAt = 0;
  closingAt = Infinity;
  unexpectedClose?: string;
  socket?: WebSocket;

  constructor(readonly serverIndex: number) {}
}

interface Client {
  user: SeededUser;
  serverIndex: number;
  stable: boolean;
  lifetimes: Lifetime[];
}

const MARKER = /^load:(\d+):(\d+)$/;

interface StormFigures {
  closeMs: number;
  reopenMs: number;
  reopened: number;
  /** Upgrades that failed and were tried again (the stock client's reload after 3 s). */
  retries: number;
  offlineAfter: number;
  /** `user_changed` frames the clients received from the storm's start until its check: total, and offline ones. */
  presenceFrames: number;
  offlineFrames: number;
  /** REST posts started while the storm reopened: how many, and their answer times (ms). */
  postsDuring: number;
  postMedianMs: number;
  postMaxMs: number;
}

/** Every `user_changed` with a status any client received (the storm's cost in presence announcements). */
const presenceFrames = { total: 0, offline: 0 };

/** The runtime's offline grace (it inherits this environment): the storm's check waits for it to run out. */
const OFFLINE_GRACE_MS = Number(process.env.PRESENCE_OFFLINE_GRACE_MS ?? DEFAULT_OFFLINE_GRACE_MS);

/** The users whose current socket is open (a reconnect that failed leaves its user rightly offline). */
function connectedUsers(clients: Client[]): number[] {
  return clients.filter((c) => c.lifetimes[c.lifetimes.length - 1]?.socket?.readyState === WebSocket.OPEN).map((c) => c.user.id);
}

/** Users whose stored status is 0 (offline), of users who are connected when this is asked. */
async function usersOffline(db: Db, userIds: number[]): Promise<number[]> {
  const offline: number[] = [];
  await mapBounded(userIds, 32, async (id) => {
    const { Item: item } = await db.doc.send(new GetCommand({ TableName: db.table, Key: keys.user(id), ConsistentRead: true }));
    if (Number(item?.status ?? 0) === 0) offline.push(id);
  });
  return offline;
}

/** How long a client of the storm keeps trying to get its socket back. */
const STORM_OPEN_TIMEOUT_MS = 300_000;
/**
 * The stock web client reloads 3 s after its socket failed or closed and opens a new one: a storm client
 * whose upgrade was refused (504 once `$connect` outlasted 29 s, a reset) tries again after 3 s plus jitter.
 */
const STOCK_CLIENT_RETRY_MS = 3000;
const RETRY_JITTER_MS = 2000;

/** Opens as the stock client does in a storm: again after each failure, until `deadline`. Resolves with the failed attempts. */
async function openAsStockClient(runtime: ServerProcess, client: Client, deadline: number): Promise<number> {
  for (let failed = 0; ; failed++) {
    try {
      await open(runtime, client, Math.max(1000, deadline - performance.now()));
      return failed;
    } catch (error) {
      const retryAt = performance.now() + STOCK_CLIENT_RETRY_MS + Math.random() * RETRY_JITTER_MS;
      if (retryAt >= deadline) throw error;
      await sleep(retryAt - performance.now());
    }
  }
}

async function open(runtime: ServerProcess, client: Client, timeoutMs?: number): Promise<void> {
  const lifetime = new Lifetime(client.serverIndex);
  const socket = await openSocket(`${runtime.wsUrl}/?token=${client.user.token}`, timeoutMs);
  lifetime.openedAt = performance.now();
  lifetime.socket = socket;
  socket.on('message', (data: Buffer) => {
    const frame = JSON.parse(data.toString('utf8')) as { name: string; data: { text?: string; status?: number } };
    if (frame.name === 'user_changed' && frame.data.status !== undefined) {
      presenceFrames.total++;
      if (frame.data.status === 0) presenceFrames.offline++;
    }
    if (frame.name !== 'message_created') return;
    const match = MARKER.exec(frame.data.text ?? '');
    if (!match) return;
    if (Number(match[1]) !== client.serverIndex) lifetime.unexpectedClose ??= `got a message of server ${match[1]}`;
    lifetime.received.push(Number(match[2]));
  });
  socket.on('close', (code) => {
    if (lifetime.closingAt === Infinity) lifetime.unexpectedClose ??= `closed by the server with ${code}`;
  });
  socket.on('error', () => undefined);
  client.lifetimes.push(lifetime);
}

function close(lifetime: Lifetime): Promise<void> {
  lifetime.closingAt = performance.now();
  const socket = lifetime.socket!;
  if (socket.readyState === WebSocket.CLOSED) return Promise.resolve();
  return new Promise((resolve) => {
    const timer = setTimeout(() => (socket.terminate(), resolve()), 5000);
    socket.once('close', () => (clearTimeout(timer), resolve()));
    socket.close();
  });
}

interface Verdict {
  stableConnections: number;
  churnLifetimes: number;
  lost: number;
  duplicated: number;
  outOfOrder: number;
  unexpectedCloses: number;
  examples: string[];
}

/** Checks one lifetime against the messages it had to get (`due`), all of which it may get (`allowed`). */
function verify(posted: Posted[][], clients: Client[]): Verdict {
  const verdict: Verdict = { stableConnections: 0, churnLifetimes: 0, lost: 0, duplicated: 0, outOfOrder: 0, unexpectedCloses: 0, examples: [] };
  const note = (text: string) => verdict.examples.length < 10 && verdict.examples.push(text);
  for (const client of clients) {
    for (const lifetime of client.lifetimes) {
      if (client.stable) verdict.stableConnections++;
      else verdict.churnLifetimes++;
      if (lifetime.unexpectedClose) {
        verdict.unexpectedCloses++;
        note(`user ${client.user.id}: ${lifetime.unexpectedClose}`);
      }
      const seen = new Set<number>();
      let previous = 0;
      for (const seq of lifetime.received) {
        if (seen.has(seq)) {
          verdict.duplicated++;
          note(`user ${client.user.id}: message ${seq} of server ${client.serverIndex} twice`);
        }
        if (seq < previous) {
          verdict.outOfOrder++;
          note(`user ${client.user.id}: message ${seq} after ${previous}`);
        }
        seen.add(seq);
        previous = Math.max(previous, seq);
      }
      // Due: posted entirely while this connection was open (all of them, for a stable connection).
      for (const message of posted[client.serverIndex]) {
        const due = message.startedAt >= lifetime.openedAt && message.answeredAt <= lifetime.closingAt;
        if (due && !seen.has(message.seq)) {
          verdict.lost++;
          note(`user ${client.user.id} (${client.stable ? 'stable' : 'churning'}): message ${message.seq} of server ${client.serverIndex} lost`);
        }
      }
    }
  }
  return verdict;
}

async function main(): Promise<void> {
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
  const options = optionsFromEnv();
  const machine = machineInfo();
  section(
    `load: ${options.connections} connections over ${options.servers} servers, ${options.rate} messages/s, ` +
      `${options.churnPerSecond} reconnects/s, ${options.seconds} s`,
  );
  console.log(`machine: ${machine.nproc} × ${machine.cpuModel}, Node ${machine.node}`);
  const dynamo = await startDynamoDbLocal();
  const tableName = `load${randomUUID().slice(0, 8)}`;
  const db = createDb({ table: tableName, endpoint: dynamo.endpoint });
  let runtime: ServerProcess | undefined;
  const clients: Client[] = [];
  try {
    await ensureTable(dynamo.endpoint, tableName);
    runtime = await startServerProcess({ kind: 'runtime', dynamoDbEndpoint: dynamo.endpoint, tableName, cpuProfileDir: options.cpuProfileDir });
    const rssAtStart = await runtime.memory(true);
    const perServer = Math.ceil(options.connections / options.servers);
    const servers: SeededServer[] = [];
    for (let i = 0; i < options.servers; i++) servers.push(await seedServer(db, Math.min(perServer, options.connections - i * perServer)));
    servers.forEach((server, serverIndex) =>
      server.members.forEach((user, i) => clients.push({ user, serverIndex, stable: i >= Math.round(server.members.length * options.churnShare), lifetimes: [] })),
    );
    const connectStarted = performance.now();
    await mapBounded(clients, 32, (client) => open(runtime!, client));
    console.log(`  ${clients.length} connections open in ${((performance.now() - connectStarted) / 1000).toFixed(1)} s`);
    const rssBefore = await runtime.memory(true);

    const posted: Posted[][] = servers.map(() => []);
    const failures: string[] = [];
    const samples: Array<{ second: number; rss: number; heapUsed: number; messages: number; reconnects: number }> = [];
    const started = performance.now();
    const endAt = started + options.seconds * 1000;
    let reconnects = 0;

    // One sequential poster per server: order within a channel is the order of the REST calls.
    const interval = (1000 * options.servers) / Math.max(options.rate, 1e-9);
    const poster = async (serverIndex: number) => {
      const server = servers[serverIndex];
      let next = started + (interval * serverIndex) / options.servers;
      while (options.rate > 0 && performance.now() < endAt) {
        const wait = next - performance.now();
        if (wait > 0) await sleep(wait);
        if (performance.now() >= endAt) break;
        next += interval;
        const seq = posted[serverIndex].length + 1;
        const startedAt = performance.now();
        try {
          const response = await fetch(`${runtime!.restUrl}/channels/${server.channelId}/messages`, {
            method: 'POST',
            headers: { authorization: `Bearer ${server.owner.token}`, 'content-type': 'application/json' },
            body: JSON.stringify({ text: `load:${serverIndex}:${seq}` }),
            signal: AbortSignal.timeout(30_000),
          });
          const text = await response.text();
          if (response.status !== 200) throw new Error(`${response.status} ${text.slice(0, 100)}`);
          posted[serverIndex].push({ seq, startedAt, answeredAt: performance.now() });
        } catch (error) {
          failures.push(`post to server ${serverIndex}: ${(error as Error).message}`);
          // A post whose outcome is unknown cannot be verified: stop this poster rather than guess.
          return;
        }
      }
    };

    // Reconnects start on a fixed clock, several in flight, so a slow $connect does not lower the churn rate.
    const churner = async () => {
      const churning = clients.filter((c) => !c.stable);
      if (churning.length === 0 || options.churnPerSecond <= 0) return;
      const gap = 1000 / options.churnPerSecond;
      const inFlight = new Set<Promise<void>>();
      const busy = new Set<Client>();
      while (performance.now() < endAt) {
        await sleep(gap);
        if (storm.active) {
          // The storm reconnects everybody: let it have the connections to itself.
          await Promise.all(inFlight);
          storm.churnIdle?.();
          await storm.done;
          continue;
        }
        const client = churning[Math.floor(Math.random() * churning.length)];
        if (busy.has(client) || inFlight.size >= 16 || performance.now() >= endAt) continue;
        busy.add(client);
        const reconnect = (async () => {
          await close(client.lifetimes[client.lifetimes.length - 1]);
          try {
            await open(runtime!, client);
            reconnects++;
          } catch (error) {
            failures.push(`reconnect of user ${client.user.id}: ${(error as Error).message}`);
          }
        })().finally(() => {
          busy.delete(client);
          inFlight.delete(reconnect);
        });
        inFlight.add(reconnect);
      }
      await Promise.all(inFlight);
    };

    // The storm: every connection closes, then all reopen at the same moment.
    const storm: { active: boolean; churnIdle?: () => void; done?: Promise<void>; figures?: StormFigures } = { active: false };
    const stormer = async () => {
      if (options.stormAt === undefined || options.stormAt >= options.seconds) return;
      await sleep(started + options.stormAt * 1000 - performance.now());
      let finish!: () => void;
      storm.done = new Promise((resolve) => (finish = resolve));
      const churnIdle = new Promise<void>((resolve) => (storm.churnIdle = resolve));
      storm.active = true;
      if (clients.some((c) => !c.stable) && options.churnPerSecond > 0) await churnIdle;
      const closing = performance.now();
      const framesBefore = { ...presenceFrames };
      await Promise.all(clients.map((client) => close(client.lifetimes[client.lifetimes.length - 1])));
      const opening = performance.now();
      // Clients wait for their upgrade as browsers do (no 15 s give-up), and try again as the stock client does.
      const deadline = opening + STORM_OPEN_TIMEOUT_MS;
      const results = await Promise.allSettled(clients.map((client) => openAsStockClient(runtime!, client, deadline)));
      const opened = performance.now();
      for (const result of results) if (result.status === 'rejected') failures.push(`storm reconnect: ${(result.reason as Error).message}`);
      const retries = results.reduce((n, result) => n + (result.status === 'fulfilled' ? result.value : 0), 0);
      storm.active = false;
      finish();
      // Presence after the storm settles (the last $disconnects and after-connect steps, and the offline
      // grace of the first closes, whose checks must find everybody back): everybody online.
      await sleep(Math.max(3000, closing + OFFLINE_GRACE_MS + 3000 - performance.now()));
      const offline = await usersOffline(db, connectedUsers(clients));
      // REST must stay responsive while thousands of $connects queue (docs/performance.md, "Reconnect storm").
      const during = posted
        .flat()
        .filter((post) => post.startedAt >= closing && post.startedAt <= opened)
        .map((post) => post.answeredAt - post.startedAt)
        .sort((a, b) => a - b);
      storm.figures = {
        postsDuring: during.length,
        postMedianMs: during.length > 0 ? during[Math.floor(during.length / 2)] : 0,
        postMaxMs: during.length > 0 ? during[during.length - 1] : 0,
        closeMs: opening - closing,
        reopenMs: opened - opening,
        reopened: results.filter((result) => result.status === 'fulfilled').length,
        retries,
        offlineAfter: offline.length,
        presenceFrames: presenceFrames.total - framesBefore.total,
        offlineFrames: presenceFrames.offline - framesBefore.offline,
      };
      for (const id of offline.slice(0, 5)) failures.push(`user ${id} shown offline after the storm while connected`);
      console.log(
        `  storm: ${clients.length} closed in ${(opening - closing).toFixed(0)} ms, reopened in ${(opened - opening).toFixed(0)} ms; ` +
          `${offline.length} users shown offline afterwards; ${storm.figures.presenceFrames} user_changed frames received (${storm.figures.offlineFrames} offline), grace ${OFFLINE_GRACE_MS} ms`,
      );
    };

    const sampler = async () => {
      while (performance.now() < endAt) {
        await sleep(Math.min(10_000, Math.max(1000, endAt - performance.now())));
        const memory = await runtime!.memory();
        const second = Math.round((performance.now() - started) / 1000);
        const messages = posted.reduce((n, p) => n + p.length, 0);
        samples.push({ second, ...memory, messages, reconnects });
        const waiting = Object.entries(memory.invocations ?? {})
          .filter(([, f]) => f.running + f.queued > 0)
          .map(([route, f]) => `${route} ${f.running}+${f.queued}`)
          .join(', ');
        console.log(`  ${String(second).padStart(4)} s: RSS ${(memory.rss / 2 ** 20).toFixed(0)} MiB, ${messages} messages, ${reconnects} reconnects${waiting ? `; running+waiting: ${waiting}` : ''}`);
      }
    };

    await Promise.all([...servers.map((_, i) => poster(i)), churner(), sampler(), stormer()]);
    const elapsed = (performance.now() - started) / 1000;
    // Every post was answered after its delivery; give the last frames time to cross the loopback.
    await sleep(2000);
    for (const client of clients) {
      const last = client.lifetimes[client.lifetimes.length - 1];
      if (last.closingAt === Infinity) last.closingAt = performance.now();
    }
    const verdict = verify(posted, clients);
    const offlineAtEnd = await usersOffline(db, connectedUsers(clients));
    for (const id of offlineAtEnd.slice(0, 5)) failures.push(`user ${id} shown offline at the end while connected`);
    const rssAfter = await runtime.memory(true);
    const messages = posted.reduce((n, p) => n + p.length, 0);
    const deliveries = clients.reduce((n, c) => n + c.lifetimes.reduce((m, l) => m + l.received.length, 0), 0);

    section('load: results');
    const mib = (bytes: number) => `${(bytes / 2 ** 20).toFixed(0)} MiB`;
    console.log(
      formatTable(
        ['measure', 'value'],
        [
          ['duration', `${elapsed.toFixed(0)} s`],
          ['messages posted', messages],
          ['achieved rate', `${(messages / elapsed).toFixed(2)} msg/s`],
          ['events delivered', deliveries],
          ['events/s', (deliveries / elapsed).toFixed(0)],
          ['reconnects', reconnects],
          ['stable connections checked', verdict.stableConnections],
          ['churn lifetimes checked', verdict.churnLifetimes],
          ['lost', verdict.lost],
          ['duplicated', verdict.duplicated],
          ['out of order', verdict.outOfOrder],
          ['unexpected closes', verdict.unexpectedCloses],
          ['storm: close / reopen all', storm.figures ? `${storm.figures.closeMs.toFixed(0)} ms / ${storm.figures.reopenMs.toFixed(0)} ms (${storm.figures.reopened} connections, ${storm.figures.retries} retried upgrades)` : 'no storm'],
          ['users shown offline while connected (after the storm / at the end)', `${storm.figures?.offlineAfter ?? '-'} / ${offlineAtEnd.length}`],
          ['storm: REST posts while reopening, answer time median / max', storm.figures ? `${storm.figures.postsDuring} posts, ${storm.figures.postMedianMs.toFixed(0)} ms / ${storm.figures.postMaxMs.toFixed(0)} ms` : '-'],
          ['storm: user_changed frames received (offline ones)', storm.figures ? `${storm.figures.presenceFrames} (${storm.figures.offlineFrames}), grace ${OFFLINE_GRACE_MS} ms` : '-'],
          ['failed requests', failures.length],
          ['runtime RSS at start (idle)', mib(rssAtStart.rss)],
          ['runtime RSS before load (connections open)', mib(rssBefore.rss)],
          ['runtime RSS peak sample', mib(Math.max(...samples.map((s) => s.rss), rssBefore.rss))],
          ['runtime RSS after load (after GC)', mib(rssAfter.rss)],
          ['runtime heap before / after (after GC)', `${mib(rssBefore.heapUsed)} / ${mib(rssAfter.heapUsed)}`],
        ],
      ),
    );
    for (const example of [...verdict.examples, ...failures.slice(0, 10)]) console.log(`  ! ${example}`);
    const ok = verdict.lost === 0 && verdict.duplicated === 0 && verdict.outOfOrder === 0 && verdict.unexpectedCloses === 0 && failures.length === 0;
    const path = writeResults('load', { options, elapsed, messages, deliveries, reconnects, storm: storm.figures, offlineAtEnd: offlineAtEnd.length, verdict, failures, rssAtStart, rssBefore, rssAfter, samples, ok });
    console.log(`\n${ok ? 'PASS' : 'FAIL'}: every event exactly once and in order${ok ? '' : ' — NOT met'}; results: ${path}`);
    process.exitCode = ok ? 0 : 1;
  } finally {
    await Promise.all(clients.flatMap((c) => c.lifetimes.map((l) => l.socket?.terminate())));
    db.doc.destroy();
    await runtime?.stop();
    await dynamo.stop();
  }
}

main().then(
  () => process.exit(process.exitCode ?? 0),
  (error) => {
    console.error(error);
    process.exit(1);
  },
);
