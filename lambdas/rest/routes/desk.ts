import type { Context, Hono, MiddlewareHandler } from 'hono';
import { badRequest, notFound } from '../../domain/errors';
import { FILE_NAME } from '../../domain/files';
import { IssuerUnavailable, TokenRefused, verifierFor } from '../../domain/desk/oidc';
import { LIMITS } from '../../domain/desk/rules';
import * as desk from '../../domain/desk/service';
import { type DeskPrincipal, DESK_TEXT } from '../../domain/desk/service';
import { type DeskPage, ensureUser, type Paged } from '../../domain/desk/store';
import { chatView, messageView, readMarkerView, topicView, userView } from '../../domain/desk/views';
import { countRequest } from '../../domain/rate-counters';
import { log } from '../../domain/log';
import { appContext } from '../../runtime';
import type { RestEnv } from '../auth';
import { policy } from '../route-policy';
import { serveFile } from './files';
import { jsonObject, NEXT_START_HEADER, parseInteger, readArgs, readJson, textArg } from '../http';
import { sourceIp, tooManyRequests } from '../rate-limit';

/**
 * The support desk's REST routes (issue 17; docs/desk.md, docs/desk.openapi.yaml). Every route needs an
 * OpenID Connect access token as `Authorization: Bearer` (401 otherwise); the caller's desk user is made on
 * first sight. Rate limits: every desk request counts against the caller's REST budget (RATE_LIMIT_REST),
 * message writes against his message budget (RATE_LIMIT_MESSAGES), both keyed by desk user; requests
 * without a valid token against their source address's REST budget.
 */

export const DESK_AUTH_TEXT = {
  missing: 'Missing bearer token',
  invalid: 'Invalid or expired token',
  notConfigured: 'The support desk is not configured',
  issuerUnavailable: 'Identity provider unavailable',
} as const;

const principals = new WeakMap<Request, DeskPrincipal>();

function principalOf(c: Context): DeskPrincipal {
  return principals.get(c.req.raw)!;
}

const MESSAGE_WRITE = [/^POST \/desk\/chats\/[^/]+\/messages$/, /^PUT \/desk\/chats\/[^/]+\/messages\/[^/]+$/];

function unauthorized(c: Context, text: string) {
  return c.text(text, 401, { 'WWW-Authenticate': text === DESK_AUTH_TEXT.missing ? 'Bearer' : 'Bearer error="invalid_token"' });
}

/** Verifies the bearer token, finds or creates the desk user, and counts the request. */
function deskAuth(): MiddlewareHandler {
  return async (c, next) => {
    const context = appContext();
    const { db, settings } = context;
    const limits = settings.rateLimits;
    const oidc = settings.desk;
    // Without an issuer the desk is not offered at all (404, like any unserved path), not broken (5xx).
    if (!oidc) return c.text(DESK_AUTH_TEXT.notConfigured, 404);
    const header = c.req.header('authorization') ?? '';
    const match = /^Bearer\s+(\S+)\s*$/i.exec(header);
    let principal: DeskPrincipal | undefined;
    let refusal: string | undefined;
    if (!match) refusal = DESK_AUTH_TEXT.missing;
    else {
      try {
        const identity = await verifierFor(oidc).verify(match[1]);
        principal = { identity, user: await ensureUser(db, identity) };
      } catch (error) {
        if (error instanceof TokenRefused) refusal = DESK_AUTH_TEXT.invalid;
        else if (error instanceof IssuerUnavailable) {
          log().error('desk sign-in', error);
          return c.text(DESK_AUTH_TEXT.issuerUnavailable, 503, { 'Retry-After': '5' });
        } else throw error;
      }
    }
    const route = `${c.req.method} ${c.req.path}`;
    const ip = sourceIp(c);
    let counter: { bucket: 'rest' | 'messages'; subject: string; limit: NonNullable<typeof limits.rest> } | undefined;
    if (principal && limits.messages && MESSAGE_WRITE.some((pattern) => pattern.test(route))) {
      counter = { bucket: 'messages', subject: `desk:${principal.user.id}`, limit: limits.messages };
    } else if (principal && limits.rest) counter = { bucket: 'rest', subject: `desk:${principal.user.id}`, limit: limits.rest };
    else if (!principal && limits.rest && ip) counter = { bucket: 'rest', subject: `ip:${ip}`, limit: limits.rest };
    if (counter) {
      const verdict = await countRequest(db, counter.bucket, counter.subject, counter.limit);
      if (!verdict.allowed) return tooManyRequests(c, verdict);
    }
    if (!principal) return unauthorized(c, refusal!);
    principals.set(c.req.raw, principal);
    await next();
  };
}

const ID = /^[1-9]\d{0,14}$/;

/** A path id (ids are strings of digits on the wire); anything else reads as the missing thing. */
function pathId(c: Context, name: string, missing: string): number {
  const raw = c.req.param(name) ?? '';
  if (!ID.test(raw)) throw notFound(missing);
  return Number(raw);
}

/** An id in a JSON body: a string of digits (as the desk sends ids) or a number. */
function bodyId(body: Record<string, unknown>, key: string): number {
  const raw = body[key];
  const text = typeof raw === 'number' ? String(raw) : raw;
  if (typeof text !== 'string' || !ID.test(text)) throw badRequest(`Couldn't parse '${key}', got: ${raw === undefined ? 'nothing' : JSON.stringify(raw)}`);
  return Number(text);
}

/** `count` (1..50, default 50), `order` (0 newest first, the default; 1 oldest first), `start_id` (inclusive; optional). */
function readDeskPage(c: Context): DeskPage {
  const query = c.req.query();
  const count = query.count === undefined ? LIMITS.page : parseInteger(query.count, 'count');
  if (count < 1 || count > LIMITS.page) throw badRequest(`count must be 1 to ${LIMITS.page}, got: ${count}`);
  const order = query.order === undefined ? 0 : parseInteger(query.order, 'order');
  if (order !== 0 && order !== 1) throw badRequest(`order must be 0 or 1, got: ${order}`);
  const startId = query.start_id === undefined ? undefined : parseInteger(query.start_id, 'start_id');
  if (startId !== undefined && (startId < 0 || startId > 9_999_999_999)) throw badRequest(`start_id is out of range: ${startId}`);
  return { count, order, ...(startId !== undefined ? { startId } : {}) };
}

/** A page as a JSON array, with `X-Next-Start-Id` when there is more. */
function pageResponse<T, V>(c: Context, page: Paged<T>, view: (item: T) => V): Response {
  if (page.nextStartId !== undefined) {
    c.header(NEXT_START_HEADER, String(page.nextStartId));
    c.header('Access-Control-Expose-Headers', NEXT_START_HEADER);
  }
  return c.json(page.items.map(view));
}

async function body(c: Context): Promise<Record<string, unknown>> {
  return jsonObject(await readJson(c));
}

export function deskRoutes(app: Hono<RestEnv>): void {
  // Desk callers are OIDC tokens, not ZavodChat sessions: no session read, and the desk counts its own
  // budgets by desk user (deskAuth), so the pipeline's budget does not apply.
  app.use('/desk/*', policy({ budget: 'none', session: false }), deskAuth());

  app.get('/desk/me', (c) => c.json(userView(principalOf(c).user)));

  // ---- topics ----
  app.get('/desk/topics', async (c) => c.json((await desk.listTopics(appContext())).map(topicView)));
  app.post('/desk/topics', async (c) => c.json(topicView(await desk.createTopic(appContext(), principalOf(c), (await body(c)).name))));
  app.put('/desk/topics/:tid', async (c) =>
    c.json(topicView(await desk.renameTopic(appContext(), principalOf(c), pathId(c, 'tid', DESK_TEXT.topicNotFound), (await body(c)).name))),
  );
  app.get('/desk/topics/:tid/curators', async (c) =>
    c.json((await desk.topicCurators(appContext(), principalOf(c), pathId(c, 'tid', DESK_TEXT.topicNotFound))).map(userView)),
  );
  app.put('/desk/topics/:tid/curators/:uid', async (c) => {
    await desk.grantTopic(appContext(), principalOf(c), pathId(c, 'tid', DESK_TEXT.topicNotFound), pathId(c, 'uid', DESK_TEXT.userNotFound));
    return c.text('Granted');
  });
  app.delete('/desk/topics/:tid/curators/:uid', async (c) => {
    await desk.revokeTopic(appContext(), principalOf(c), pathId(c, 'tid', DESK_TEXT.topicNotFound), pathId(c, 'uid', DESK_TEXT.userNotFound));
    return c.text('Revoked');
  });
  app.get('/desk/topics/:tid/chats', async (c) =>
    pageResponse(c, await desk.topicChats(appContext(), principalOf(c), pathId(c, 'tid', DESK_TEXT.topicNotFound), readDeskPage(c)), chatView),
  );
  app.get('/desk/curators', async (c) => c.json((await desk.listCurators(appContext(), principalOf(c))).map(userView)));
  app.get('/desk/my_topics', async (c) => c.json((await desk.myTopics(appContext(), principalOf(c))).map(topicView)));

  // ---- chats ----
  app.get('/desk/chats', async (c) => pageResponse(c, await desk.customerChats(appContext(), principalOf(c), readDeskPage(c)), chatView));
  app.post('/desk/chats', async (c) => {
    const fields = await body(c);
    const orderId = fields.order_id;
    if (orderId !== undefined && typeof orderId !== 'string') throw badRequest(`Couldn't parse 'order_id', got: ${JSON.stringify(orderId)}`);
    const chat = await desk.openChat(appContext(), principalOf(c), { chatType: desk.parseChatType(fields.chat_type), topicId: bodyId(fields, 'topic_id'), orderId });
    return c.json(chatView(chat));
  });
  app.get('/desk/chats/:cid', async (c) => {
    const { chat } = await desk.accessChat(appContext(), principalOf(c), pathId(c, 'cid', DESK_TEXT.chatNotFound));
    return c.json(chatView(chat));
  });
  app.put('/desk/chats/:cid/status', async (c) => {
    const status = desk.parseStatus((await body(c)).status);
    return c.json(chatView(await desk.changeStatus(appContext(), principalOf(c), pathId(c, 'cid', DESK_TEXT.chatNotFound), status)));
  });
  app.put('/desk/chats/:cid/curator', async (c) => {
    const curatorId = bodyId(await body(c), 'curator_id');
    return c.json(chatView(await desk.assignCurator(appContext(), principalOf(c), pathId(c, 'cid', DESK_TEXT.chatNotFound), curatorId)));
  });

  // ---- messages ----
  app.get('/desk/chats/:cid/messages', async (c) =>
    pageResponse(c, await desk.listMessages(appContext(), principalOf(c), pathId(c, 'cid', DESK_TEXT.chatNotFound), readDeskPage(c)), messageView),
  );
  app.post('/desk/chats/:cid/messages', async (c) => {
    const chatId = pathId(c, 'cid', DESK_TEXT.chatNotFound);
    const type = c.req.header('content-type') ?? '';
    let content: { messageType: ReturnType<typeof desk.parseMessageType>; text: unknown; file?: desk.UploadedFile };
    if (type.startsWith('multipart/form-data')) {
      // A file message: `file`, optional `text` (a caption) and `ext` (else the file name's extension).
      const args = await readArgs(c);
      const file = args.file;
      if (file !== undefined && !(file instanceof File)) throw badRequest("Couldn't parse 'file': expected a file");
      const extension = textArg(args, 'ext') ?? (file?.name.includes('.') ? file.name.split('.').pop()! : '');
      content = {
        messageType: desk.parseMessageType(textArg(args, 'message_type') ?? 'file'),
        text: textArg(args, 'text'),
        ...(file ? { file: { bytes: new Uint8Array(await file.arrayBuffer()), extension } } : {}),
      };
    } else {
      const fields = await body(c);
      content = { messageType: desk.parseMessageType(fields.message_type), text: fields.text };
    }
    return c.json(messageView(await desk.postMessage(appContext(), principalOf(c), chatId, content)));
  });
  app.put('/desk/chats/:cid/messages/:mid', async (c) => {
    const text = (await body(c)).text;
    const edited = await desk.editMessage(appContext(), principalOf(c), pathId(c, 'cid', DESK_TEXT.chatNotFound), pathId(c, 'mid', DESK_TEXT.messageNotFound), text);
    return c.json(messageView(edited));
  });
  app.delete('/desk/chats/:cid/messages/:mid', async (c) => {
    await desk.deleteMessage(appContext(), principalOf(c), pathId(c, 'cid', DESK_TEXT.chatNotFound), pathId(c, 'mid', DESK_TEXT.messageNotFound));
    return c.text('Deleted');
  });
  app.get('/desk/chats/:cid/files/:f', async (c) => {
    const name = c.req.param('f') ?? '';
    if (!FILE_NAME.test(name)) throw notFound(DESK_TEXT.fileNotFound);
    const key = await desk.fileOfChat(appContext(), principalOf(c), pathId(c, 'cid', DESK_TEXT.chatNotFound), name);
    return serveFile(c, key, DESK_TEXT.fileNotFound);
  });

  // ---- read markers ----
  app.put('/desk/chats/:cid/read', async (c) => {
    const lastMessageId = bodyId(await body(c), 'last_message_id');
    return c.json(readMarkerView(await desk.markRead(appContext(), principalOf(c), pathId(c, 'cid', DESK_TEXT.chatNotFound), lastMessageId)));
  });
  app.get('/desk/chats/:cid/read', async (c) =>
    c.json((await desk.readMarkers(appContext(), principalOf(c), pathId(c, 'cid', DESK_TEXT.chatNotFound))).map(readMarkerView)),
  );
}
