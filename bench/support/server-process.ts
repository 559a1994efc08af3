import { type ChildProcess, fork } from 'node:child_process';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { resolve } from 'node:path';
import { WebSocket, WebSocketServer } from 'ws';
import type { DynamoDbStore } from '../../lambdas/aws/dynamodb-store';
import type { ConnectionSender } from '../../lambdas/domain/ports';
import { startLocalRuntime } from '../../local/runtime';
import type { WebSocketGateway } from '../../local/ws-gateway';

/**
 * The server side of a benchmark in a child process of its own, so the client fleet (in the parent) and
 * the server do not share one event loop: `runtime` is the whole local runtime (REST + gateway + Lambdas
 * in-process, DynamoDB Local elsewhere), `baseline` a plain `ws` server that broadcasts what it is given.
 * `runtime-direct` is a what-if: the same runtime whose handlers post events straight onto the gateway's
 * sockets instead of through the Management API (HTTP + the AWS SDK), to size that suggested change.
 */
export type ServerKind = 'runtime' | 'runtime-direct' | 'baseline';

export interface ServerProcessOptions {
  kind: ServerKind;
  dynamoDbEndpoint?: string;
  tableName?: string;
  /** Write a V8 CPU profile of the server into this folder when it stops. */
  cpuProfileDir?: string;
  /** Also serve the workspace (socket.io) socket of seed 003 (bench/protocol-fanout.ts). */
  workspace?: boolean;
}

type ChildRequest = { type: 'memory'; id: number; collectGarbage?: boolean } | { type: 'dynamoDbTime'; id: number } | { type: 'stop' };

/** Time spent waiting for DynamoDB, by command, in the runtime child since the previous reading. */
export type DynamoDbTime = Record<string, { requests: number; totalMs: number }>;
type ChildReply =
  | { type: 'ready'; restUrl: string; wsUrl: string; workspaceUrl?: string }
  | { type: 'memory'; id: number; rss: number; heapUsed: number; invocations?: Invocations }
  | { type: 'dynamoDbTime'; id: number; time: DynamoDbTime }
  | { type: 'failed'; error: string };

export interface ServerProcess {
  restUrl: string;
  wsUrl: string;
  /** The workspace socket's base URL (socket.io's path `/socket.io/` goes after it), when `workspace` was asked for. */
  workspaceUrl?: string;
  pid: number;
  /** The child's memory; `collectGarbage` runs a full GC first (the child runs with --expose-gc). */
  memory(collectGarbage?: boolean): Promise<{ rss: number; heapUsed: number; invocations?: Invocations }>;
  /** DynamoDB request time of the runtime child since the last call (empty for the baseline). */
  dynamoDbTime(): Promise<DynamoDbTime>;
  stop(): Promise<void>;
}

const CHILD_FLAG = '--bench-server-child';

/** Starts the server child and resolves once it listens (bounded: 60 s). */
export async function startServerProcess(options: ServerProcessOptions): Promise<ServerProcess> {
  const execArgv = ['--import', 'tsx', '--expose-gc'];
  if (options.cpuProfileDir) execArgv.push('--cpu-prof', `--cpu-prof-dir=${resolve(options.cpuProfileDir)}`);
  const child: ChildProcess = fork(__filename, [CHILD_FLAG, JSON.stringify(options)], { execArgv, stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  const killOnExit = () => child.kill('SIGKILL');
  process.once('exit', killOnExit);
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  void exited.then(() => process.removeListener('exit', killOnExit));
  const ready = await new Promise<Extract<ChildReply, { type: 'ready' }>>((resolveReady, reject) => {
    const timer = setTimeout(() => reject(new Error('bench server did not start within 60 s')), 60_000);
    child.on('message', (message: ChildReply) => {
      if (message.type === 'ready') {
        clearTimeout(timer);
        resolveReady(message);
      } else if (message.type === 'failed') {
        clearTimeout(timer);
        reject(new Error(`bench server failed: ${message.error}`));
      }
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`bench server exited with code ${code}`));
    });
  }).catch((error) => {
    child.kill('SIGKILL');
    throw error;
  });
  let nextId = 0;
  /** One request to the child and the reply with the same id (bounded: 5 s). */
  const ask = <T>(request: ChildRequest & { id: number }, pick: (reply: ChildReply) => T | undefined): Promise<T> =>
    new Promise((resolveReply, reject) => {
      const timer = setTimeout(() => (child.off('message', onMessage), reject(new Error(`no ${request.type} reply within 5 s`))), 5000);
      const onMessage = (reply: ChildReply) => {
        if (!('id' in reply) || reply.id !== request.id) return;
        const value = pick(reply);
        if (value === undefined) return;
        clearTimeout(timer);
        child.off('message', onMessage);
        resolveReply(value);
      };
      child.on('message', onMessage);
      child.send(request);
    });
  return {
    restUrl: ready.restUrl,
    wsUrl: ready.wsUrl,
    workspaceUrl: ready.workspaceUrl,
    pid: child.pid!,
    memory(collectGarbage = false) {
      return ask<{ rss: number; heapUsed: number; invocations?: Invocations }>({ type: 'memory', id: ++nextId, collectGarbage }, (reply) =>
        reply.type === 'memory' ? { rss: reply.rss, heapUsed: reply.heapUsed, invocations: reply.invocations } : undefined,
      );
    },
    dynamoDbTime() {
      return ask<DynamoDbTime>({ type: 'dynamoDbTime', id: ++nextId }, (reply) => (reply.type === 'dynamoDbTime' ? reply.time : undefined));
    },
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.send({ type: 'stop' } satisfies ChildRequest);
      const timer = setTimeout(() => child.kill('SIGKILL'), 20_000);
      await exited;
      clearTimeout(timer);
    },
  };
}

/** The baseline: one HTTP server; POST /broadcast {text} sends a message_created-shaped event to every client. */
async function startBaseline(): Promise<{ url: string; stop: () => Promise<void> }> {
  const wss = new WebSocketServer({ noServer: true });
  let messageId = 0;
  const server = createServer((request: IncomingMessage, response: ServerResponse) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      let text = '';
      try {
        text = String((JSON.parse(Buffer.concat(chunks).toString('utf8')) as { text?: unknown }).text ?? '');
      } catch {
        response.writeHead(400).end('bad JSON');
        return;
      }
      const sent = new Date().toISOString();
      const id = ++messageId;
      // The same event our REST route publishes (lambdas/rest/routes/messages.ts), serialized once.
      const payload = JSON.stringify({
        name: 'message_created',
        data: { id, author_id: 1, sent, edited: sent, text, attachments: [], mentions: [], channel_id: 1, server_id: 1 },
      });
      const clients = [...wss.clients];
      let pending = clients.length;
      if (pending === 0) response.writeHead(200).end(String(id));
      for (const client of clients) {
        client.send(payload, () => {
          if (--pending === 0) response.writeHead(200).end(String(id));
        });
      }
    });
  });
  server.on('upgrade', (request, socket, head) => wss.handleUpgrade(request, socket, head, (ws) => ws.on('error', () => ws.terminate())));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const url = `127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    url,
    stop: async () => {
      for (const client of wss.clients) client.terminate();
      wss.close();
      await new Promise<void>((r) => {
        server.close(() => r());
        server.closeAllConnections();
      });
    },
  };
}

/** What-if sender: the gateway's own socket, no HTTP, no SDK (the ConnectionSender contract, 410 as 'gone'). */
function directSender(gateway: WebSocketGateway): ConnectionSender {
  return {
    post(connectionId: string, payload: string): Promise<'sent' | 'gone'> {
      const connection = gateway.connections.get(connectionId);
      if (!connection || connection.socket.readyState !== WebSocket.OPEN) return Promise.resolve('gone');
      return new Promise((resolveSend) => connection.socket.send(payload, (error) => resolveSend(error ? 'gone' : 'sent')));
    },
    async close(connectionId: string): Promise<void> {
      gateway.connections.get(connectionId)?.socket.close(1000, 'Closed by the server');
    },
    async exists(connectionId: string): Promise<boolean> {
      return gateway.connections.has(connectionId);
    },
  };
}

let dynamoDbTime: DynamoDbTime = {};
/** The main socket's invocations per route, running and waiting (the runtime child's gateway; none for the baseline). */
export type Invocations = Record<string, { running: number; queued: number }>;
let invocationsNow: () => Invocations | undefined = () => undefined;

async function childMain(options: ServerProcessOptions): Promise<void> {
  const send = (message: ChildReply) => process.send?.(message);
  let stop: () => Promise<void>;
  try {
    if (options.kind === 'baseline') {
      const baseline = await startBaseline();
      stop = baseline.stop;
      send({ type: 'ready', restUrl: `http://${baseline.url}`, wsUrl: `ws://${baseline.url}` });
    } else {
      const runtime = await startLocalRuntime({
        host: '127.0.0.1',
        restPort: 0,
        wsPort: 0,
        // No voice: the fan-out does not use it, and two runtimes (ours and the what-if) run side by side.
        vcPort: false,
        workspacePort: options.workspace ? 0 : false,
        dynamoDbEndpoint: options.dynamoDbEndpoint,
        tableName: options.tableName,
        // The benchmarks post as fast as they can from few users: per-user rate limits would measure themselves.
        // Thousands of connections from one address and few users: the connection caps are off too.
        // The workspace heartbeat at its slowest (a round every 10 minutes, after the measurement's few minutes):
        // its writes would land in whichever event's DynamoDB count its round coincides with.
        env: {
          RATE_LIMITS: 'off',
          MAX_CONNECTIONS_PER_USER: '0',
          MAX_CONNECTIONS_PER_ADDRESS: '0',
          WORKSPACE_PING_INTERVAL_MS: '600000',
          WORKSPACE_PING_TIMEOUT_MS: '600000',
          // The default grace unless the bench's environment names one (bench/load.ts waits for it).
          ...(process.env.PRESENCE_OFFLINE_GRACE_MS ? { PRESENCE_OFFLINE_GRACE_MS: process.env.PRESENCE_OFFLINE_GRACE_MS } : {}),
        },
        log: (line) => console.error(`[runtime] ${line}`),
      });
      stop = runtime.stop;
      invocationsNow = () => runtime.gateway.invocations;
      // Bench-only instrumentation: how long the handlers wait for DynamoDB, by command.
      (runtime.context.db as DynamoDbStore).doc.middlewareStack.add(
        (next, context) => async (args) => {
          const started = performance.now();
          try {
            return await next(args);
          } finally {
            const name = String(context.commandName ?? 'unknown').replace(/Command$/, '');
            const entry = (dynamoDbTime[name] ??= { requests: 0, totalMs: 0 });
            entry.requests++;
            entry.totalMs += performance.now() - started;
          }
        },
        { step: 'initialize', name: 'benchDynamoDbTimer' },
      );
      if (options.kind === 'runtime-direct') {
        // Every handler of the runtime runs in this context: swapping its sender reroutes every post.
        Object.assign(runtime.context, { sender: directSender(runtime.gateway) });
      }
      send({ type: 'ready', restUrl: runtime.restUrl, wsUrl: runtime.wsUrl, workspaceUrl: runtime.workspaceUrl });
    }
  } catch (error) {
    send({ type: 'failed', error: String((error as Error).stack ?? error) });
    process.exit(1);
  }
  let stopping = false;
  const shutdown = async () => {
    if (stopping) return;
    stopping = true;
    await Promise.race([stop().catch(() => undefined), new Promise((r) => setTimeout(r, 15_000))]);
    // process.exit still writes the CPU profile (--cpu-prof) and ends whatever the handlers left running.
    process.exit(0);
  };
  process.on('message', (message: ChildRequest) => {
    if (message.type === 'memory') {
      if (message.collectGarbage) (globalThis as { gc?: () => void }).gc?.();
      const usage = process.memoryUsage();
      send({ type: 'memory', id: message.id, rss: usage.rss, heapUsed: usage.heapUsed, invocations: invocationsNow() });
    } else if (message.type === 'dynamoDbTime') {
      send({ type: 'dynamoDbTime', id: message.id, time: dynamoDbTime });
      dynamoDbTime = {};
    } else if (message.type === 'stop') void shutdown();
  });
  // The parent died: do not outlive it.
  process.on('disconnect', () => void shutdown());
}

if (process.argv[2] === CHILD_FLAG) void childMain(JSON.parse(process.argv[3]) as ServerProcessOptions);
