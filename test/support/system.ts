import { randomUUID } from 'node:crypto';
import WebSocket from 'ws';
import { createDb, type DynamoDbStore } from '../../lambdas/aws/dynamodb-store';
import { type LocalRuntime, startLocalRuntime } from '../../local/runtime';
import type { GatewayLimits } from '../../local/ws-gateway';

export interface TestUser {
  id: number;
  username: string;
  name: string;
  token: string;
}

export interface ReceivedEvent {
  name: string;
  data: unknown;
}

/** A main-socket client that records every event it receives. */
export class SocketClient {
  readonly events: ReceivedEvent[] = [];
  readonly closed: Promise<{ code: number; reason: string }>;
  private waiters: Array<() => void> = [];

  constructor(readonly socket: WebSocket) {
    socket.on('message', (data) => {
      this.events.push(JSON.parse(data.toString()) as ReceivedEvent);
      for (const wake of this.waiters.splice(0)) wake();
    });
    this.closed = new Promise((resolve) => socket.on('close', (code, reason) => resolve({ code, reason: reason.toString() })));
  }

  /** Waits for the next not-yet-consumed event matching name (and predicate), and consumes it. */
  async next(name: string, predicate: (data: any) => boolean = () => true, timeoutMs = 5000): Promise<any> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const index = this.events.findIndex((e) => e.name === name && predicate(e.data));
      if (index >= 0) return this.events.splice(index, 1)[0].data;
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`no '${name}' event within ${timeoutMs} ms; got ${JSON.stringify(this.events)}`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
  }

  /** Asserts that no event with that name (any event when omitted) arrives within `ms`. */
  async expectNothing(name?: string, ms = 400): Promise<void> {
    await new Promise((r) => setTimeout(r, ms));
    const unexpected = this.events.filter((e) => name === undefined || e.name === name);
    if (unexpected.length > 0) throw new Error(`unexpected events: ${JSON.stringify(unexpected)}`);
  }

  send(frame: unknown): void {
    this.socket.send(typeof frame === 'string' ? frame : JSON.stringify(frame));
  }

  async close(): Promise<void> {
    this.socket.close();
    await this.closed;
  }
}

export type Credential = 'cookie' | 'query' | 'bearer';

/**
 * Rate limits of every TestSystem unless a test sets its own: far above what any suite sends (the fuzzers
 * send hundreds of requests and frames per user, every test registers from 127.0.0.1), but on, so every
 * request still passes through the counters. test/rate-limits.test.ts uses low ones.
 */
export const GENEROUS_RATE_LIMITS: Record<string, string> = {
  RATE_LIMIT_REST: '1000000/60',
  RATE_LIMIT_MESSAGES: '1000000/60',
  RATE_LIMIT_LOGIN: '1000000/60',
  RATE_LIMIT_REGISTER: '1000000/60',
  RATE_LIMIT_SOCKET: '1000000/60',
  RATE_LIMIT_CONNECT: '1000000/60',
  RATE_LIMIT_LOGIN_NAME: '1000000/60',
  RATE_LIMIT_VOICE_SOCKET: '1000000/60',
  // Every test connects from 127.0.0.1; the per-user cap stays at its default (suites open a few per user).
  MAX_CONNECTIONS_PER_ADDRESS: '0',
};

/** The whole local runtime on ephemeral ports with its own table, plus client helpers. */
export class TestSystem {
  private users = 0;
  private readonly clients: SocketClient[] = [];

  private constructor(
    readonly runtime: LocalRuntime,
    readonly db: DynamoDbStore,
  ) {}

  /**
   * `dynamoDbEndpoint`: a DynamoDB Local of the test's own (fault tests stop it); the shared one otherwise.
   * `env`: handler settings (e.g. `RATE_LIMIT_REST: '5/2'`) over GENEROUS_RATE_LIMITS.
   */
  static async start(
    options: { gatewayLimits?: Partial<GatewayLimits>; voice?: boolean; dynamoDbEndpoint?: string; env?: Record<string, string> } = {},
  ): Promise<TestSystem> {
    const endpoint = options.dynamoDbEndpoint ?? process.env.TEST_DYNAMODB_ENDPOINT;
    if (!endpoint) throw new Error('TEST_DYNAMODB_ENDPOINT is not set: run through jest (global setup starts DynamoDB Local)');
    const tableName = `t${randomUUID().replace(/-/g, '')}`;
    const accessKeyId = process.env.TEST_DYNAMODB_ACCESS_KEY_ID;
    const runtime = await startLocalRuntime({
      host: '127.0.0.1',
      restPort: 0,
      wsPort: 0,
      vcPort: options.voice ? 0 : false,
      dynamoDbEndpoint: endpoint,
      dynamoDbAccessKeyId: accessKeyId,
      tableName,
      gatewayLimits: options.gatewayLimits,
      // Handler settings as environment variables (see local/runtime.ts); the rate limits generous by default.
      env: { ...GENEROUS_RATE_LIMITS, ...options.env },
      // Failures inside the runtime (a handler, the media node) show up in the test output.
      log: (line) => console.error(line),
    });
    return new TestSystem(runtime, createDb({ table: tableName, endpoint, accessKeyId: runtime.dynamoDbAccess.accessKeyId }));
  }

  async stop(): Promise<void> {
    for (const client of this.clients) client.socket.terminate();
    await this.runtime.stop();
  }

  /**
   * One REST call. `as` sends a user's session cookie, `token` any raw token (an expired one, say);
   * Buffer form fields are sent as files. Redirects are followed unless `redirect: 'manual'`.
   */
  async rest(
    method: string,
    path: string,
    options: {
      as?: TestUser;
      token?: string;
      json?: unknown;
      form?: Record<string, string | Buffer>;
      headers?: Record<string, string>;
      redirect?: 'follow' | 'manual';
    } = {},
  ) {
    const headers: Record<string, string> = { ...options.headers };
    const token = options.token ?? options.as?.token;
    if (token !== undefined) headers.cookie = `zavodchat_token=${token}`;
    let body: string | FormData | undefined;
    if (options.json !== undefined) {
      body = typeof options.json === 'string' ? options.json : JSON.stringify(options.json);
      // As the web client (axios) sends JSON; REST refuses JSON bodies under any other type (415).
      if (!Object.keys(headers).some((name) => name.toLowerCase() === 'content-type')) headers['content-type'] = 'application/json';
    }
    if (options.form) {
      const form = new FormData();
      for (const [key, value] of Object.entries(options.form)) {
        if (typeof value === 'string') form.append(key, value);
        else form.append(key, new Blob([new Uint8Array(value)]), 'upload.bin');
      }
      body = form;
    }
    const response = await fetch(`${this.runtime.restUrl}${path}`, { method, headers, body, redirect: options.redirect });
    const text = await response.text();
    let json: any;
    try {
      json = JSON.parse(text);
    } catch {
      json = undefined;
    }
    return { status: response.status, text, json, headers: response.headers };
  }

  /** Registers and logs in a fresh user. */
  async user(displayName?: string): Promise<TestUser> {
    const username = `user${++this.users}_${randomUUID().slice(0, 6)}`;
    const name = displayName ?? username;
    const registered = await this.rest('POST', '/register', { json: { username, displayname: name, password: 'password1' } });
    if (registered.status !== 200) throw new Error(`register: ${registered.status} ${registered.text}`);
    const login = await this.rest('POST', '/auth', { json: { username, password: 'password1' } });
    if (login.status !== 200) throw new Error(`auth: ${login.status} ${login.text}`);
    const me = await this.rest('GET', '/users/-1', { headers: { authorization: `Bearer ${login.text}` } });
    return { id: me.json.id, username, name, token: login.text };
  }

  /**
   * Opens a main socket; rejects with the HTTP status when the upgrade is refused. With a `user`, waits for
   * and consumes the connection's own `user_changed` (sent once it is open) unless `welcome: false`.
   */
  async connect(user: TestUser | undefined, options: { via?: Credential; query?: string; token?: string; welcome?: boolean } = {}): Promise<SocketClient> {
    const client = await this.open(user, options);
    if (options.welcome === false) return client;
    // A raw token: whose it is tells which user_changed is the welcome.
    const userId = user?.id ?? (options.token !== undefined ? (await this.rest('GET', '/users/-1', { token: options.token })).json?.id : undefined);
    // Generous: in a storm of connects the welcome queues behind everybody's presence fan-out.
    if (userId !== undefined) await client.next('user_changed', (d) => d.id === userId && d.name === undefined, 30_000);
    return client;
  }

  private open(user: TestUser | undefined, options: { via?: Credential; query?: string; token?: string }): Promise<SocketClient> {
    const token = options.token ?? user?.token;
    const via = options.via ?? 'cookie';
    const params = new URLSearchParams(options.query ?? '');
    const headers: Record<string, string> = {};
    if (token !== undefined) {
      if (via === 'cookie') headers.cookie = `zavodchat_token=${token}`;
      if (via === 'bearer') headers.authorization = `Bearer ${token}`;
      if (via === 'query') params.set('token', token);
    }
    const query = params.toString();
    const socket = new WebSocket(`${this.runtime.wsUrl}/${query ? `?${query}` : ''}`, { headers });
    const client = new SocketClient(socket);
    return new Promise((resolve, reject) => {
      socket.once('open', () => {
        this.clients.push(client);
        resolve(client);
      });
      socket.once('unexpected-response', (_request, response) => reject(new UpgradeRefused(response.statusCode ?? 0)));
      socket.once('error', (error) => reject(error));
    });
  }

  /**
   * Loses a connection's `$disconnect` (a Lambda that never ran): the gateway forgets the socket without its
   * close handler (whose other work, stopping the idle and lifetime timers, is done here so they do not hold
   * the process), then the client socket is killed.
   */
  async loseDisconnect(client: SocketClient, connectionId: string): Promise<void> {
    const lost = this.runtime.gateway.connections.get(connectionId)!;
    lost.socket.removeAllListeners('close');
    for (const timer of lost.timers) clearTimeout(timer);
    this.runtime.gateway.connections.delete(connectionId);
    client.socket.terminate();
    await client.closed;
  }

  /** Opens one connection per user and forgets the presence events their opening caused. */
  async connectAll(...users: TestUser[]): Promise<SocketClient[]> {
    const sockets: SocketClient[] = [];
    for (const user of users) sockets.push(await this.connect(user));
    await new Promise((r) => setTimeout(r, 150));
    for (const socket of sockets) socket.events.length = 0;
    return sockets;
  }

  /** Creates a server owned by `owner` and has `members` join it through an invite. */
  async server(owner: TestUser, members: TestUser[] = [], name = 'test server'): Promise<number> {
    const created = await this.rest('POST', `/servers?name=${encodeURIComponent(name)}`, { as: owner });
    if (created.status !== 200) throw new Error(`create server: ${created.status} ${created.text}`);
    const serverId = Number(created.text);
    if (members.length > 0) {
      const invite = await this.rest('POST', `/servers/${serverId}/invites?expires=never`, { as: owner });
      for (const member of members) {
        const joined = await this.rest('POST', `/server_invites/${invite.text}`, { as: member });
        if (joined.status !== 200) throw new Error(`join: ${joined.status} ${joined.text}`);
      }
    }
    return serverId;
  }
}

export class UpgradeRefused extends Error {
  constructor(readonly status: number) {
    super(`upgrade refused with HTTP ${status}`);
  }
}
