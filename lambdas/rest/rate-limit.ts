import { createHash } from 'node:crypto';
import type { Context, MiddlewareHandler } from 'hono';
import type { RateLimit } from '../domain/config';
import { TEXT } from '../domain/errors';
import { countRequest, uncountRequest } from '../domain/rate-counters';
import type { RateBucket, Verdict } from '../domain/rate-limits';
import { appContext } from '../runtime';
import { rateSubjectUser, type RestEnv } from './auth';
import { policyOf } from './route-policy';

/** 429 with the seconds until the caller's window ends. */
export function tooManyRequests(c: Context, verdict: Verdict): Response {
  return c.text(TEXT.tooManyRequests, 429, { 'Retry-After': String(verdict.retryAfterSeconds) });
}

/** The client's address as API Gateway HTTP API (and the local runtime) reports it. */
export function sourceIp(c: Context): string | undefined {
  const env = c.env as { requestContext?: { http?: { sourceIp?: string } } } | undefined;
  return env?.requestContext?.http?.sourceIp || undefined;
}

/**
 * Per-caller budgets of every REST request (docs/api.md, "Rate limits"). A refused request gets 429 and
 * `Retry-After` before any route code runs. Each route declares its budget (route-policy.ts): message writes
 * count against their own budget only, registrations against a per-address one, `GET /params` (which reads
 * no table, so counting would cost more than answering) against none; login failures are counted by the
 * `/auth` route itself. The caller is the one `authenticateRequest` read for this request. A failing counter
 * fails the request like any other table call (503 while the table is unreachable): every other route needs
 * the table too, and failing here spares it a second wait.
 */
export function rateLimit(): MiddlewareHandler<RestEnv> {
  return async (c, next) => {
    const { db, settings } = appContext();
    const limits = settings.rateLimits;
    const { budget } = policyOf(c);
    let counter: { bucket: RateBucket; subject: string; limit: RateLimit } | undefined;
    if (budget === 'register') {
      const ip = sourceIp(c);
      if (limits.registrations && ip) counter = { bucket: 'register', subject: `ip:${ip}`, limit: limits.registrations };
    } else if (budget !== 'none') {
      const userId = rateSubjectUser(c);
      const ip = sourceIp(c);
      if (budget === 'messages' && limits.messages && userId !== undefined) {
        counter = { bucket: 'messages', subject: `user:${userId}`, limit: limits.messages };
      } else if (limits.rest && userId !== undefined) {
        counter = { bucket: 'rest', subject: `user:${userId}`, limit: limits.rest };
      } else if (limits.rest && ip) {
        counter = { bucket: 'rest', subject: `ip:${ip}`, limit: limits.rest };
      }
    }
    if (counter) {
      const verdict = await countRequest(db, counter.bucket, counter.subject, counter.limit);
      if (!verdict.allowed) return tooManyRequests(c, verdict);
    }
    await next();
  };
}

/** Usernames can be long and arbitrary; the counter's key only needs to tell them apart. */
function usernameSubject(username: string): string {
  return `name:${createHash('sha256').update(username).digest('base64url').slice(0, 32)}`;
}

/**
 * Counts a login attempt for `username` (its uniqueness key: `Alice` and `alice ` share it) from `ip`
 * before the password is checked; `succeeded` takes a right attempt back, so only failures add up.
 * Failures count per username and source address: a guesser elsewhere cannot lock the owner out, only
 * his own address (RATE_LIMIT_LOGIN). Across all sources a username has a larger budget
 * (RATE_LIMIT_LOGIN_NAME) against guessing from many addresses; beyond it a source that already failed
 * in this window is refused, while one without a failure (the owner, typically) still gets its attempt.
 */
export async function countLoginAttempt(username: string, ip: string | undefined): Promise<{ refused?: Verdict; succeeded(): Promise<void> }> {
  const { db, settings } = appContext();
  const { loginFailures: perSource, loginFailuresPerName: perName } = settings.rateLimits;
  const name = usernameSubject(username);
  const counted: Array<{ subject: string; verdict: Verdict }> = [];
  const succeeded = async () => {
    await Promise.all(counted.map(({ subject, verdict }) => uncountRequest(db, 'login', subject, verdict)));
  };
  let sourceFailures = 0;
  if (perSource) {
    const subject = ip ? `${name}|ip:${ip}` : name;
    const verdict = await countRequest(db, 'login', subject, perSource);
    counted.push({ subject, verdict });
    if (!verdict.allowed) return { refused: verdict, succeeded };
    sourceFailures = verdict.count - 1;
  }
  if (perName && ip) {
    const verdict = await countRequest(db, 'login', name, perName);
    counted.push({ subject: name, verdict });
    if (!verdict.allowed && (sourceFailures > 0 || !perSource)) return { refused: verdict, succeeded };
  }
  return { succeeded };
}
