import type { Context } from 'hono';
import { badRequest, DomainError, forbidden, TEXT } from '../domain/errors';
import { parseExpiry } from '../domain/time';
import type { Page } from '../domain/users';
import { callerId, requireSession, type RestEnv } from './auth';

export type Args = Record<string, string | File>;

/**
 * "args" as upstream reads them: the query string or urlencoded/multipart form fields (files included),
 * the form winning when both carry a key.
 */
export async function readArgs(c: Context): Promise<Args> {
  const args: Args = { ...c.req.query() };
  const type = c.req.header('content-type') ?? '';
  if (type.startsWith('multipart/form-data') || type.startsWith('application/x-www-form-urlencoded')) {
    let form: Record<string, string | File | (string | File)[]>;
    try {
      form = await c.req.parseBody();
    } catch {
      throw badRequest("Couldn't parse form data");
    }
    for (const [key, value] of Object.entries(form)) args[key] = Array.isArray(value) ? value[0] : value;
  }
  return args;
}

const JSON_TYPE = /^application\/([a-z0-9.+-]+\+)?json\s*(;|$)/i;

/**
 * A JSON body. Unlike upstream, a body under any other Content-Type is refused (415): an HTML form can send
 * `text/plain` or urlencoded bodies to another site without a preflight, but never `application/json`
 * (docs/security.md, "CSRF"). No body at all is simply no JSON (400), whatever the type.
 */
export async function readJson(c: Context): Promise<unknown> {
  const text = await c.req.text();
  if (text.length > 0 && !JSON_TYPE.test(c.req.header('content-type') ?? '')) throw new DomainError('unsupported-media-type', 'Expected a JSON body (Content-Type: application/json)');
  try {
    return JSON.parse(text);
  } catch {
    throw badRequest("Couldn't parse JSON body");
  }
}

export function jsonObject(body: unknown): Record<string, unknown> {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) throw badRequest(TEXT.expectedJsonObject);
  return body as Record<string, unknown>;
}

export function stringField(body: Record<string, unknown>, key: string): string;
export function stringField(body: Record<string, unknown>, key: string, optional: true): string | undefined;
export function stringField(body: Record<string, unknown>, key: string, optional = false): string | undefined {
  const value = body[key];
  if (value === undefined && optional) return undefined;
  if (typeof value !== 'string') throw badRequest(`Couldn't parse '${key}', got: ${value === undefined ? 'nothing' : JSON.stringify(value)}`);
  return value;
}

export function integerField(body: Record<string, unknown>, key: string): number;
export function integerField(body: Record<string, unknown>, key: string, optional: true): number | undefined;
export function integerField(body: Record<string, unknown>, key: string, optional = false): number | undefined {
  const value = body[key];
  if (value === undefined && optional) return undefined;
  if (!Number.isSafeInteger(value)) throw badRequest(`Couldn't parse '${key}', got: ${value === undefined ? 'nothing' : JSON.stringify(value)}`);
  return value as number;
}

export function integerArrayField(body: Record<string, unknown>, key: string): number[] | undefined {
  const value = body[key];
  if (value === undefined) return undefined;
  if (!Array.isArray(value) || !value.every((v) => Number.isSafeInteger(v))) {
    throw badRequest(`Couldn't parse '${key}': expected an array of integers`);
  }
  return [...new Set(value as number[])];
}

/** The required `expires` arg: an ISO or PostgreSQL-style timestamp with its zone, or `never`. */
export function readExpiry(args: Args): string {
  const raw = textArg(args, 'expires');
  const expires = raw === undefined ? null : parseExpiry(raw);
  if (expires === null) throw badRequest(`Couldn't parse 'expires', got: ${raw ?? 'nothing'}`);
  return expires;
}

/** A file arg (multipart field); undefined when absent. */
export function fileArg(args: Args, key: string): File | undefined {
  const value = args[key];
  if (value === undefined) return undefined;
  if (!(value instanceof File)) throw badRequest(`Couldn't parse '${key}': expected a file`);
  return value;
}

/** A text arg (not a file); undefined when absent. */
export function textArg(args: Args, key: string): string | undefined {
  const value = args[key];
  if (value === undefined) return undefined;
  if (typeof value !== 'string') throw badRequest(`Couldn't parse '${key}': expected text`);
  return value;
}

const INTEGER = /^-?\d{1,15}$/;

export function parseInteger(raw: string | undefined, name: string): number {
  if (raw === undefined || !INTEGER.test(raw)) throw badRequest(`Couldn't parse '${name}', got: ${raw ?? 'nothing'}`);
  return Number(raw);
}

export function pathInt(c: Context, name: string): number {
  return parseInteger(c.req.param(name), name);
}

const MAX_INT32 = 2147483647;

/** `start_id`, `count` (<= max_get_count) and `order` (0 = descending, the default; 1 = ascending). */
export function readPage(args: Args, maxCount: number): Page {
  const startId = parseInteger(textArg(args, 'start_id'), 'start_id');
  const count = parseInteger(textArg(args, 'count'), 'count');
  const rawOrder = textArg(args, 'order');
  const order = rawOrder === undefined ? 0 : parseInteger(rawOrder, 'order');
  if (startId < 0 || startId > MAX_INT32) throw forbidden(`start_id is invalid: ${startId} is out of range`);
  if (count < 0 || count > maxCount) throw forbidden(`count is invalid: ${count} is above ${maxCount}`);
  if (order !== 0 && order !== 1) throw forbidden(`order is invalid: ${order} is not 0 or 1`);
  return { startId, count, order };
}

/** The caller's user id (400 `Invalid token` / 401 `Expired or invalid token` otherwise), read once per request (auth.ts). */
export async function requireUser(c: Context<RestEnv>): Promise<number> {
  return requireSession(c).userId;
}

/** The caller's user id when a session is presented, undefined for anonymous calls. */
export async function optionalUser(c: Context<RestEnv>): Promise<number | undefined> {
  return callerId(c);
}

/** Names the response header of a page cut short by the scan budget (see `continuePage`). */
export const NEXT_START_HEADER = 'X-Next-Start-Id';

/**
 * A filtered page that hit the scan budget (`MAX_SCAN_ITEMS`) before it was full: the body stays upstream's
 * array, and `X-Next-Start-Id` is the `start_id` of the request that goes on where this one stopped
 * (readable by the web client through CORS).
 */
export function continuePage<T>(c: Context, page: { items: T[]; nextStartId?: number }): Response {
  if (page.nextStartId !== undefined) {
    c.header(NEXT_START_HEADER, String(page.nextStartId));
    c.header('Access-Control-Expose-Headers', NEXT_START_HEADER);
  }
  return c.json(page.items);
}

/** Collapses doubled slashes and drops a trailing one: the web client sends `//user_status` and `servers/`. */
export function normalizePath(path: string): string {
  const collapsed = path.replace(/\/{2,}/g, '/');
  return collapsed.length > 1 && collapsed.endsWith('/') ? collapsed.slice(0, -1) : collapsed;
}
