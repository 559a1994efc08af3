import { createHmac, randomUUID, timingSafeEqual } from 'node:crypto';
import type { ControlCommand, VoiceControl } from '../domain/ports';

/**
 * Control commands (lambdas/domain/ports.ts) over HTTP(S): nodes are reached on their control port; every
 * request carries an HMAC-SHA256 of its timestamp, a random request id (nonce) and its body under a secret
 * the Lambdas and the nodes share (MEDIA_CONTROL_SECRET). A node refuses a request older than a minute, and
 * one whose request id it has already accepted: a captured request can be neither altered nor replayed.
 * No IAM needed, nothing else accepted. Both ends use this file: REST signs (HttpVoiceControl), the node
 * verifies (media-node/control.ts).
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

/** Posts signed commands to `<node>/control`; a node that cannot be reached is logged by the caller's caller. */
export class HttpVoiceControl implements VoiceControl {
  private readonly source: ControlSecretSource;

  constructor(secret: string | ControlSecretSource) {
    this.source = typeof secret === 'string' ? { get: async () => secret } : secret;
  }

  async send(node: string, command: ControlCommand): Promise<boolean> {
    const body = JSON.stringify(command);
    let response = await this.post(node, body);
    if (response.status === 401 && this.source.refresh) {
      // Once, with a fresh key: after a rotation the node has the new key and we may still hold the old one.
      this.source.refresh();
      response = await this.post(node, body);
    }
    if (!response.ok) throw new Error(`media node ${node} refused a control command: HTTP ${response.status}`);
    return ((await response.json()) as { done?: boolean }).done === true;
  }

  private async post(node: string, body: string): Promise<Response> {
    const secret = await this.source.get();
    if (!secret) throw new Error('MEDIA_CONTROL_SECRET is not set: cannot reach the media nodes');
    return fetch(`${node}/control`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', [SIGNATURE_HEADER]: signControl(secret, body) },
      body,
      signal: AbortSignal.timeout(3000),
    });
  }
}
