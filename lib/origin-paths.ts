/**
 * The single origin's layout, the same on AWS (the CloudFront distribution of lib/single-origin.ts) and
 * locally (`npm start`, ORIGIN_PORT, local/origin.ts), so one client build, made with the relative base URLs
 * `/api/` and `/socket`, works in both places. No CDK import here: the local runtime reads it too.
 */
export const ORIGIN_PATHS = {
  /** REST: `/api/<route>` is `<route>` of the REST API (the prefix is cut before the request reaches it). */
  rest: '/api/',
  /** The main socket's upgrade path (query string allowed, e.g. `?status=`). */
  mainSocket: '/socket',
  /** The workspace socket (socket.io): its clients' default path, so `io(origin)` needs no `path` option. */
  workspaceSocket: '/socket.io/',
  /** The desk socket (seed 004): the seed's `/connect/?token=`. */
  deskSocket: '/connect/',
  /** The voice socket: local only (on AWS voice needs a domain, docs/deploy.md "One origin"). */
  voice: '/voice',
} as const;

/**
 * What the origin makes of a request path: which service, and the path that service sees. The CloudFront
 * function (viewerRequestFunctionCode) must agree with it on every path (test/unit/origin-paths.test.ts checks both on a table).
 * Client files: a path ending in `/` means its `index.html`; a last segment without a dot is a client-side
 * route of the single-page app and gets `/index.html`.
 */
export function originRoute(path: string): { service: 'rest' | 'mainSocket' | 'workspaceSocket' | 'deskSocket' | 'client'; path: string } {
  if (path.startsWith(ORIGIN_PATHS.rest)) return { service: 'rest', path: path.slice(ORIGIN_PATHS.rest.length - 1) };
  if (path === ORIGIN_PATHS.mainSocket) return { service: 'mainSocket', path: '/' };
  if (path === ORIGIN_PATHS.workspaceSocket) return { service: 'workspaceSocket', path: '/' };
  if (path === ORIGIN_PATHS.deskSocket) return { service: 'deskSocket', path: '/' };
  if (path.endsWith('/')) return { service: 'client', path: `${path}index.html` };
  if (!path.slice(path.lastIndexOf('/') + 1).includes('.')) return { service: 'client', path: '/index.html' };
  return { service: 'client', path };
}

/**
 * The CloudFront Functions (cloudfront-js-2.0) viewer-request code, attached to every behaviour: it does what
 * originRoute does to the path, except that each socket goes to its WebSocket API's stage (`socketPath`,
 * `workspaceSocketPath`, `deskSocketPath`: `/live`), the one path at which API Gateway accepts its upgrades; locally the
 * gateway takes any path. API Gateway never sees `/api`: the HTTP API's `$default` stage routes `/servers`,
 * not `/api/servers`. Plain ES5 on purpose: it is never transpiled.
 */
export function viewerRequestFunctionCode(socketPath: string, workspaceSocketPath: string = socketPath, deskSocketPath: string = socketPath): string {
  for (const path of [socketPath, workspaceSocketPath, deskSocketPath]) {
    if (!/^\/[A-Za-z0-9_-]+$/.test(path)) throw new Error(`not a stage path: '${path}'`);
  }
  return `function handler(event) {
  var request = event.request;
  var uri = request.uri;
  if (uri.indexOf('${ORIGIN_PATHS.rest}') === 0) {
    request.uri = uri.substring(${ORIGIN_PATHS.rest.length - 1});
  } else if (uri === '${ORIGIN_PATHS.mainSocket}') {
    request.uri = '${socketPath}';
  } else if (uri === '${ORIGIN_PATHS.workspaceSocket}') {
    request.uri = '${workspaceSocketPath}';
  } else if (uri === '${ORIGIN_PATHS.deskSocket}') {
    request.uri = '${deskSocketPath}';
  } else if (uri.charAt(uri.length - 1) === '/') {
    request.uri = uri + 'index.html';
  } else if (uri.substring(uri.lastIndexOf('/') + 1).indexOf('.') < 0) {
    request.uri = '/index.html';
  }
  return request;
}
`;
}
