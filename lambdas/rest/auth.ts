import type { Context, MiddlewareHandler } from 'hono';
import { DomainError, TEXT } from '../domain/errors';
import { appendLogFields } from '../domain/log';
import { extractToken, readSession, type SessionRef } from '../domain/sessions';
import { appContext } from '../runtime';
import { policyOf } from './route-policy';

/**
 * Who is calling, established once per request before the rate limit and the route run:
 * `anonymous` presented no token; `refused` presented one that names no live session (the error a route
 * that needs the caller answers with); `user` holds the session read for this request.
 */
export type Caller =
  | { kind: 'anonymous' }
  | { kind: 'refused'; error: DomainError }
  /** `token` stays in memory for the routes that end sessions; it is never logged. */
  | { kind: 'user'; userId: number; session: SessionRef; token: string };

/** The REST app's typed context variables. */
export interface RestEnv {
  Variables: { caller: Caller };
}

async function callerOf(c: Context): Promise<Caller> {
  const token = extractToken({ cookie: c.req.header('cookie'), authorization: c.req.header('authorization') });
  if (token === undefined) return { kind: 'anonymous' };
  try {
    const session = await readSession(appContext().db, token);
    return { kind: 'user', userId: session.userId, session, token };
  } catch (error) {
    // Unknown, expired or malformed: counted by address, refused by any route that needs the caller.
    if (error instanceof DomainError) return { kind: 'refused', error };
    throw error;
  }
}

/**
 * Reads the caller's session once per request (one GetItem), for the rate limit and the route alike; a
 * route declared `session: false` (no caller needed) costs no read. A table failure fails the request
 * (503), as the route's own read would have.
 */
export function authenticateRequest(): MiddlewareHandler<RestEnv> {
  return async (c, next) => {
    if (policyOf(c).session) {
      const caller = await callerOf(c);
      c.set('caller', caller);
      if (caller.kind === 'user') appendLogFields({ userId: caller.userId });
    }
    await next();
  };
}

function callerIn(c: Context<RestEnv>): Caller {
  const caller = c.get('caller');
  // A route that reads the caller must not be declared `session: false`: a bug, not the client's fault.
  if (!caller) throw new Error(`${c.req.method} ${c.req.path} reads the caller but is declared without a session`);
  return caller;
}

/** The caller's session (400 `Invalid token` without a usable token, 401 `Expired or invalid token`). */
export function requireSession(c: Context<RestEnv>): Extract<Caller, { kind: 'user' }> {
  const caller = callerIn(c);
  if (caller.kind === 'user') return caller;
  if (caller.kind === 'refused') throw caller.error;
  throw new DomainError('malformed-credentials', TEXT.invalidToken);
}

/** The caller's user id, when the request presented a live session; undefined when it presented none. */
export function callerId(c: Context<RestEnv>): number | undefined {
  const caller = callerIn(c);
  if (caller.kind === 'refused') throw caller.error;
  return caller.kind === 'user' ? caller.userId : undefined;
}

/** The caller's user id for the rate limit: undefined for anonymous and refused callers (counted by address). */
export function rateSubjectUser(c: Context<RestEnv>): number | undefined {
  const caller = c.get('caller');
  return caller?.kind === 'user' ? caller.userId : undefined;
}
