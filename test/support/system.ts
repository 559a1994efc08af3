import { randomUUID } from 'node:crypto';
import WebSocket from 'ws';
import { createDb, type DynamoDbStore } from '../../lambdas/aws/dynamodb-store';
import { settleAfterConnect } from '../../lambdas/runtime';
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

/** Each barrier's marker frame has its own name, so its answer cannot be mistaken for another's. */
let markers = 0;

/** A main-socket client that records every event it receives. */
export class SocketClient {
  readonly events: ReceivedEvent[] = [];
  readonly closed: Promise<{ code: number; reason: string }>;
  private waiters: Array<() => void> = [];

  /** `settle`: waits until the work the system still does in the background is done (TestSystem.settle). */
  constructor(
    readonly socket: WebSocket,
    private readonly settle: () => Promise<void> = async () => undefined,
  ) {
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

  /**
   * A barrier: resolves once every event the system caused so far has arrived on this socket, and returns
   * the unconsumed events that arrived before it (they stay recorded; the marker's answer is consumed).
   *
   * Why it holds (local/ws-gateway.ts, lambdas/socket/default.ts, lambdas/domain/fanout.ts):
   * - every event reaches a socket as a Management API POST, which the gateway answers 200 only from the
   *   callback of `ws.send`, so a post that has completed is already written to the socket's TCP stream;
   * - whoever publishes awaits its posts: REST handlers before they answer (no route publishes without
   *   awaiting), socket handlers before they return, the in-process work after `$connect` before its task ends;
   * - `settle` first waits until nothing is in flight: REST calls the test made have answered, the gateway has
   *   read every frame the test's clients sent (frames are handled concurrently, so a marker must not race an
   *   earlier frame's handler), has no handler running (a `$disconnect` of a socket just closed included) and
   *   no closing socket whose `$disconnect` has not started, and the after-`$connect` tasks are done (plus what a
   *   test registers, e.g. the media node's presence queue: TestSystem.settleAlso);
   * - then a frame of an unknown name is sent: `$default` answers it with an `error` event posted to this same
   *   connection through the same Management API path, after all of the above was written. One TCP
   *   connection delivers in order, so whatever the action caused arrives before that answer.
   * The marker costs one frame of the connection's budget (GENEROUS_RATE_LIMITS; a test with a tiny socket
   * budget must not use it).
   */
  async barrier(options: { marker?: 'frame' | 'pong'; timeoutMs?: number } = {}): Promise<ReceivedEvent[]> {
    const timeoutMs = options.timeoutMs ?? 10_000;
    await this.settle();
    if (options.marker === 'pong') return this.pong(timeoutMs);
    const marker = `zavodchat-test-barrier-${++markers}`;
    const answer = `unknown event '${marker}'`;
    this.send({ name: marker });
    const isAnswer = (e: ReceivedEvent) => e.name === 'error' && e.data === answer;
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const index = this.events.findIndex(isAnswer);
      if (index >= 0) {
        const before = this.events.slice(0, index);
        this.events.splice(index, 1);
        return before;
      }
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`barrier: no answer to the marker frame within ${timeoutMs} ms; got ${JSON.stringify(this.events)}`);
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
   * The barrier for sockets whose frame budget a marker frame would upset (test/rate-limits.test.ts): a
   * WebSocket ping, which the gateway's `ws` answers with a pong on the same TCP stream, in order after every
   * frame already written to it (its sender queues control frames behind pending data frames). No handler runs,
   * so it only covers what `settle` has waited for.
   */
  private async pong(timeoutMs: number): Promise<ReceivedEvent[]> {
    const payload = Buffer.from(`pong-${++markers}`);
    const arrived = new Promise<ReceivedEvent[]>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.socket.off('pong', onPong);
        reject(new Error(`barrier: no pong within ${timeoutMs} ms`));
      }, timeoutMs);
      const onPong = (data: Buffer) => {
        if (!data.equals(payload)) return;
        clearTimeout(timer);
        this.socket.off('pong', onPong);
        // 'message' events of frames before the pong were emitted before it: all are recorded now.
        resolve([...this.events]);
      };
      this.socket.on('pong', onPong);
    });
    this.socket.ping(payload);
    return arrived;
  }

  /**
   * Asserts that no event with that name (any event when omitted) has arrived: none is recorded when the
   * barrier's marker comes back. Events recorded before the action and not consumed count too.
   */
  async expectNothing(name?: string): Promise<void> {
    const unexpected = (await this.barrier()).filter((e) => name === undefined || e.name === name);
    if (unexpected.length > 0) throw new Error(`unexpected events: ${JSON.stringify(unexpected)}`);
  }

  /** Frames this client has sent: `settle` waits until the gateway has received as many. */
  sentFrames = 0;

  send(frame: unknown): void {
    this.sentFrames++;
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
  private readonly alsoSettled: Array<() => Promise<void>> = [];
  /** Per client, how many of its frames the gateway's side of the socket has received. */
  private readonly received = new Map<SocketClient, { server: WebSocket; frames: number }>();

  private constructor(
    readonly runtime: LocalRuntime,
    readonly db: DynamoDbStore,
  ) {}

  /**
   * `dynamoDbEndpoint`: a DynamoDB Local of the test's own (fault tests stop it); the shared one otherwise.
   * `env`: handler settings (e.g. `RATE_LIMIT_REST: '5/2'`) over GENEROUS_RATE_LIMITS. `workspace`: start the
   * workspace (socket.io) socket too, at `runtime.workspaceUrl`. `desk`: the desk socket, at `runtime.deskUrl`.
   */
  static async start(
    options: { gatewayLimits?: Partial<GatewayLimits>; voice?: boolean; workspace?: boolean; desk?: boolean; dynamoDbEndpoint?: string; env?: Record<string, string> } = {},
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
      // The socket.io socket of seed 003 (test/workspace-*.test.ts) on its own ephemeral port.
      workspacePort: options.workspace ? 0 : false,
      // The desk socket of seed 004 (test/desk-socket.test.ts) on its own ephemeral port.
      deskPort: options.desk ? 0 : false,
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

  /** Background work `settle` waits for as well (work of processes the gateway does not see: the media node's). */
  settleAlso(work: () => Promise<void>): void {
    this.alsoSettled.push(work);
  }

  /**
   * Waits until the system has no work in flight that could still post an event: no handler invocation in the
   * local gateway (`$connect`, frames, the `$disconnect` of a socket that closed), no server-side socket closing
   * whose `$disconnect` has not begun, no in-process work after `$connect`, nor what `settleAlso` added. REST
   * calls need nothing: a handler publishes before it answers. A condition wait, not a sleep; the barrier of
   * SocketClient builds on it.
   */
  async settle(timeoutMs = 10_000): Promise<void> {
    // The gateway keeps its in-flight invocations private; the tests read them (local/ws-gateway.ts, `track`).
    type Tracked = { pending: Set<Promise<unknown>>; connections: Map<string, { socket: WebSocket }> };
    // The desk socket's gateway too, when it runs: its handlers publish to every protocol.
    const gateways = [this.runtime.gateway, ...(this.runtime.deskGateway ? [this.runtime.deskGateway] : [])] as unknown as Tracked[];
    const gateway = {
      get pending() {
        return new Set(gateways.flatMap((g) => [...g.pending]));
      },
      get connections() {
        return new Map(gateways.flatMap((g) => [...g.connections]));
      },
    };
    const deadline = Date.now() + timeoutMs;
    // A frame sent is handled only once the gateway has read it: until then it is in flight too.
    const unread = () =>
      this.clients.filter((client) => {
        const seen = this.received.get(client);
        return seen && client.socket.readyState === WebSocket.OPEN && seen.server.readyState === WebSocket.OPEN && seen.frames < client.sentFrames;
      });
    for (;;) {
      const closing = [...gateway.connections.values()].filter((c) => c.socket.readyState !== WebSocket.OPEN);
      const busy = [...gateway.pending];
      if (closing.length === 0 && busy.length === 0 && unread().length === 0) {
        await settleAfterConnect(this.runtime.context);
        for (const work of this.alsoSettled) await work();
        // Work may have started more (an after-connect task can prune a connection): look again.
        if (gateway.pending.size === 0 && [...gateway.connections.values()].every((c) => c.socket.readyState === WebSocket.OPEN)) return;
        continue;
      }
      if (Date.now() > deadline) {
        const frames = unread().map((client) => `${this.received.get(client)?.frames}/${client.sentFrames}`);
        throw new Error(`settle: after ${timeoutMs} ms still ${busy.length} invocations in flight, ${closing.length} sockets closing, frames read/sent ${frames}`);
      }
      // Checked again when an invocation ends or every few ms (a closing socket, a frame being read): the
      // conditions decide, the timer only paces the polling.
      // (Never race an already settled promise: the loop would spin on microtasks and starve the sockets.)
      const tick = new Promise((resolve) => setTimeout(resolve, 5));
      await (busy.length > 0 ? Promise.race([Promise.allSettled(busy), tick]) : tick);
    }
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
    const client = new SocketClient(socket, () => this.settle());
    return new Promise((resolve, reject) => {
      socket.once('open', () => {
        this.clients.push(client);
        this.watchFrames(client);
        resolve(client);
      });
      socket.once('unexpected-response', (_request, response) => reject(new UpgradeRefused(response.statusCode ?? 0)));
      socket.once('error', (error) => reject(error));
    });
  }

  /**
   * Counts the frames of `client` that the gateway has read. Its side of the socket is found by the TCP ports
   * (it is in `gateway.connections` before the client sees the upgrade answer); this listener comes after the
   * gateway's own, which has started the frame's handler by the time it counts.
   */
  private watchFrames(client: SocketClient): void {
    const local = (client.socket as unknown as { _socket?: { localPort?: number } })._socket?.localPort;
    for (const connection of this.runtime.gateway.connections.values()) {
      const remote = (connection.socket as unknown as { _socket?: { remotePort?: number } })._socket?.remotePort;
      if (local === undefined || remote !== local) continue;
      const seen = { server: connection.socket, frames: 0 };
      connection.socket.on('message', () => seen.frames++);
      this.received.set(client, seen);
      return;
    }
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
    // Every presence event of these openings has arrived once each socket's barrier has.
    await Promise.all(sockets.map((socket) => socket.barrier()));
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
