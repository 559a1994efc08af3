import type { Context, MiddlewareHandler } from 'hono';
import { matchedRoutes } from 'hono/route';

/**
 * What a route costs and whether it looks at the caller, declared once on the route itself
 * (`app.post(path, policy({ budget: 'messages' }), handler)`) and read by the pipeline's middleware
 * (docs/pipeline.md). A route without a declaration has the default.
 */
export interface RoutePolicy {
  /**
   * The rate budget a request is counted against (docs/api.md, "Rate limits"): `rest` per user (per source
   * address without a valid session), `messages` per user (message writes; a caller without a session
   * counts as `rest`), `register` per source address, `none` not counted.
   */
  budget: 'rest' | 'messages' | 'register' | 'none';
  /** Whether the pipeline reads the caller's session (false: the route never needs the caller). */
  session: boolean;
}

const DEFAULT_POLICY: RoutePolicy = { budget: 'rest', session: true };
const POLICY = Symbol('route policy');

type Declared = MiddlewareHandler & { [POLICY]: RoutePolicy };

/** Declares a route's policy: a middleware that does nothing but carry it. */
export function policy(declared: Partial<RoutePolicy>): MiddlewareHandler {
  const middleware = (async (_c, next) => next()) as Declared;
  middleware[POLICY] = { ...DEFAULT_POLICY, ...declared };
  return middleware;
}

/** The policy of the route this request matched (the default for unmatched paths, answered 404). */
export function policyOf(c: Context): RoutePolicy {
  for (const { handler } of matchedRoutes(c)) {
    const declared = (handler as Partial<Declared>)[POLICY];
    if (declared) return declared;
  }
  return DEFAULT_POLICY;
}
