import { randomUUID } from 'node:crypto';
import { DeleteCommand, GetCommand, PutCommand } from '@aws-sdk/lib-dynamodb';
import { type Db, queryIndexPrefix } from './db';
import { badRequest, TEXT, unauthorized } from './errors';
import { GSI1, keys, TTL_ATTRIBUTE } from './table';
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

/** The session token from the cookie, then `Authorization: Bearer`, then `?token=` (PROTOCOL.md Part A). */
export function extractToken(sources: CredentialSources): string | undefined {
  const fromCookie = readCookie(sources.cookie, SESSION_COOKIE);
  if (fromCookie) return fromCookie;
  const bearer = /^Bearer\s+(\S+)\s*$/i.exec(sources.authorization ?? '');
  if (bearer) return bearer[1];
  return sources.queryToken || undefined;
}

/**
 * Resolves a token to its user id. Missing or malformed -> 400 `Invalid token`; unknown or expired ->
 * 401 `Expired or invalid token` (the sockets turn both into a 401 on the upgrade).
 */
export async function authenticate(db: Db, token: string | undefined, now = Date.now()): Promise<number> {
  if (!token || !isUuid(token)) throw badRequest(TEXT.invalidToken);
  const { Item: item } = await db.doc.send(new GetCommand({ TableName: db.table, Key: keys.session(token) }));
  if (!item || Number(item.expiresAt) <= now) throw unauthorized(TEXT.expiredToken);
  return Number(item.userId);
}

/** Creates a session; drops the sessions that expire first when the user would exceed the limit. */
export async function createSession(
  db: Db,
  userId: number,
  settings: { sessionLifetimeSeconds: number; sessionsPerUser: number },
  now = Date.now(),
): Promise<string> {
  const existing = (await queryIndexPrefix(db, keys.sessionsOfUserIndex(userId)))
    .filter((s) => Number(s.expiresAt) > now)
    .sort((a, b) => Number(a.expiresAt) - Number(b.expiresAt));
  const excess = existing.length - (settings.sessionsPerUser - 1);
  await Promise.all(
    existing
      .slice(0, Math.max(0, excess))
      .map((s) => db.doc.send(new DeleteCommand({ TableName: db.table, Key: { pk: s.pk, sk: s.sk } }))),
  );
  const token = randomUUID();
  const expiresAt = now + settings.sessionLifetimeSeconds * 1000;
  await db.doc.send(
    new PutCommand({
      TableName: db.table,
      Item: {
        ...keys.session(token),
        [GSI1.partition]: keys.sessionsOfUserIndex(userId),
        [GSI1.sort]: String(expiresAt).padStart(15, '0'),
        userId,
        expiresAt,
        [TTL_ATTRIBUTE]: epochSeconds(expiresAt),
      },
    }),
  );
  return token;
}
