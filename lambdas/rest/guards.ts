import type { Context, MiddlewareHandler } from 'hono';
import { TEXT } from '../domain/errors';
import { MAX_FILE_BYTES } from '../domain/files';
import { judgeOrigin } from '../domain/origins';
import { appContext } from '../runtime';
import { normalizePath } from './http';

/** Methods that change nothing: never refused for their origin (a top-level link or an image may use them). */
const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);

/**
 * CSRF defence (docs/security.md, "CSRF"): a state-changing request that names an origin (`Origin`, or lacking
 * it `Referer`) must name an allowed one. A form on another site, or a page of ours on another port, is refused
 * before any route runs; callers that name no origin (native apps, scripts, our tests) are no browser page.
 */
export function originCheck(): MiddlewareHandler {
  return async (c, next) => {
    if (!SAFE_METHODS.has(c.req.method)) {
      const verdict = judgeOrigin({ origin: c.req.header('origin'), referer: c.req.header('referer') }, appContext().settings.corsOrigins);
      if (verdict === 'foreign') return c.text(TEXT.originNotAllowed, 403);
    }
    await next();
  };
}

/** Multipart routes that take a file (avatars, emojis, uploads): a 4 MB file plus room for the form around it. */
export const UPLOAD_BODY_BYTES = MAX_FILE_BYTES + 64 * 1024;
const UPLOAD_ROUTES: Array<[method: string, path: RegExp]> = [
  ['POST', /^\/files\/upload$/],
  ['PUT', /^\/register$/],
  ['POST', /^\/servers$/],
  ['PUT', /^\/servers\/[^/]+$/],
  ['POST', /^\/servers\/[^/]+\/emojis$/],
  ['PUT', /^\/servers\/[^/]+\/emojis\/[^/]+$/],
  ['POST', /^\/desk\/chats\/[^/]+\/messages$/],
];

export function bodyLimitFor(method: string, path: string, defaultLimit: number): number {
  return UPLOAD_ROUTES.some(([m, pattern]) => m === method && pattern.test(path)) ? UPLOAD_BODY_BYTES : defaultLimit;
}

/**
 * The body's size without reading it: from the Lambda event (API Gateway has already buffered it, base64 or
 * not), else from Content-Length. Undefined when neither says.
 */
function bodyBytes(c: Context): number | undefined {
  const event = (c.env as { event?: { body?: string | null; isBase64Encoded?: boolean } } | undefined)?.event;
  if (event) return event.body ? Buffer.byteLength(event.body, event.isBase64Encoded ? 'base64' : 'utf8') : 0;
  const declared = c.req.header('content-length');
  return declared !== undefined && /^\d{1,15}$/.test(declared) ? Number(declared) : undefined;
}

/**
 * Refuses an oversized body with 413 before anything parses it (docs/security.md, "Request bodies"): parsing a
 * 10 MB nested JSON or a 900,000-field form blocks the event loop for seconds. Uploads keep their own limit.
 */
export function bodyLimit(): MiddlewareHandler {
  return async (c, next) => {
    const size = bodyBytes(c);
    const limit = bodyLimitFor(c.req.method, normalizePath(new URL(c.req.url).pathname), appContext().settings.maxRequestBodyBytes);
    if (size !== undefined && size > limit) return c.text(`Request body is larger than ${limit} bytes`, 413);
    await next();
  };
}
