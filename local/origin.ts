import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import { STATUS_CODES } from 'node:http';
import { connect as netConnect } from 'node:net';
import { extname, resolve, sep } from 'node:path';
import type { Duplex } from 'node:stream';
import { connect as tlsConnect } from 'node:tls';
import { ORIGIN_PATHS, originRoute } from '../lib/origin-paths';
import type { WebSocketGateway } from './ws-gateway';

const CONTENT_TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json',
  '.map': 'application/json',
  '.txt': 'text/plain; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.jpg': 'image/jpeg',
  '.jpeg': 'image/jpeg',
  '.gif': 'image/gif',
  '.webp': 'image/webp',
  '.ico': 'image/x-icon',
  '.woff': 'font/woff',
  '.woff2': 'font/woff2',
  '.ttf': 'font/ttf',
  '.wasm': 'application/wasm',
  '.mp3': 'audio/mpeg',
  '.ogg': 'audio/ogg',
  '.wav': 'audio/wav',
  '.webm': 'video/webm',
};

export interface OriginOptions {
  /** The REST server's request listener (the HTTP API stand-in): it gets the request with `/api` cut off. */
  serveRest: (request: IncomingMessage, response: ServerResponse) => void;
  /** The main socket's gateway: it gets `/socket` upgrades as if they had come to its own port. */
  gateway: WebSocketGateway;
  /** The workspace socket's gateway (when it runs): `/socket.io/` upgrades, as on AWS. */
  workspaceGateway?: WebSocketGateway;
  /** The desk socket's gateway (when it runs): `/connect/` upgrades, as on AWS. */
  deskGateway?: WebSocketGateway;
  /** The voice socket's loopback port and whether it speaks TLS; `/voice` upgrades are piped to it. */
  voice?: () => { host: string; port: number; tls: boolean } | undefined;
  /** A client build (a folder with index.html) served at `/`; without one `/` answers 404 with a hint. */
  clientDir?: string;
  log?: (line: string) => void;
}

function splitUrl(rawUrl: string): { path: string; query: string } {
  const at = rawUrl.indexOf('?');
  return at < 0 ? { path: rawUrl, query: '' } : { path: rawUrl.slice(0, at), query: rawUrl.slice(at) };
}

function refuseUpgrade(socket: Duplex, status: number, text: string): void {
  socket.end(`HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\nConnection: close\r\nContent-Type: text/plain\r\nContent-Length: ${Buffer.byteLength(text)}\r\n\r\n${text}`);
}

/**
 * One port with the cloud's single-origin layout (lib/origin-paths.ts): `/api/*` to REST, `/socket` to the
 * main socket, `/socket.io/` to the workspace socket, `/connect/` to the desk socket, `/voice` to the voice
 * socket, anything else to the client build. It dispatches to the very
 * objects that serve the separate ports (the REST listener, the gateway, the voice service): nothing is run
 * twice, and a session cookie set by `/api/auth` is the host's, so the browser sends it on `/socket` too.
 */
export function attachOrigin(server: Server, options: OriginOptions): void {
  server.on('request', (request: IncomingMessage, response: ServerResponse) => {
    const { path, query } = splitUrl(request.url ?? '/');
    const route = originRoute(path);
    if (route.service === 'rest') {
      request.url = route.path + query;
      options.serveRest(request, response);
    } else if (route.service === 'mainSocket' || route.service === 'workspaceSocket' || route.service === 'deskSocket' || path === ORIGIN_PATHS.voice) {
      response.writeHead(426, { 'Content-Type': 'text/plain', Upgrade: 'websocket' }).end('Upgrade Required');
    } else {
      serveClientFile(options.clientDir, route.path, request, response).catch((error) => {
        options.log?.(`origin: ${String(error)}`);
        if (!response.headersSent) response.writeHead(500).end();
      });
    }
  });

  server.on('upgrade', (request: IncomingMessage, socket: Duplex, head: Buffer) => {
    socket.on('error', () => socket.destroy());
    const { path, query } = splitUrl(request.url ?? '/');
    if (path === ORIGIN_PATHS.mainSocket) {
      request.url = `/${query}`;
      options.gateway.handleUpgrade(request, socket, head);
      return;
    }
    const protocolGateway = path === ORIGIN_PATHS.workspaceSocket ? options.workspaceGateway : path === ORIGIN_PATHS.deskSocket ? options.deskGateway : undefined;
    if (protocolGateway) {
      protocolGateway.handleUpgrade(request, socket, head);
      return;
    }
    const voice = path === ORIGIN_PATHS.voice ? options.voice?.() : undefined;
    if (voice) {
      pipeUpgrade(request, socket, head, voice, `/${query}`);
      return;
    }
    refuseUpgrade(socket, 404, path === ORIGIN_PATHS.voice ? 'Voice is off' : 'Not found');
  });
}

/**
 * The voice socket has its own server (the media node runs alone on EC2): its upgrade is replayed to it
 * over this machine's network and the two sockets are joined. With TLS on, that loopback hop is TLS to our own
 * certificate, which may be issued for another name, hence no name check on this one local hop.
 */
function pipeUpgrade(request: IncomingMessage, socket: Duplex, head: Buffer, target: { host: string; port: number; tls: boolean }, url: string): void {
  const upstream = target.tls
    ? tlsConnect({ host: target.host, port: target.port, rejectUnauthorized: false })
    : netConnect({ host: target.host, port: target.port });
  upstream.on('error', () => {
    socket.destroy();
    upstream.destroy();
  });
  socket.on('close', () => upstream.destroy());
  upstream.on('close', () => socket.destroy());
  let lines = `${request.method ?? 'GET'} ${url} HTTP/1.1\r\n`;
  for (let i = 0; i < request.rawHeaders.length; i += 2) lines += `${request.rawHeaders[i]}: ${request.rawHeaders[i + 1]}\r\n`;
  upstream.write(`${lines}\r\n`);
  if (head.length > 0) upstream.write(head);
  socket.pipe(upstream).pipe(socket);
}

async function serveClientFile(clientDir: string | undefined, path: string, request: IncomingMessage, response: ServerResponse): Promise<void> {
  if (request.method !== 'GET' && request.method !== 'HEAD') {
    response.writeHead(405, { Allow: 'GET, HEAD', 'Content-Type': 'text/plain' }).end('Method Not Allowed');
    return;
  }
  if (!clientDir) {
    response
      .writeHead(404, { 'Content-Type': 'text/plain' })
      .end(`No client build is served here: start with CLIENT_BUILD_DIR=<folder of a web client build>. REST is at ${ORIGIN_PATHS.rest}, the main socket at ${ORIGIN_PATHS.mainSocket}.\n`);
    return;
  }
  const root = resolve(clientDir);
  let file: string;
  try {
    file = resolve(root, `.${decodeURIComponent(path)}`);
  } catch {
    response.writeHead(400, { 'Content-Type': 'text/plain' }).end('Bad Request');
    return;
  }
  // `..` or an encoded one must not leave the folder.
  const found = (file === root || file.startsWith(root + sep)) && !file.includes('\0') ? await stat(file).catch(() => undefined) : undefined;
  if (!found?.isFile()) {
    response.writeHead(404, { 'Content-Type': 'text/plain' }).end('Not Found');
    return;
  }
  response.writeHead(200, {
    'Content-Type': CONTENT_TYPES[extname(file).toLowerCase()] ?? 'application/octet-stream',
    'Content-Length': found.size,
  });
  if (request.method === 'HEAD') {
    response.end();
    return;
  }
  createReadStream(file).on('error', () => response.destroy()).pipe(response);
}
