import { createHash, randomUUID } from 'node:crypto';
import { type Db, keyOf, queryIndexPrefix } from './db';
import { DomainError, TEXT, unauthorized } from './errors';
import { build } from './items';
import { keys } from './table';
import { epochSeconds } from './time';

export const SESSION_COOKIE = 'zavodchat_token';
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export function isUuid(value: string): boolean {
  return UUID.test(value);
}

/** Reads one cookie from a Cookie header (or several, as API Gateway HTTP API passes them). */
export function readCookie(cookieHeaders: string | string[] | undefined, name: string): string | undefined {
  const headers = Array.isArray(cookieHeaders) ? cookieHeaders : cookieHeaders ? [cookieHeaders] : [];
  for (const header of headers) {
    for (const part of header.split(';')) {
      const eq = part.indexOf('=');
      if (eq < 0) continue;
      if (part.slice(0, eq).trim() !== name) continue;
      const value = part.slice(eq + 1).trim();
      try {
        return decodeURIComponent(value);
      } catch {
        // Malformed %-encoding: the raw text, which then fails validation like any other bad token.
        return value;
      }
    }
  }
  return undefined;
}

export interface CredentialSources {
  cookie?: string | string[];
  authorization?: string;
  queryToken?: string;
}

/** The session token from the cookie, then `Authorization: Bearer`, then `?token=` (docs/upstream.md). */
export function extractToken(sources: CredentialSources): string | undefined {
  const fromCookie = readCookie(sources.cookie, SESSION_COOKIE);
  if (fromCookie) return fromCookie;
  const bearer = /^Bearer\s+(\S+)\s*$/i.exec(sources.authorization ?? '');
  if (bearer) return bearer[1];
  return sources.queryToken || undefined;
}

/** A session as a connection remembers it: which one (never the token itself) and when it expires. */
export interface SessionRef {
  userId: number;
  /** A one-way digest of the token: connection items name their session by it. */
  ref: string;
  expiresAt: number;
}

/** Names a session without holding its secret: connection items and logs may carry this, never the token. */
export function sessionRefOf(token: string): string {
  return createHash('sha256').update(token).digest('base64url').slice(0, 22);
}

/**
 * Resolves a token to its session. Missing or malformed -> 400 `Invalid token`; unknown or expired ->
 * 401 `Expired or invalid token` (the sockets turn both into a 401 on the upgrade). `consistent` reads
 * past a revocation that has just happened (the socket's `$connect` re-check).
 */
export async function readSession(db: Db, token: string | undefined, options: { now?: number; consistent?: boolean } = {}): Promise<SessionRef> {
  if (!token || !isUuid(token)) throw new DomainError('malformed-credentials', TEXT.invalidToken);
  const now = options.now ?? Date.now();
  const item = await db.get(keys.session(token), { consistent: options.consistent });
  if (!item || Number(item.expiresAt) <= now) throw unauthorized(TEXT.expiredToken);
  return { userId: Number(item.userId), ref: sessionRefOf(token), expiresAt: Number(item.expiresAt) };
}

/** Resolves a token to its user id (see readSession). */
export async function authenticate(db: Db, token: string | undefined, now = Date.now()): Promise<number> {
  return (await readSession(db, token, { now })).userId;
}

const tokenOfItem = keys.sessionToken;

/** Creates a session; drops the sessions that expire first when the user would exceed the limit. */
export async function createSession(
  db: Db,
  userId: number,
  settings: { sessionLifetimeSeconds: number; sessionsPerUser: number },
  now = Date.now(),
): Promise<string> {
  return (await createSessionEvicting(db, userId, settings, now)).token;
}

/**
 * createSession, also naming the sessions it evicted (SESSIONS_PER_USER), so the caller can close
 * their sockets at once.
 */
export async function createSessionEvicting(
  db: Db,
  userId: number,
  settings: { sessionLifetimeSeconds: number; sessionsPerUser: number },
  now = Date.now(),
): Promise<{ token: string; evicted: string[] }> {
  const existing = (await queryIndexPrefix(db, keys.sessionsOfUserIndex(userId)))
    .filter((s) => Number(s.expiresAt) > now)
    .sort((a, b) => Number(a.expiresAt) - Number(b.expiresAt));
  const excess = existing.length - (settings.sessionsPerUser - 1);
  const evicted = existing.slice(0, Math.max(0, excess));
  await Promise.all(evicted.map((s) => db.delete(keyOf(s))));
  const token = randomUUID();
  const expiresAt = now + settings.sessionLifetimeSeconds * 1000;
  await db.put(build.session(token, userId, expiresAt, epochSeconds(expiresAt)));
  return { token, evicted: evicted.map((s) => sessionRefOf(tokenOfItem(s))) };
}

/**
 * Ends sessions of a user: the given tokens, or every one but `except`. Returns the refs of the sessions
 * ended, so their connections can be closed (closeSessionConnections).
 */
export async function endSessions(db: Db, userId: number, which: { tokens: string[] } | { except: string }): Promise<string[]> {
  let tokens: string[];
  if ('tokens' in which) {
    tokens = which.tokens;
  } else {
    const all = (await queryIndexPrefix(db, keys.sessionsOfUserIndex(userId))).map(tokenOfItem);
    tokens = all.filter((token) => token !== which.except);
  }
  await Promise.all(tokens.map((token) => db.delete(keys.session(token))));
  return tokens.map(sessionRefOf);
}
