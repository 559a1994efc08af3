import { createHash, createHmac, randomUUID, timingSafeEqual } from 'node:crypto';
import { request as httpRequest } from 'node:http';
import { isIP } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import type { ControlCommand, VoiceControl } from '../domain/ports';

/**
 * Control commands (lambdas/domain/ports.ts) over HTTPS: nodes are reached on their control port, pinned to
 * the certificate the node's voice states name (below), so a command is readable by nobody on the way;
 * every request carries an HMAC-SHA256 of its timestamp, a random request id (nonce) and its body under a
 * secret the Lambdas and the nodes share (MEDIA_CONTROL_SECRET). A node refuses a request older than a
 * minute, and one whose request id it has already accepted: a request can be neither altered nor replayed.
 * No IAM needed, nothing else accepted (docs/security.md, "Media node control path"). Both ends use this
 * file: REST signs (HttpVoiceControl), the node verifies (media-node/control.ts).
 */

export const SIGNATURE_HEADER = 'x-zavodchat-signature';
export const MAX_SKEW_SECONDS = 60;

/** `t=<unix seconds>,n=<request id>,v1=<hex HMAC of "t.n.body">`. */
export function signControl(secret: string, body: string, now = Date.now(), nonce: string = randomUUID()): string {
  const timestamp = Math.floor(now / 1000);
  const mac = createHmac('sha256', secret).update(`${timestamp}.${nonce}.${body}`).digest('hex');
  return `t=${timestamp},n=${nonce},v1=${mac}`;
}

export type ControlVerdict = { ok: true; nonce: string; expiresAt: number } | { ok: false; reason: 'bad signature' | 'stale' };

/**
 * Checks the signature and the age; the caller checks the request id against the ones it accepted (it is
 * unique only until `expiresAt`, after which the timestamp alone refuses the request).
 */
export function verifyControl(secret: string, body: string, signature: string | undefined, now = Date.now()): ControlVerdict {
  const match = /^t=(\d{1,12}),n=([A-Za-z0-9-]{16,64}),v1=([0-9a-f]{64})$/.exec(signature ?? '');
  if (!match) return { ok: false, reason: 'bad signature' };
  const [, timestamp, nonce, mac] = match;
  const expected = createHmac('sha256', secret).update(`${timestamp}.${nonce}.${body}`).digest();
  if (!timingSafeEqual(expected, Buffer.from(mac, 'hex'))) return { ok: false, reason: 'bad signature' };
  const signedAt = Number(timestamp) * 1000;
  if (Math.abs(now - signedAt) > MAX_SKEW_SECONDS * 1000) return { ok: false, reason: 'stale' };
  return { ok: true, nonce, expiresAt: signedAt + (MAX_SKEW_SECONDS + 1) * 1000 };
}

/**
 * The request ids a node accepted, each kept until its request would be refused as stale anyway. Only
 * correctly signed requests get here, so its size is bounded by REST's own traffic over two minutes.
 */
export class SeenNonces {
  private readonly seen = new Map<string, number>();

  /** True the first time a request id is offered within its validity; false for a replay. */
  accept(nonce: string, expiresAt: number, now = Date.now()): boolean {
    for (const [id, expiry] of this.seen) {
      // Insertion order is close to expiry order: stop at the first entry still valid.
      if (expiry > now) break;
      this.seen.delete(id);
    }
    if (this.seen.has(nonce)) return false;
    this.seen.set(nonce, expiresAt);
    return true;
  }

  get size(): number {
    return this.seen.size;
  }
}

/** The shared key: a value (local runtime, in-process) or a cached read of Secrets Manager (Lambda). */
export interface ControlSecretSource {
  get(): Promise<string>;
  /** Forget a cached value: the node refused our signature, the key may have been rotated. */
  refresh?(): void;
}

/**
 * A node's control address as its voice states store it: `https://<host>:<port>#sha256=<64 hex>`, the
 * SHA-256 of the certificate its control endpoint serves (media-node/control-identity.ts). The fragment is
 * never sent; the table that carries it is read over authenticated TLS, so the pin is as trustworthy as the
 * voice state that names the node.
 */
export interface PinnedAddress {
  url: URL;
  fingerprint: Buffer;
}

const PIN = /^#sha256=([0-9a-f]{64})$/;

/** A node's base control URL (MEDIA_CONTROL_URL) checked: `https://<host>[:<port>]`, nothing else. */
export function controlBaseUrl(base: string): string {
  let url: URL | undefined;
  try {
    url = new URL(base);
  } catch {
    url = undefined;
  }
  if (!url || url.protocol !== 'https:' || url.pathname !== '/' || url.search || url.hash || url.username || url.password) {
    throw new Error(`MEDIA_CONTROL_URL must be https://<host>[:<port>] (the control endpoint always serves TLS), got '${base}'`);
  }
  return url.origin;
}

/** The address a node publishes: its base URL and the fingerprint of its control certificate. */
export function pinnedControlAddress(base: string, fingerprint: string): string {
  if (!/^[0-9a-f]{64}$/.test(fingerprint)) throw new Error('the control certificate fingerprint must be 64 lower-case hex digits');
  return `${controlBaseUrl(base)}#sha256=${fingerprint}`;
}

/** The pinned address in a voice state, or undefined for anything else (plain http, no pin, not a URL). */
export function parseControlAddress(node: string): PinnedAddress | undefined {
  let url: URL;
  try {
    url = new URL(node);
  } catch {
    return undefined;
  }
  const pin = PIN.exec(url.hash);
  if (url.protocol !== 'https:' || !pin || url.pathname !== '/' || url.search) return undefined;
  return { url: new URL(url.origin), fingerprint: Buffer.from(pin[1], 'hex') };
}

const CONTROL_TIMEOUT_MS = 3000;
const MAX_ANSWER_BYTES = 4096;

/**
 * One `POST /control` over TLS to a pinned address. The node's certificate is self-signed, so no CA chain
 * can vouch for it: the connection is accepted by OpenSSL without chain verification (the handshake still
 * proves the peer holds the certificate's key), and then the certificate presented is compared with the
 * pin before a single byte of the request is written. Any other certificate (a man in the middle, another
 * node now at that address) ends the connection with nothing sent.
 */
export function postPinned(
  address: PinnedAddress,
  headers: Record<string, string>,
  body: string,
  timeoutMs = CONTROL_TIMEOUT_MS,
): Promise<{ status: number; body: string }> {
  const host = address.url.hostname.replace(/^\[(.*)\]$/, '$1');
  const port = Number(address.url.port || 443);
  return new Promise((resolve, reject) => {
    let settled = false;
    const finish = (error: Error | undefined, answer?: { status: number; body: string }) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.destroy();
      if (error) reject(error);
      else resolve(answer!);
    };
    const timer = setTimeout(() => finish(new Error(`media node ${address.url.host} did not answer within ${timeoutMs} ms`)), timeoutMs);
    const socket = tlsConnect({
      host,
      port,
      servername: isIP(host) ? undefined : host,
      // Not blind: a self-signed chain never verifies; the certificate is checked against the pin below.
      rejectUnauthorized: false,
      minVersion: 'TLSv1.2',
    });
    socket.once('error', (error) => finish(error));
    socket.once('secureConnect', () => {
      const presented = socket.getPeerX509Certificate();
      const digest = presented ? createHash('sha256').update(presented.raw).digest() : undefined;
      if (!digest?.equals(address.fingerprint)) {
        finish(new Error(`media node ${address.url.host} presented a certificate other than the pinned one (sha256 ${digest?.toString('hex') ?? 'none'}): nothing sent`));
        return;
      }
      const request = httpRequest(
        {
          createConnection: () => socket,
          method: 'POST',
          path: '/control',
          setHost: false,
          headers: { ...headers, host: address.url.host, 'content-length': String(Buffer.byteLength(body)) },
        },
        (response) => {
          const chunks: Buffer[] = [];
          let size = 0;
          response.on('data', (chunk: Buffer) => {
            size += chunk.length;
            if (size > MAX_ANSWER_BYTES) finish(new Error(`media node ${address.url.host} answered more than ${MAX_ANSWER_BYTES} bytes`));
            else chunks.push(chunk);
          });
          response.on('end', () => finish(undefined, { status: response.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }));
          response.on('error', (error) => finish(error));
        },
      );
      request.on('error', (error) => finish(error));
      request.end(body);
    });
  });
}

/**
 * Posts signed commands to a node's pinned control address; a node that cannot be reached is logged by the
 * caller's caller. An address without a pin (plain `http://`, or a voice state written by a node of an
 * earlier version) is refused without connecting: commands never travel unencrypted or to an unverified peer.
 */
export class HttpVoiceControl implements VoiceControl {
  private readonly source: ControlSecretSource;

  constructor(secret: string | ControlSecretSource) {
    this.source = typeof secret === 'string' ? { get: async () => secret } : secret;
  }

  async send(node: string, command: ControlCommand): Promise<boolean> {
    const address = parseControlAddress(node);
    if (!address) throw new Error(`media node address '${node}' names no pinned certificate (https://<host>:<port>#sha256=<hex>): command not sent`);
    const body = JSON.stringify(command);
    let response = await this.post(address, body);
    if (response.status === 401 && this.source.refresh) {
      // Once, with a fresh key: after a rotation the node has the new key and we may still hold the old one.
      this.source.refresh();
      response = await this.post(address, body);
    }
    if (response.status < 200 || response.status > 299) throw new Error(`media node ${address.url.host} refused a control command: HTTP ${response.status}`);
    return (JSON.parse(response.body) as { done?: boolean }).done === true;
  }

  private async post(address: PinnedAddress, body: string): Promise<{ status: number; body: string }> {
    const secret = await this.source.get();
    if (!secret) throw new Error('MEDIA_CONTROL_SECRET is not set: cannot reach the media nodes');
    return postPinned(address, { 'content-type': 'application/json', [SIGNATURE_HEADER]: signControl(secret, body) }, body);
  }
}
