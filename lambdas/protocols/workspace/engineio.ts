import { decodePacket, encodePacket, type Packet as EnginePacket } from 'engine.io-parser';
import { Decoder, Encoder, type Packet as SocketPacket, PacketType } from 'socket.io-parser';

/*
 * Engine.IO v4 / Socket.IO v5 over API Gateway WebSocket events (docs/protocol.md, the workspace protocol): one WebSocket
 * text frame is one Engine.IO packet; no HTTP long-polling, no upgrade, no binary attachments. Everything
 * here is pure: the handlers hold the state in the table and do the I/O.
 */

/** The only namespace this server serves. */
export const MAIN_NAMESPACE = '/';

/** Engine.IO's handshake refusals: HTTP 400 with `{code, message}` as the reference server answers. */
export const HANDSHAKE_ERRORS = {
  unknownTransport: { code: 0, message: 'Transport unknown' },
  unsupportedVersion: { code: 5, message: 'Unsupported protocol version' },
} as const;

export type HandshakeVerdict = { ok: true } | { ok: false; statusCode: 400; body: string };

/** `?EIO=4&transport=websocket` or a refusal (polling is not served: API Gateway has no long-polling). */
export function validateHandshake(query: Record<string, string | undefined> | null | undefined): HandshakeVerdict {
  const refuse = (error: { code: number; message: string }): HandshakeVerdict => ({ ok: false, statusCode: 400, body: JSON.stringify(error) });
  if (query?.transport !== 'websocket') return refuse(HANDSHAKE_ERRORS.unknownTransport);
  if (query?.EIO !== '4') return refuse(HANDSHAKE_ERRORS.unsupportedVersion);
  return { ok: true };
}

/** What the open packet announces; the client closes when no ping arrives within pingInterval + pingTimeout. */
export interface EngineSettings {
  pingIntervalMs: number;
  pingTimeoutMs: number;
  /** The largest frame the client may send: API Gateway's 32 KB frame limit. */
  maxPayload: number;
  /** Not announced: a connection without `auth` this long after its open packet is closed by the heartbeat. */
  authTimeoutMs: number;
}

function engine(packet: EnginePacket): string {
  let encoded = '';
  // Synchronous for strings (the callback runs before encodePacket returns).
  encodePacket(packet, false, (data) => {
    encoded = String(data);
  });
  return encoded;
}

/** `0{"sid","upgrades":[],"pingInterval","pingTimeout","maxPayload"}`: the server's first packet. */
export function openPacket(sid: string, settings: EngineSettings): string {
  return engine({
    type: 'open',
    data: JSON.stringify({ sid, upgrades: [], pingInterval: settings.pingIntervalMs, pingTimeout: settings.pingTimeoutMs, maxPayload: settings.maxPayload }),
  });
}

export const PING_PACKET = engine({ type: 'ping' });

const encoder = new Encoder();

function socketIo(packet: SocketPacket): string {
  const [encoded] = encoder.encode(packet);
  return engine({ type: 'message', data: String(encoded) });
}

/** `40{"sid"}`: the namespace is joined. */
export function connectPacket(sid: string, nsp = MAIN_NAMESPACE): string {
  return socketIo({ type: PacketType.CONNECT, nsp, data: { sid } });
}

/** `44/nsp,{"message"}`: the namespace is refused. */
export function connectErrorPacket(nsp: string, message: string): string {
  return socketIo({ type: PacketType.CONNECT_ERROR, nsp, data: { message } });
}

/** `42["name",data]` on the main namespace. */
export function eventPacket(name: string, data: unknown): string {
  return socketIo({ type: PacketType.EVENT, nsp: MAIN_NAMESPACE, data: [name, data] });
}

/** `43<id>[...args]`: the answer to an event the client sent with an ack id. */
export function ackPacket(id: number, args: unknown[]): string {
  return socketIo({ type: PacketType.ACK, nsp: MAIN_NAMESPACE, id, data: args });
}

/** A client frame, as far as the transport is concerned. */
export type Incoming =
  | { kind: 'pong' }
  | { kind: 'close' }
  | { kind: 'noop' }
  | { kind: 'connect'; nsp: string }
  | { kind: 'disconnect'; nsp: string }
  | { kind: 'event'; nsp: string; name: string; args: unknown[]; ackId?: number }
  | { kind: 'ack'; nsp: string; id: number; args: unknown[] }
  /** Not Engine.IO / Socket.IO, or nothing a WebSocket-only v4 client sends: the connection is closed. */
  | { kind: 'invalid'; reason: string };

/** Decodes one text frame (one Engine.IO packet). Never throws. */
export function parseFrame(body: string | null | undefined): Incoming {
  if (typeof body !== 'string' || body.length === 0) return { kind: 'invalid', reason: 'empty frame' };
  const packet = decodePacket(body);
  switch (packet.type) {
    case 'pong':
      return { kind: 'pong' };
    case 'close':
      return { kind: 'close' };
    case 'noop':
      return { kind: 'noop' };
    case 'ping':
      // Engine.IO v4: the server pings, a client ping is the v3 heartbeat direction (the reference server closes too).
      return { kind: 'invalid', reason: 'invalid heartbeat direction' };
    case 'message':
      return parseSocketIo(String(packet.data ?? ''));
    case 'open':
    case 'upgrade':
      return { kind: 'invalid', reason: `unexpected ${packet.type} packet` };
    default:
      return { kind: 'invalid', reason: 'invalid Engine.IO packet' };
  }
}

function parseSocketIo(data: string): Incoming {
  // socket.io-parser reads an empty string as a CONNECT (type `Number('')` is 0).
  if (data.length === 0) return { kind: 'invalid', reason: 'empty Socket.IO packet' };
  const decoder = new Decoder();
  let decoded: SocketPacket | undefined;
  decoder.on('decoded', (packet: SocketPacket) => {
    decoded = packet;
  });
  try {
    decoder.add(data);
  } catch (error) {
    return { kind: 'invalid', reason: `invalid Socket.IO packet: ${(error as Error).message}` };
  } finally {
    decoder.destroy();
  }
  // A binary event's header waits for attachments, which come as binary frames: not served here.
  if (!decoded) return { kind: 'invalid', reason: 'binary packets are not supported' };
  const nsp = decoded.nsp;
  switch (decoded.type) {
    case PacketType.CONNECT:
      return { kind: 'connect', nsp };
    case PacketType.DISCONNECT:
      return { kind: 'disconnect', nsp };
    case PacketType.EVENT: {
      const [name, ...args] = decoded.data as unknown[];
      if (typeof name !== 'string') return { kind: 'invalid', reason: 'event name should be a string' };
      return { kind: 'event', nsp, name, args, ...(decoded.id !== undefined ? { ackId: decoded.id } : {}) };
    }
    case PacketType.ACK:
      if (decoded.id === undefined) return { kind: 'invalid', reason: 'ack without id' };
      return { kind: 'ack', nsp, id: decoded.id, args: decoded.data as unknown[] };
    default:
      return { kind: 'invalid', reason: 'unexpected Socket.IO packet type' };
  }
}
