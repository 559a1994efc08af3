import type { Hono } from 'hono';

/** `GET /servers/:sid/users` and `/servers/$server_id/users/` both become `GET /servers/{}/users`. */
export function routeKey(method: string, path: string): string {
  const segments = path.replace(/\/+$/, '').split('/').map((s) => (/^[:$]|^{.*}$/.test(s) ? '{}' : s));
  return `${method.toUpperCase()} ${segments.join('/')}`;
}

/** Method and path of every route the REST app serves, in registration order. */
export function servedRoutes(app: Hono): Array<{ method: string; path: string }> {
  const seen = new Set<string>();
  return app.routes
    .filter((route) => route.method !== 'ALL')
    .filter((route) => !seen.has(`${route.method} ${route.path}`) && seen.add(`${route.method} ${route.path}`))
    .map((route) => ({ method: route.method, path: route.path.replace(/:([a-z]+)/g, '{$1}') }));
}

/**
 * docs/api.md: every route the server really serves (read from the app itself, so the document cannot
 * drift; `test/rest-surface.test.ts` fails when it differs), marked where upstream's OpenAPI lacks it.
 */
export function renderApiDoc(app: Hono, upstream: Set<string>): string {
  const rows = servedRoutes(app).map(({ method, path }) => {
    const documented = upstream.has(routeKey(method, path)) ? 'yes' : 'no';
    return `| ${method} | \`${path}\` | ${documented} |`;
  });
  return [
    '# REST routes',
    '',
    'Generated from the REST app by `npm run docs:api`; `npm test` fails when this file and the code differ.',
    'Arguments, texts and status codes follow upstream ZavodChat (`../shared/spec/zavodchat-rest.openapi.yaml`,',
    'as corrected by PROTOCOL.md Part B §6); `docs/protocol.md` lists our decisions and the events of each route.',
    'Paths also match with a trailing or doubled slash. Every route answers `OPTIONS` (CORS).',
    '',
    'Preferences exist upstream (PROTOCOL.md Part B §6.3) but are missing from its OpenAPI file.',
    '',
    '| method | path | in upstream\'s OpenAPI |',
    '| --- | --- | --- |',
    ...rows,
    '',
  ].join('\n');
}
