import { createServer as createHttpServer, type IncomingMessage, type Server, type ServerResponse, STATUS_CODES } from 'node:http';
import { createServer as createHttpsServer, type Server as HttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import { WebSocket, WebSocketServer } from 'ws';
import { TEXT } from '../lambdas/domain/errors';
import { type LogFields, log as processLog } from '../lambdas/domain/log';
import { judgeOrigin } from '../lambdas/domain/origins';
import { upgradeStatus } from '../lambdas/http-errors';
import { DEFAULT_MEDIA_SETTINGS, type MediaSettings } from './config';
import { Peer } from './peer';
import { type AdmissionResult, type VoiceAdmission, type VoicePresence } from './ports';
import { PresenceQueue } from './presence-queue';
import { CLOSE_REASONS } from './reasons';
import { Room, type RoomHost } from './room';
import { WorkerPool } from './workers';

export interface MediaNodeOptions {
  /** Voice socket port; 0 picks a free one. */
  port: number;
  host?: string;
  /** PEM certificate and key: the socket is WSS when given. */
  tls?: { cert: string | Buffer; key: string | Buffer };
  admission: VoiceAdmission;
  presence: VoicePresence;
  settings?: Partial<MediaSettings>;
  /**
   * Page origins that may open the voice socket (the system's CORS_ORIGINS), or `any` for a node with no
   * browser-facing deployment (tests of the node alone). An upgrade with another Origin gets 403; one without
   * Origin (no browser) is judged by its credentials alone (docs/security.md, "Socket origins").
   */
  allowedOrigins: readonly string[] | 'any';
  log?: (line: string, fields?: LogFields) => void;
}

export interface MediaNode {
  /** `ws://host:port` or `wss://…`; clients append `/?channel=<id>`. */
  url: string;
  port: number;
  /** The WebRTC port of each worker. */
  rtcPorts(): number[];
  /** Closes the user's voice connection with `reason` (only if it is in `channelId`, when given). */
  kick(userId: number, reason: string, channelId?: number): boolean;
  /** Closes every connection in the channel with `reason`; returns how many there were. */
  closeChannel(channelId: number, reason: string): number;
  /** Administrator mute/deafen (state 2); `false` lifts it. Returns whether the user is connected. */
  setAdminState(userId: number, state: { mute?: boolean; deaf?: boolean }, channelId?: number): boolean;
  /** Serves this certificate to new connections from now on (a renewal); open sockets keep theirs. */
  setTls(tls: { cert: string | Buffer; key: string | Buffer }): void;
  /** Closes every connection (announcing the departures), the socket server and the workers. */
  stop(): Promise<void>;
}

/** Cookie, then `Authorization: Bearer`, then `?token=`: the main socket's order. */
function credentials(request: IncomingMessage, url: URL): string | undefined {
  for (const part of (request.headers.cookie ?? '').split(';')) {
    const eq = part.indexOf('=');
    if (eq > 0 && part.slice(0, eq).trim() === 'zavodchat_token') {
      const value = part.slice(eq + 1).trim();
      if (value) return value;
    }
  }
  const bearer = /^Bearer\s+(\S+)\s*$/i.exec(request.headers.authorization ?? '');
  if (bearer) return bearer[1];
  return url.searchParams.get('token') || undefined;
}

/** Refuses an upgrade with an HTTP status: API Gateway cannot send close reasons, so neither do we here. */
function refuse(socket: Duplex, status: number, reason: string): void {
  if (socket.destroyed) return;
  const body = Buffer.from(reason);
  socket.end(
    `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? ''}\r\nContent-Type: text/plain; charset=utf-8\r\n` +
      `Content-Length: ${body.length}\r\nConnection: close\r\n\r\n${reason}`,
  );
}

/**
 * Starts the media node: the voice socket (docs/upstream.md, "The voice socket") and the mediasoup workers behind it.
 * Who may join and who is told about it are the `admission` and `presence` ports.
 */
export async function startMediaNode(options: MediaNodeOptions): Promise<MediaNode> {
  const settings: MediaSettings = { ...DEFAULT_MEDIA_SETTINGS, ...options.settings };
  const log = options.log ?? ((line: string, fields?: LogFields) => processLog().error(line, undefined, fields));
  const pool = await WorkerPool.start(settings, log);
  const presence = new PresenceQueue(options.presence, log);
  const rooms = new Map<number, Room>();
  const peers = new Map<number, Peer>();

  const roomHost: RoomHost = {
    pool,
    presence,
    maxVideoBitrate: settings.maxVideoBitrate,
    frameLimit: settings.frameLimit,
    inactiveChannelMs: settings.inactiveChannelMs,
    speaking: settings.speaking,
    log,
    roomClosed: (room) => {
      if (rooms.get(room.channelId) === room) rooms.delete(room.channelId);
    },
    peerDeparted: (peer) => {
      if (peers.get(peer.userId) === peer) peers.delete(peer.userId);
    },
  };

  const sockets = new WebSocketServer({ noServer: true, maxPayload: settings.maxMessageBytes });
  const answeredPing = new WeakSet<WebSocket>();
  const keepalive = setInterval(() => {
    for (const client of sockets.clients) {
      if (!answeredPing.has(client)) {
        client.terminate();
        continue;
      }
      answeredPing.delete(client);
      client.ping();
    }
  }, settings.keepaliveMs);
  keepalive.unref();

  function join(socket: WebSocket, admitted: Extract<AdmissionResult, { ok: true }>): void {
    const joined = new Date().toISOString();
    answeredPing.add(socket);
    socket.on('pong', () => answeredPing.add(socket));
    const existing = peers.get(admitted.userId);
    if (existing) {
      if (existing.channelId === admitted.channelId) {
        socket.close(1000, CLOSE_REASONS.alreadyConnected);
        return;
      }
      existing.close(CLOSE_REASONS.otherChannel);
    }
    let room = rooms.get(admitted.channelId);
    if (!room) {
      room = new Room({ channelId: admitted.channelId, serverId: admitted.serverId }, roomHost);
      rooms.set(admitted.channelId, room);
    }
    const peer = new Peer(
      socket,
      { userId: admitted.userId, channelId: admitted.channelId, serverId: admitted.serverId, joined },
      admitted,
      room,
    );
    peers.set(admitted.userId, peer);
    room.add(peer);
  }

  async function upgrade(request: IncomingMessage, socket: Duplex, head: Buffer): Promise<void> {
    socket.on('error', () => undefined);
    // Before admission: a page of another origin (even of the same site) must not join as the victim.
    if (options.allowedOrigins !== 'any' && judgeOrigin({ origin: request.headers.origin }, options.allowedOrigins) === 'foreign') {
      refuse(socket, 403, TEXT.originNotAllowed);
      return;
    }
    let url: URL;
    try {
      url = new URL(request.url ?? '/', 'http://voice.invalid');
    } catch {
      refuse(socket, 400, 'Invalid URL');
      return;
    }
    let admitted: AdmissionResult;
    try {
      admitted = await options.admission.admit({
        token: credentials(request, url),
        channel: url.searchParams.get('channel') ?? '',
        mute: url.searchParams.get('mute') ?? undefined,
        deaf: url.searchParams.get('deaf') ?? undefined,
      });
    } catch (error) {
      log(`voice admission failed: ${(error as Error).message}`);
      refuse(socket, 500, TEXT.internalError);
      return;
    }
    if (!admitted.ok) {
      refuse(socket, upgradeStatus(admitted.error), admitted.error.text);
      return;
    }
    if (socket.destroyed) return;
    sockets.handleUpgrade(request, socket, head, (ws) => join(ws, admitted));
  }

  const onRequest = (request: IncomingMessage, response: ServerResponse) => {
    // A health check for load balancers; everything else here is a WebSocket.
    if (request.method === 'GET' && request.url === '/health') {
      response.writeHead(200, { 'Content-Type': 'text/plain' }).end('OK');
      return;
    }
    response.writeHead(426, { 'Content-Type': 'text/plain', Upgrade: 'websocket' }).end('The voice socket needs a WebSocket upgrade');
  };
  const server: Server = options.tls ? createHttpsServer(options.tls, onRequest) : createHttpServer(onRequest);
  server.on('upgrade', (request, socket, head) => {
    // An unexpected failure ends this upgrade, never the process (the local runtime shares it with REST).
    upgrade(request, socket, head).catch((error: unknown) => {
      log(`voice upgrade failed: ${(error as Error).message}`);
      socket.destroy();
    });
  });

  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(options.port, options.host ?? '0.0.0.0', () => resolve());
    });
  } catch (error) {
    pool.close();
    throw error;
  }
  // Later server errors (EMFILE on accept, say) are logged: without a listener Node would end the process.
  server.on('error', (error) => log(`voice socket server: ${error.message}`));
  const port = (server.address() as AddressInfo).port;

  const heartbeat = setInterval(() => {
    void presence.heartbeat([...peers.values()].filter((peer) => peer.connected).map((peer) => peer.participant));
  }, settings.heartbeatMs);
  heartbeat.unref();

  function inChannel(userId: number, channelId: number | undefined): Peer | undefined {
    const peer = peers.get(userId);
    return peer && (channelId === undefined || peer.channelId === channelId) ? peer : undefined;
  }

  const shownHost = !options.host || options.host === '0.0.0.0' ? '127.0.0.1' : options.host;
  return {
    url: `${options.tls ? 'wss' : 'ws'}://${shownHost}:${port}`,
    port,
    rtcPorts: () => pool.list().map((worker) => worker.port),
    kick(userId, reason, channelId) {
      const peer = inChannel(userId, channelId);
      peer?.close(reason);
      return peer !== undefined;
    },
    closeChannel(channelId, reason) {
      const room = rooms.get(channelId);
      const count = room?.size ?? 0;
      room?.closeAll(reason);
      return count;
    },
    setAdminState(userId, state, channelId) {
      const peer = inChannel(userId, channelId);
      peer?.setAdminState(state);
      return peer !== undefined;
    },
    setTls(tls) {
      if (!options.tls) throw new Error('the voice socket was started without TLS');
      (server as HttpsServer).setSecureContext(tls);
    },
    async stop() {
      clearInterval(heartbeat);
      clearInterval(keepalive);
      for (const room of [...rooms.values()]) room.closeAll(CLOSE_REASONS.shuttingDown);
      await presence.flush();
      for (const client of sockets.clients) client.terminate();
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
      pool.close();
    },
  };
}
