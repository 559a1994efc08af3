import type { Hono } from 'hono';
import { DEFAULT_RATE_LIMITS, RATE_LIMIT_VARIABLES, type RateLimit } from '../domain/config';

/** `GET /servers/:sid/users` and `/servers/$server_id/users/` both become `GET /servers/{}/users`. */
export function routeKey(method: string, path: string): string {
  const segments = path.replace(/\/+$/, '').split('/').map((s) => (/^[:$]|^{.*}$/.test(s) ? '{}' : s));
  return `${method.toUpperCase()} ${segments.join('/')}`;
}

/** Method and path of every route the REST app serves, in registration order. */
export function servedRoutes(app: Pick<Hono, 'routes'>): Array<{ method: string; path: string }> {
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
    `| failed \`POST /auth\` per username and source IP: beyond it that source's logins to that name are refused, even with the right password, until the window ends | ${per(limits.loginFailures)} | \`${RATE_LIMIT_VARIABLES.loginFailures}\` |`,
    `| failed \`POST /auth\` per username from all sources: beyond it a source that already failed in the window is refused; one without a failure (the owner) still gets its attempt | ${per(limits.loginFailuresPerName)} | \`${RATE_LIMIT_VARIABLES.loginFailuresPerName}\` |`,
    `| \`POST /register\` per source IP | ${per(limits.registrations)} | \`${RATE_LIMIT_VARIABLES.registrations}\` |`,
    `| main-socket \`$connect\` attempts per source IP (refused ones too; the upgrade is answered 429) | ${per(limits.connects)} | \`${RATE_LIMIT_VARIABLES.connects}\` |`,
    '',
    'Failed logins are usernames compared by their key (`Alice` and `alice ` are one name), and a wrong',
    '`current_password` at `PUT /register` counts as one.',
    'A login (made without a session) also counts as a request of its source IP. Main-socket frames have a',
    'budget too (`docs/protocol.md`). API Gateway\'s stage throttling comes on top.',
  ];
}

/**
 * docs/api.md: every route the server really serves (read from the app itself, so the document cannot
 * drift; `test/rest-surface.test.ts` fails when it differs), marked where upstream's OpenAPI lacks it.
 */
export function renderApiDoc(app: Pick<Hono, 'routes'>, upstream: Set<string>): string {
  const rows = servedRoutes(app).map(({ method, path }) => {
    const documented = upstream.has(routeKey(method, path)) ? 'yes' : 'no';
    return `| ${method} | \`${path}\` | ${documented} |`;
  });
  return [
    '# REST routes',
    '',
    'Generated from the REST app by `npm run docs:api`; `npm test` fails when this file and the code differ.',
    'Arguments, texts and status codes follow upstream ZavodChat (`../shared/spec/zavodchat-rest.openapi.yaml`,',
    'as corrected by docs/upstream.md, "REST conventions"); `docs/protocol.md` lists our decisions and the events of each route.',
    'Paths also match with a trailing or doubled slash. Every route answers `OPTIONS` (CORS).',
    '',
    'Preferences exist upstream (docs/upstream.md, "REST conventions") but are missing from its OpenAPI file.',
    '',
    '## Where we differ from upstream (docs/security.md)',
    '',
    '- `DELETE /auth` (our extension): logout. Ends the caller\'s session, answers `200 Logged out` with a',
    '  `Set-Cookie` that clears `zavodchat_token`, and closes the main-socket connections opened with that session.',
    '- `PUT /register`: changing `username` or `password` needs `current_password` (a form field, never in the',
    '  URL): missing 400, wrong 403 `Wrong current password`. A new password ends every other session of the',
    '  user and closes their sockets; the session that changed it stays.',
    '- `GET /users` and `GET`/`POST` message listings (`/channels/{cid}/messages`, `messages_search`) evaluate at',
    '  most `MAX_SCAN_ITEMS` (1000) items per request. When that budget ends before the page is full, the body is',
    '  the (possibly empty) array found so far and the header `X-Next-Start-Id` is the `start_id` to go on with;',
    '  without the header the listing is complete (or the page full, as upstream).',
    '- Usernames are unique by a normalised key (case, width, spaces, look-alike letters); names with invisible,',
    '  control or bidi characters or mixing scripts are refused (400), as are display names with controls.',
    '',
    'The support desk\'s routes (`/desk/*`, seed 004) are ours: OpenID Connect bearer tokens instead of sessions,',
    'their own texts and budgets; `docs/desk.md` and `docs/desk.openapi.yaml` document each.',
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
