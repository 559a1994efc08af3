import { runInNewContext } from 'node:vm';
import { originRoute, viewerRequestFunctionCode } from '../../lib/origin-paths';

/** The CloudFront function's code, run as CloudFront runs it: a `handler(event)` returning the request. */
function cloudFront(uri: string, stages: [string, string, string] = ['/live', '/live', '/live']): string {
  const handler = runInNewContext(`${viewerRequestFunctionCode(...stages)}\nhandler`, {}) as (event: unknown) => { uri: string };
  return handler({ request: { uri, method: 'GET', querystring: {}, headers: {}, cookies: {} } }).uri;
}

const CASES: Array<[string, ReturnType<typeof originRoute>]> = [
  ['/api/servers', { service: 'rest', path: '/servers' }],
  ['/api/', { service: 'rest', path: '/' }],
  ['/api//servers/3/', { service: 'rest', path: '//servers/3/' }],
  ['/api/files/avatar/user/a.png', { service: 'rest', path: '/files/avatar/user/a.png' }],
  ['/socket', { service: 'mainSocket', path: '/' }],
  // socket.io clients' default path (`/socket.io/?EIO=4&transport=websocket`), and the desk seed's `/connect/?token=`.
  ['/socket.io/', { service: 'workspaceSocket', path: '/' }],
  ['/connect/', { service: 'deskSocket', path: '/' }],
  ['/', { service: 'client', path: '/index.html' }],
  ['/login', { service: 'client', path: '/index.html' }],
  ['/servers/3', { service: 'client', path: '/index.html' }],
  ['/docs/', { service: 'client', path: '/docs/index.html' }],
  ['/_app/immutable/start.1a2b.js', { service: 'client', path: '/_app/immutable/start.1a2b.js' }],
  ['/favicon.png', { service: 'client', path: '/favicon.png' }],
  // Not the API: only `/api/` is, as only `/api/*` matches the CloudFront behaviour.
  ['/api', { service: 'client', path: '/index.html' }],
  ['/apiary.js', { service: 'client', path: '/apiary.js' }],
  ['/socket/', { service: 'client', path: '/socket/index.html' }],
  ['/sockets', { service: 'client', path: '/index.html' }],
  ['/socket.io', { service: 'client', path: '/socket.io' }],
  ['/socket.io/socket.io.js', { service: 'client', path: '/socket.io/socket.io.js' }],
  ['/connect', { service: 'client', path: '/index.html' }],
  ['/connect/x', { service: 'client', path: '/index.html' }],
];

const SOCKET_SERVICES = ['mainSocket', 'workspaceSocket', 'deskSocket'];

describe('single-origin paths', () => {
  test.each(CASES)('%s is routed the same locally and by the CloudFront function', (path, expected) => {
    expect(originRoute(path)).toEqual(expected);
    // The function only rewrites; which origin serves a path is the behaviour's path pattern.
    expect(cloudFront(path)).toBe(SOCKET_SERVICES.includes(expected.service) ? '/live' : expected.path);
  });

  test('each socket goes to its own API\'s stage', () => {
    const stages: [string, string, string] = ['/main', '/workspace', '/desk'];
    expect(['/socket', '/socket.io/', '/connect/'].map((path) => cloudFront(path, stages))).toEqual(stages);
  });

  test('the stage path is checked before it is written into code', () => {
    expect(() => viewerRequestFunctionCode("/x'; evil(); '")).toThrow(/not a stage path/);
    expect(() => viewerRequestFunctionCode('/live', "/x'; evil(); '")).toThrow(/not a stage path/);
    expect(() => viewerRequestFunctionCode('/live', '/live', "/x'; evil(); '")).toThrow(/not a stage path/);
  });
});
