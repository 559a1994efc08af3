import { Hono } from 'hono';
import { HttpError } from '../domain/errors';
import { judgeOrigin } from '../domain/origins';
import { isStoreUnavailable, STORE_UNAVAILABLE } from '../domain/store-errors';
import { appContext, logError } from '../runtime';
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

const ALLOWED_HEADERS = 'Origin, Content-Type, X-Auth-Token, X-Requested-With, Accept, Username, Password, DisplayName, Authorization';

/** The REST API: one Hono app, run by the Lambda adapter on AWS and by the local runtime. */
export function createApp(): Hono {
  const app = new Hono({ getPath: (request) => normalizePath(new URL(request.url).pathname) });

  // CORS with credentials for the allowed web-client origins (upstream `add_cors`; docs/security.md).
  app.use('*', async (c, next) => {
    const origin = c.req.header('origin');
    const allowed = origin !== undefined && judgeOrigin({ origin }, appContext().settings.corsOrigins) === 'allowed';
    if (c.req.method === 'OPTIONS') {
      const headers: Record<string, string> = {
        'Access-Control-Allow-Methods': 'GET, POST, PUT, DELETE, OPTIONS',
        'Access-Control-Allow-Headers': ALLOWED_HEADERS,
        'Access-Control-Max-Age': '600',
      };
      if (allowed) {
        headers['Access-Control-Allow-Origin'] = origin;
        headers['Access-Control-Allow-Credentials'] = 'true';
        headers.Vary = 'Origin';
      }
      return c.body(null, 200, headers);
    }
    await next();
    if (allowed) {
      c.res.headers.set('Access-Control-Allow-Origin', origin);
      c.res.headers.set('Access-Control-Allow-Credentials', 'true');
      c.res.headers.append('Vary', 'Origin');
    }
  });

  // Before the rate limit: a refused cross-site request or oversized body costs the victim none of his budget.
  app.use('*', originCheck());
  app.use('*', bodyLimit());
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
    if (error instanceof HttpError) return c.text(error.text, error.status as 400);
    logError(`REST ${c.req.method} ${normalizePath(new URL(c.req.url).pathname)}`, error);
    // The table is unreachable: a temporary condition the client should retry, not a bug in its request.
    if (isStoreUnavailable(error)) {
      return c.text(STORE_UNAVAILABLE.text, STORE_UNAVAILABLE.status, { 'Retry-After': String(STORE_UNAVAILABLE.retryAfterSeconds) });
    }
    return c.text('Internal server error', 500);
  });
  return app;
}
