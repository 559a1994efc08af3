import { randomBytes, randomUUID } from 'node:crypto';
import type { IncomingMessage, Server as HttpServer, ServerResponse } from 'node:http';
import { STATUS_CODES } from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocket, WebSocketServer } from 'ws';
import { ConcurrencyLimit, IN_PROCESS_FUNCTION_CONCURRENCY, SlotWaitAbandoned } from '../lambdas/adapters/concurrency-limit';
import type { WebSocketEvent, WebSocketResult } from '../lambdas/socket/types';
import { FrameSizeGuard } from './frame-guard';

export type WebSocketHandler = (event: WebSocketEvent) => Promise<WebSocketResult | void>;

/** API Gateway's WebSocket quotas, all configurable so tests can use small values. */
export interface GatewayLimits {
  maxFrameBytes: number;
  maxMessageBytes: number;
  idleTimeoutMs: number;
  maxConnectionMs: number;
  /** How long `$connect` may run before the upgrade is refused (API Gateway's integration timeout). */
  connectTimeoutMs: number;
}

export const API_GATEWAY_LIMITS: GatewayLimits = {
  maxFrameBytes: 32 * 1024,
  maxMessageBytes: 128 * 1024,
  idleTimeoutMs: 10 * 60 * 1000,
  maxConnectionMs: 2 * 60 * 60 * 1000,
  connectTimeoutMs: 29_000,
};

export const CLOSE = { GOING_AWAY: 1001, UNSUPPORTED_DATA: 1003, MESSAGE_TOO_BIG: 1009 } as const;

interface LiveConnection {
  socket: WebSocket;
  connectedAt: number;
  lastActiveAt: number;
  sourceIp: string;
  userAgent: string;
  headers: Record<string, string>;
  timers: NodeJS.Timeout[];
}

export interface GatewayOptions {
  /** Route key -> handler; must contain `$connect`, `$disconnect` and `$default`. */
  routes: Record<string, WebSocketHandler>;
  limits?: Partial<GatewayLimits>;
  stage?: string;
  domainName?: string;
  /**
   * Invocations of one route run at once, at most (each route is its own function on AWS); the others wait
   * in order. A `$connect` still waiting when its client leaves or its integration timeout passes never runs.
   * Default IN_PROCESS_FUNCTION_CONCURRENCY (lambdas/adapters/concurrency-limit.ts says why).
   */
  concurrency?: number;
  /** Log a line per failed handler invocation. */
  log?: (line: string) => void;
}

function singleHeaders(request: IncomingMessage): Record<string, string> {
  const out: Record<string, string> = {};
  for (let i = 0; i < request.rawHeaders.length; i += 2) {
    const name = request.rawHeaders[i];
    out[name] = out[name] === undefined ? request.rawHeaders[i + 1] : `${out[name]},${request.rawHeaders[i + 1]}`;
  }
  return out;
}

function multiHeaders(request: IncomingMessage): Record<string, string[]> {
  const out: Record<string, string[]> = {};
  for (let i = 0; i < request.rawHeaders.length; i += 2) (out[request.rawHeaders[i]] ??= []).push(request.rawHeaders[i + 1]);
  return out;
}

/**
 * A local stand-in for an API Gateway WebSocket API: it turns upgrades, frames and closes into the Lambda
 * events API Gateway produces, invokes the handlers in-process, selects routes on `$request.body.name`,
 * enforces API Gateway's limits, and serves the Management API (`/@connections/{id}`) that handlers
 * use to post to clients.
 */
export class WebSocketGateway {
  readonly connections = new Map<string, LiveConnection>();
  private readonly wss: WebSocketServer;
  private readonly limits: GatewayLimits;
  private readonly stage: string;
  private readonly pending = new Set<Promise<unknown>>();
  private readonly functions = new Map<string, ConcurrencyLimit>();

  constructor(private readonly options: GatewayOptions) {
    this.limits = { ...API_GATEWAY_LIMITS, ...options.limits };
    this.stage = options.stage ?? 'local';
    this.wss = new WebSocketServer({ noServer: true, maxPayload: this.limits.maxMessageBytes });
  }

  /** Serves upgrades of this HTTP(S) server; plain HTTP requests get 426. */
  attach(server: HttpServer): void {
    server.on('upgrade', (request: IncomingMessage, socket: Duplex, head: Buffer) => this.handleUpgrade(request, socket, head));
    server.on('request', (_request: IncomingMessage, response: ServerResponse) => {
      response.writeHead(426, { 'Content-Type': 'text/plain' }).end('Upgrade Required');
    });
  }

  /** One upgrade, from this gateway's own server or from another that dispatches to it (local/origin.ts). */
  handleUpgrade(request: IncomingMessage, socket: Duplex, head: Buffer): void {
    this.track(this.upgrade(request, socket, head));
  }

  private track<T>(work: Promise<T>): void {
    this.pending.add(work);
    work.catch((error) => this.options.log?.(`gateway: ${String(error)}`)).finally(() => this.pending.delete(work));
  }

  private baseEvent(routeKey: string, eventType: WebSocketEvent['requestContext']['eventType'], connectionId: string, connection: Pick<LiveConnection, 'sourceIp' | 'userAgent'>) {
    return {
      requestContext: {
        routeKey,
        eventType,
        connectionId,
        requestId: randomUUID(),
        domainName: this.options.domainName ?? 'localhost',
        stage: this.stage,
        requestTimeEpoch: Date.now(),
        connectedAt: Date.now(),
        messageDirection: 'IN',
        identity: { sourceIp: connection.sourceIp, userAgent: connection.userAgent },
      },
      isBase64Encoded: false,
    };
  }

  /** The route's function: its own bound on concurrent invocations. */
  private functionOf(routeKey: string): ConcurrencyLimit {
    let limit = this.functions.get(routeKey);
    if (!limit) this.functions.set(routeKey, (limit = new ConcurrencyLimit(this.options.concurrency ?? IN_PROCESS_FUNCTION_CONCURRENCY)));
    return limit;
  }

  /** Invocations running and waiting, per route (what a storm has queued). */
  get invocations(): Record<string, { running: number; queued: number }> {
    return Object.fromEntries([...this.functions].map(([route, limit]) => [route, { running: limit.running, queued: limit.queued }]));
  }

  /** Rejects with SlotWaitAbandoned only when `signal` aborted before the handler started. */
  private async invoke(routeKey: string, event: WebSocketEvent, signal?: AbortSignal): Promise<WebSocketResult> {
    const handler = this.options.routes[routeKey];
    return this.functionOf(routeKey).run(async () => {
      try {
        return (await handler(event)) ?? { statusCode: 200 };
      } catch (error) {
        this.options.log?.(`gateway: ${routeKey} handler failed: ${(error as Error).message}`);
        return { statusCode: 500, body: 'Internal server error' };
      }
    }, signal);
  }

  private async upgrade(request: IncomingMessage, socket: Duplex, head: Buffer): Promise<void> {
    socket.on('error', () => socket.destroy());
    const connectionId = randomBytes(12).toString('base64');
    const rawUrl = request.url ?? '/';
    const query = Object.fromEntries(new URLSearchParams(rawUrl.includes('?') ? rawUrl.slice(rawUrl.indexOf('?') + 1) : ''));
    const headers = singleHeaders(request);
    const identity = { sourceIp: request.socket.remoteAddress ?? '127.0.0.1', userAgent: request.headers['user-agent'] ?? '' };
    // As API Gateway, give up on a $connect that outlasts the integration timeout (the handler runs on): a
    // connection is thus never open more than CONNECT_WINDOW_MS after its $connect began. The wait for a free
    // invocation counts; a $connect that has not started when the timeout passes or its client leaves never runs.
    // The client has left when its side ends: the upgraded socket is half-open (no automatic close on the
    // peer's FIN), and 'end' comes only while data flows, so read during the wait and keep what arrives for
    // the WebSocket (a client may pipeline its first frames behind the request).
    const giveUp = new AbortController();
    const clientLeft = () => giveUp.abort();
    // Bounded: more than a whole message before the answer is no client of ours, and it is dropped.
    const early: Buffer[] = [];
    let earlyBytes = 0;
    const keepEarly = (chunk: Buffer) => {
      early.push(chunk);
      earlyBytes += chunk.length;
      if (earlyBytes > this.limits.maxMessageBytes) socket.destroy();
    };
    socket.on('data', keepEarly);
    socket.once('end', clientLeft);
    socket.once('close', clientLeft);
    let timer: NodeJS.Timeout | undefined;
    const timedOut: WebSocketResult = { statusCode: 504, body: 'Endpoint request timed out' };
    const result = await Promise.race([
      this.invoke(
        '$connect',
        {
          ...this.baseEvent('$connect', 'CONNECT', connectionId, identity),
          headers,
          multiValueHeaders: multiHeaders(request),
          queryStringParameters: Object.keys(query).length > 0 ? query : undefined,
        } as WebSocketEvent,
        giveUp.signal,
      ).catch((error: unknown) => {
        if (error instanceof SlotWaitAbandoned) return timedOut;
        throw error;
      }),
      new Promise<WebSocketResult>((resolve) => {
        timer = setTimeout(() => (giveUp.abort(), resolve(timedOut)), this.limits.connectTimeoutMs);
      }),
    ]).finally(() => {
      clearTimeout(timer);
      socket.off('data', keepEarly);
      socket.off('end', clientLeft);
      socket.off('close', clientLeft);
      // Removing a 'data' listener does not pause the socket; nothing must flow until ws takes it over.
      socket.pause();
    });
    if (early.length > 0) head = Buffer.concat([head, ...early]);
    if (result.statusCode < 200 || result.statusCode > 299) {
      const body = result.body ?? '';
      socket.end(
        `HTTP/1.1 ${result.statusCode} ${STATUS_CODES[result.statusCode] ?? 'Error'}\r\n` +
          `Connection: close\r\nContent-Type: text/plain\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
      );
      // Read on to the client's end, so the half-open socket closes.
      socket.resume();
      return;
    }
    let tooLarge = false;
    const guard = new FrameSizeGuard(this.limits.maxFrameBytes, () => {
      tooLarge = true;
      this.connections.get(connectionId)?.socket.close(CLOSE.MESSAGE_TOO_BIG, 'Frame size exceeds the limit');
    });
    // ws puts `head` back in front of the socket's data, so the guard sees it once, in order, with the rest.
    socket.on('data', (chunk: Buffer) => guard.push(chunk));
    this.wss.handleUpgrade(request, socket, head, (ws) => {
      const connection: LiveConnection = { socket: ws, connectedAt: Date.now(), lastActiveAt: Date.now(), ...identity, headers, timers: [] };
      this.connections.set(connectionId, connection);
      const idle = setTimeout(() => ws.close(CLOSE.GOING_AWAY, 'Idle timeout'), this.limits.idleTimeoutMs);
      const lifetime = setTimeout(() => ws.close(CLOSE.GOING_AWAY, 'Maximum connection duration reached'), this.limits.maxConnectionMs);
      connection.timers.push(idle, lifetime);
      if (tooLarge) ws.close(CLOSE.MESSAGE_TOO_BIG, 'Frame size exceeds the limit');
      ws.on('message', (data: Buffer, isBinary: boolean) => {
        if (tooLarge) return;
        if (isBinary) {
          ws.close(CLOSE.UNSUPPORTED_DATA, 'Binary frames are not supported');
          return;
        }
        connection.lastActiveAt = Date.now();
        idle.refresh();
        this.track(this.message(connectionId, connection, data.toString('utf8')));
      });
      ws.on('error', () => ws.terminate());
      ws.on('close', () => {
        for (const timer of connection.timers) clearTimeout(timer);
        this.connections.delete(connectionId);
        this.track(
          this.invoke('$disconnect', {
            ...this.baseEvent('$disconnect', 'DISCONNECT', connectionId, connection),
            headers: connection.headers,
          } as WebSocketEvent),
        );
      });
    });
    socket.resume();
  }

  /** Route selection on `$request.body.name`, falling back to `$default` as API Gateway does. */
  private selectRoute(body: string): string {
    try {
      const name = (JSON.parse(body) as { name?: unknown } | null)?.name;
      // Own keys only: `__proto__` or `hasOwnProperty` must not reach Object.prototype.
      if (typeof name === 'string' && !name.startsWith('$') && Object.hasOwn(this.options.routes, name)) return name;
    } catch {
      // not JSON: $default
    }
    return '$default';
  }

  private async message(connectionId: string, connection: LiveConnection, body: string): Promise<void> {
    const routeKey = this.selectRoute(body);
    await this.invoke(routeKey, { ...this.baseEvent(routeKey, 'MESSAGE', connectionId, connection), body } as WebSocketEvent);
  }

  /** The Management API: POST/GET/DELETE `[/{stage}]/@connections/{id}`, 410 GoneException for unknown ids. */
  handleManagementRequest(request: IncomingMessage, response: ServerResponse): void {
    const match = /\/@connections\/([^/?]+)$/.exec((request.url ?? '').split('?')[0]);
    const fail = (status: number, type: string, message: string) => {
      response.writeHead(status, { 'Content-Type': 'application/json', 'x-amzn-ErrorType': type }).end(JSON.stringify({ message }));
    };
    if (!match) return fail(404, 'NotFoundException', 'Not found');
    let connectionId: string;
    try {
      connectionId = decodeURIComponent(match[1]);
    } catch {
      // Malformed percent-encoding (`%E0%A4%A`): the caller's mistake, as API Gateway answers it.
      return fail(400, 'BadRequestException', 'Invalid connection id');
    }
    const connection = this.connections.get(connectionId);
    if (!connection || connection.socket.readyState !== WebSocket.OPEN) return fail(410, 'GoneException', `Connection ${connectionId} is gone`);
    switch (request.method) {
      case 'GET':
        response.writeHead(200, { 'Content-Type': 'application/json' }).end(
          JSON.stringify({
            connectedAt: new Date(connection.connectedAt).toISOString(),
            lastActiveAt: new Date(connection.lastActiveAt).toISOString(),
            identity: { sourceIp: connection.sourceIp, userAgent: connection.userAgent },
          }),
        );
        return;
      case 'DELETE':
        connection.socket.close(1000, 'Closed by the server');
        response.writeHead(204).end();
        return;
      case 'POST': {
        const chunks: Buffer[] = [];
        let size = 0;
        request.on('data', (chunk: Buffer) => {
          size += chunk.length;
          chunks.push(chunk);
        });
        request.on('end', () => {
          if (size > this.limits.maxMessageBytes) return fail(413, 'PayloadTooLargeException', 'Message too large');
          connection.socket.send(Buffer.concat(chunks).toString('utf8'), (error) => {
            if (error) fail(410, 'GoneException', `Connection ${connectionId} is gone`);
            else response.writeHead(200).end();
          });
        });
        return;
      }
      default:
        fail(405, 'MethodNotAllowed', 'Method not allowed');
    }
  }

  /** Closes every connection (each runs `$disconnect`) and waits for in-flight invocations. */
  async close(): Promise<void> {
    for (const connection of this.connections.values()) connection.socket.close(CLOSE.GOING_AWAY, 'Server shutting down');
    const deadline = Date.now() + 5000;
    while ((this.connections.size > 0 || this.pending.size > 0) && Date.now() < deadline) {
      await Promise.race([...this.pending, new Promise((r) => setTimeout(r, 20))]);
    }
    for (const connection of this.connections.values()) connection.socket.terminate();
    this.wss.close();
  }
}
