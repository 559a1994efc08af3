import { type Context, Hono, type MiddlewareHandler } from 'hono';
import { cors } from 'hono/cors';
import { DomainError, TEXT } from '../domain/errors';
import { judgeOrigin } from '../domain/origins';
import { isStoreUnavailable } from '../domain/store-errors';
import { log, withLogFields } from '../domain/log';
import { appContext } from '../runtime';
import { restStatus, STORE_UNAVAILABLE } from '../http-errors';
import { authenticateRequest, type RestEnv } from './auth';
import { bodyLimit, originCheck } from './guards';
import { normalizePath } from './http';
import { rateLimit } from './rate-limit';
import { accountRoutes } from './routes/account';
import { banRoutes } from './routes/bans';
import { channelRoutes } from './routes/channels';
import { deskRoutes } from './routes/desk';
import { emojiRoutes } from './routes/emojis';
import { fileRoutes } from './routes/files';
import { inviteRoutes } from './routes/invites';
import { memberRoutes } from './routes/members';
import { messageRoutes } from './routes/messages';
import { preferenceRoutes } from './routes/preferences';
import { roleRoutes } from './routes/roles';
import { serverRoutes } from './routes/servers';
import { socialRoutes } from './routes/social';
import { voiceRoutes } from './routes/voice';

const ALLOWED_HEADERS = ['Origin', 'Content-Type', 'X-Auth-Token', 'X-Requested-With', 'Accept', 'Username', 'Password', 'DisplayName', 'Authorization'];

/**
 * CORS with credentials for the allowed web-client origins (upstream `add_cors`; docs/security.md), by
 * `hono/cors`. Two parts stay ours: which origins are allowed is `judgeOrigin` (the `CORS_ORIGINS` list the
 * origin check and both sockets share, with origins normalised as browsers send them), and a preflight is
 * answered 200 as upstream does (hono answers 204). hono sends `Access-Control-Allow-Credentials` to every
 * origin; without a matching `Access-Control-Allow-Origin` a browser ignores it.
 */
function corsForAllowedOrigins(): MiddlewareHandler {
  const handle = cors({
    origin: (origin) => (origin && judgeOrigin({ origin }, appContext().settings.corsOrigins) === 'allowed' ? origin : null),
    allowMethods: ['GET', 'POST', 'PUT', 'DELETE', 'OPTIONS'],
    allowHeaders: ALLOWED_HEADERS,
    maxAge: 600,
    credentials: true,
  });
  return async (c, next) => {
    const answer = await handle(c, next);
    return answer instanceof Response && answer.status === 204 ? new Response(null, { status: 200, headers: answer.headers }) : answer;
  };
}

/** API Gateway's request id (the local runtime makes one up the same way). */
function requestIdOf(c: Context): string | undefined {
  return (c.env as { requestContext?: { requestId?: string } } | undefined)?.requestContext?.requestId;
}

/** The REST API: one Hono app, run by the Lambda adapter on AWS and by the local runtime. */
export function createApp(): Hono<RestEnv> {
  const app = new Hono<RestEnv>({ getPath: (request) => normalizePath(new URL(request.url).pathname) });

  // Every record logged while this request is served names it (the path without its query: `?token=`).
  app.use('*', (c, next) => withLogFields({ requestId: requestIdOf(c), method: c.req.method, path: c.req.path }, next));
  app.use('*', corsForAllowedOrigins());
  // Before the rate limit: a refused cross-site request or oversized body costs the victim none of his budget.
  app.use('*', originCheck());
  app.use('*', bodyLimit());
  // One session read per request, for the rate limit and the route (auth.ts).
  app.use('*', authenticateRequest());
  app.use('*', rateLimit());
  accountRoutes(app);
  serverRoutes(app);
  inviteRoutes(app);
  channelRoutes(app);
  messageRoutes(app);
  roleRoutes(app);
  memberRoutes(app);
  banRoutes(app);
  socialRoutes(app);
  preferenceRoutes(app);
  emojiRoutes(app);
  fileRoutes(app);
  voiceRoutes(app);
  deskRoutes(app);

  app.notFound((c) => c.text('Not found', 404));
  app.onError((error, c) => {
    if (error instanceof DomainError) return c.text(error.text, restStatus(error));
    log().error('REST request failed', error);
    // The table is unreachable: a temporary condition the client should retry, not a bug in its request.
    if (isStoreUnavailable(error)) {
      return c.text(STORE_UNAVAILABLE.text, STORE_UNAVAILABLE.status, { 'Retry-After': String(STORE_UNAVAILABLE.retryAfterSeconds) });
    }
    return c.text(TEXT.internalError, 500);
  });
  return app;
}
