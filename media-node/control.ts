import { createServer as createHttpServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { type ControlCommand, SIGNATURE_HEADER, verifyControl } from '../lambdas/domain/voice-control';
import type { MediaNode } from './node';

const MAX_BODY_BYTES = 4096;

/**
 * The node's control endpoint (`POST /control`): REST's signed commands to end voice connections or set
 * administrator mute/deafen. Anything unsigned, stale or malformed is refused before it touches the node.
 */
export async function startControlServer(options: {
  node: MediaNode;
  secret: string;
  port: number;
  host?: string;
  /** With the node's certificate the endpoint is HTTPS, so commands are not readable on the way. */
  tls?: { cert: string | Buffer; key: string | Buffer };
}): Promise<{ url: string; port: number; address: { address: string; port: number }; stop(): Promise<void> }> {
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
      if (size > MAX_BODY_BYTES) return answer(413, { error: 'too large' });
      const body = Buffer.concat(chunks).toString('utf8');
      if (!verifyControl(options.secret, body, request.headers[SIGNATURE_HEADER] as string | undefined)) return answer(401, { error: 'bad signature' });
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
    });
  };
  const server: Server = options.tls ? createHttpsServer(options.tls, handle) : createHttpServer(handle);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, options.host ?? '0.0.0.0', () => resolve());
  });
  const bound = server.address() as AddressInfo;
  const port = bound.port;
  return {
    address: { address: bound.address, port },
    url: `${options.tls ? 'https' : 'http'}://${options.host && options.host !== '0.0.0.0' ? options.host : '127.0.0.1'}:${port}`,
    port,
    stop: () => new Promise((resolve) => server.close(() => resolve())),
  };
}
