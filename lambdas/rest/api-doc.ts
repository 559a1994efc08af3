import type { Hono } from 'hono';
import { DEFAULT_RATE_LIMITS, RATE_LIMIT_VARIABLES, type RateLimit } from '../domain/config';

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

const per = (limit: RateLimit | undefined) => (limit ? `${limit.requests} per ${limit.windowSeconds} s` : 'off');

/** The 429 section, with the production budgets read from the code. */
function rateLimitSection(): string[] {
  const limits = DEFAULT_RATE_LIMITS;
  return [
    '## Rate limits',
    '',
    'Over a budget a request is answered `429 Too many requests` with `Retry-After` (seconds until its window',
    'ends) and nothing of it is executed. Windows are fixed and aligned to the clock; the counters live in the',
    'table, so every Lambda instance sees the same count. Defaults, each overridable by its environment variable',
    '(`<requests>/<seconds>` or `off`; `RATE_LIMITS=off` turns all off):',
    '',
    '| budget | default | variable |',
    '| --- | --- | --- |',
    `| every request of a user (of a source IP without a valid session), but message writes and \`GET /params\` | ${per(limits.rest)} | \`${RATE_LIMIT_VARIABLES.rest}\` |`,
    `| \`POST /channels/{cid}/messages\` and \`PUT /messages/{mid}\`, per user | ${per(limits.messages)} | \`${RATE_LIMIT_VARIABLES.messages}\` |`,
    `| failed \`POST /auth\` per username: beyond it every login of that name is refused, even with the right password, until the window ends | ${per(limits.loginFailures)} | \`${RATE_LIMIT_VARIABLES.loginFailures}\` |`,
    `| \`POST /register\` per source IP | ${per(limits.registrations)} | \`${RATE_LIMIT_VARIABLES.registrations}\` |`,
    '',
    'A login (made without a session) also counts as a request of its source IP. Main-socket frames have a',
    'budget too (`docs/protocol.md`). API Gateway\'s stage throttling comes on top.',
  ];
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
    ...rateLimitSection(),
    '',
    '## Routes',
    '',
    '| method | path | in upstream\'s OpenAPI |',
    '| --- | --- | --- |',
    ...rows,
    '',
  ].join('\n');
}
