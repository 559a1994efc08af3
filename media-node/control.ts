import type { IncomingMessage, ServerResponse } from 'node:http';
import { createServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { pinnedControlAddress, SeenNonces, SIGNATURE_HEADER, verifyControl } from '../lambdas/adapters/http-voice-control';
import type { ControlCommand } from '../lambdas/domain/ports';
import { type ControlIdentity, createControlIdentity } from './control-identity';
import type { MediaNode } from './node';

const MAX_BODY_BYTES = 4096;

/** The host REST would use on this machine: the bound one, or loopback for "every interface". */
function shownHost(host: string | undefined): string {
  if (!host || host === '0.0.0.0' || host === '::') return '127.0.0.1';
  return host.includes(':') ? `[${host}]` : host;
}

/**
 * The node's control endpoint (`POST /control`): REST's signed commands to end voice connections or set
 * administrator mute/deafen. HTTPS only, always, with the node's own control identity (a self-signed
 * certificate REST pins by its fingerprint: control-identity.ts), in every configuration: with or without a
 * domain, on EC2 and in `npm start`. Plain HTTP is not spoken at all (its bytes fail the TLS handshake).
 * Anything unsigned, stale, replayed (a request id already accepted) or malformed is refused before it
 * touches the node.
 */
export async function startControlServer(options: {
  node: MediaNode;
  secret: string;
  port: number;
  host?: string;
  /** The TLS identity; a new one by default (one per process). */
  identity?: ControlIdentity;
}): Promise<{
  /** The pinned address of this endpoint on its bound host: `https://<host>:<port>#sha256=<hex>`. */
  url: string;
  /** SHA-256 (hex) of the certificate served: the pin. */
  fingerprint: string;
  port: number;
  address: { address: string; port: number };
  stop(): Promise<void>;
}> {
  const identity = options.identity ?? createControlIdentity();
  const seen = new SeenNonces();
  const handle = (request: IncomingMessage, response: ServerResponse) => {
    const answer = (status: number, body: unknown) => response.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
    if (request.method !== 'POST' || request.url !== '/control') return answer(404, { error: 'not found' });
    const chunks: Buffer[] = [];
    let size = 0;
    request.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size <= MAX_BODY_BYTES) chunks.push(chunk);
    });
    request.on('end', () => {
      try {
        execute();
      } catch {
        if (!response.headersSent) answer(500, { error: 'internal' });
      }
    });
    const execute = () => {
      if (size > MAX_BODY_BYTES) return answer(413, { error: 'too large' });
      const body = Buffer.concat(chunks).toString('utf8');
      const verdict = verifyControl(options.secret, body, request.headers[SIGNATURE_HEADER] as string | undefined);
      if (!verdict.ok) return answer(401, { error: verdict.reason });
      // Checked after the signature, so only REST's own requests take room in the set.
      if (!seen.accept(verdict.nonce, verdict.expiresAt)) return answer(409, { error: 'replayed' });
      let command: ControlCommand;
      try {
        command = JSON.parse(body) as ControlCommand;
      } catch {
        return answer(400, { error: 'invalid JSON' });
      }
      switch (command.kind) {
        case 'kick':
          return answer(200, { done: options.node.kick(command.userId, command.reason, command.channelId) });
        case 'close-channel':
          return answer(200, { done: options.node.closeChannel(command.channelId, command.reason) > 0 });
        case 'admin-state':
          return answer(200, { done: options.node.setAdminState(command.userId, { mute: command.mute, deaf: command.deaf }, command.channelId) });
        default:
          return answer(400, { error: 'unknown command' });
      }
    };
  };
  // A failure answers 500 and never ends the process (locally it also runs REST and the main socket).
  const safeHandle = (request: IncomingMessage, response: ServerResponse) => {
    try {
      handle(request, response);
    } catch {
      if (!response.headersSent) response.writeHead(500, { 'content-type': 'application/json' }).end('{"error":"internal"}');
    }
  };
  const server = createServer({ cert: identity.cert, key: identity.key, minVersion: 'TLSv1.2' }, safeHandle);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, options.host ?? '0.0.0.0', () => resolve());
  });
  // Later server errors (EMFILE on accept, say) must not end the process: without a listener they would.
  server.on('error', () => undefined);
  const bound = server.address() as AddressInfo;
  const port = bound.port;
  return {
    address: { address: bound.address, port },
    url: pinnedControlAddress(`https://${shownHost(options.host)}:${port}`, identity.fingerprint),
    fingerprint: identity.fingerprint,
    port,
    stop: () => new Promise((resolve) => server.close(() => resolve())),
  };
}
