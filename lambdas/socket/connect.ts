import { claimSlot, releaseSlot, type SlotClaim, slotPartitions } from '../domain/connection-caps';
import { DomainError, TEXT } from '../domain/errors';
import { ensureMediaNodeRunning } from '../domain/media-node-lifecycle';
import { judgeOrigin } from '../domain/origins';
import { closeConnection, openConnection, parseStatus } from '../domain/presence';
import { connectAttemptAllowed } from '../domain/rate-counters';
import { extractToken, readSession } from '../domain/sessions';
import { isStoreUnavailable } from '../domain/store-errors';
import { STORE_UNAVAILABLE, upgradeStatus } from '../http-errors';
import { appendLogFields, log } from '../domain/log';
import { type AppContext, appContext } from '../runtime';
import { header, logScoped, type WebSocketEvent, type WebSocketResult } from './types';

export const TOO_MANY_CONNECTIONS = 'Too many connections';

/** Claims the per-user and per-address slots (connection-caps.ts); undefined when either cap is reached. */
async function claimSlots(context: AppContext, userId: number, sourceIp: string | undefined, connectionId: string): Promise<SlotClaim[] | undefined> {
  const { db, settings, sender } = context;
  const probe = { exists: (id: string) => sender.exists(id), drop: (id: string) => closeConnection(context, id) };
  const wanted: Array<[string, number]> = [[slotPartitions.user(userId), settings.connectionCaps.perUser]];
  if (sourceIp) wanted.push([slotPartitions.address(sourceIp), settings.connectionCaps.perAddress]);
  const claims: SlotClaim[] = [];
  for (const [pk, capacity] of wanted) {
    if (capacity <= 0) continue;
    const claim = await claimSlot(db, pk, capacity, connectionId, probe);
    if (!claim) {
      await Promise.all(claims.map((held) => releaseSlot(db, held, connectionId)));
      return undefined;
    }
    claims.push(claim);
  }
  return claims;
}

async function releaseSlots(context: AppContext, claims: SlotClaim[] | undefined, connectionId: string): Promise<void> {
  await Promise.all((claims ?? []).map((claim) => releaseSlot(context.db, claim, connectionId))).catch(() => undefined);
}

/**
 * `$connect` of the main socket. A non-2xx answer makes API Gateway refuse the upgrade with that status:
 * 403 for a page of an origin that is not allowed (docs/security.md, "Socket origins"), 401 for any credential
 * problem, 400 for a bad `?status=` (docs/upstream.md, decision 13), 429 over the connect budget of the source
 * address or a connection cap, 503 while the table is unreachable; any other refusal its own status (docs/pipeline.md).
 */
export const handler = logScoped(async function connect(event: WebSocketEvent): Promise<WebSocketResult> {
  const context = appContext();
  // Cross-site WebSocket hijacking: a page of another origin would open the socket with the victim's cookie.
  // No Origin at all is no browser (native apps, our Node clients): its credentials are its own.
  if (judgeOrigin({ origin: header(event, 'origin') }, context.settings.corsOrigins) === 'foreign') return { statusCode: 403, body: TEXT.originNotAllowed };
  const query = event.queryStringParameters ?? {};
  const connectionId = event.requestContext.connectionId;
  const sourceIp = event.requestContext.identity?.sourceIp || undefined;
  const token = extractToken({
    cookie: header(event, 'cookie'),
    authorization: header(event, 'authorization'),
    queryToken: query.token,
  });
  let status: number | undefined;
  if (query.status !== undefined) {
    status = parseStatus(query.status);
    if (status === undefined) return { statusCode: 400, body: 'Invalid status' };
  }
  let claims: SlotClaim[] | undefined;
  try {
    // Before anything else: every attempt counts, refused ones too, so a flood costs one UpdateItem each.
    if (!(await connectAttemptAllowed(context.db, context.settings.rateLimits.connects, sourceIp && `ip:${sourceIp}`))) {
      return { statusCode: 429, body: TEXT.tooManyRequests };
    }
    const session = await readSession(context.db, token);
    appendLogFields({ userId: session.userId });
    claims = await claimSlots(context, session.userId, sourceIp, connectionId);
    if (!claims) return { statusCode: 429, body: TOO_MANY_CONNECTIONS };
    const connection = { userId: session.userId, connectionId, sessionExpiresAt: session.expiresAt };
    const connectedAt = context.clock.now();
    await openConnection(context, connection, status, connectedAt, { session: session.ref, sourceIp });
    // A logout or password change that ended this session while we registered the connection may have
    // looked for its connections before this one was stored: read the session again (strongly) now that it is.
    try {
      await readSession(context.db, token, { consistent: true });
    } catch (error) {
      if (!(error instanceof DomainError)) throw error;
      await closeConnection(context, connectionId);
      return { statusCode: upgradeStatus(error), body: error.text };
    }
    // Its own user_changed and the mark that it is open follow once this answer has let it open.
    await context.afterConnect.schedule({ userId: session.userId, connectionId, connectedAt }).catch((error) => log().error('main-socket $connect: after-connect', error));
    // A member online may talk soon: start the on-demand media node (never throws, never refuses the socket).
    await ensureMediaNodeRunning(context, context.clock.now());
    return { statusCode: 200 };
  } catch (error) {
    // A refusal keeps its own status: 401 for credentials only (http-errors.ts), not for every refusal.
    if (error instanceof DomainError) {
      await releaseSlots(context, claims, connectionId);
      return { statusCode: upgradeStatus(error), body: error.text };
    }
    log().error('main-socket $connect', error);
    // Whatever was already written (the connection item) is what a lost $disconnect leaves: an event posted
    // to this connection once it is older than any $connect answers 410 and prunes it. The slots are freed now.
    await releaseSlots(context, claims, connectionId);
    if (isStoreUnavailable(error)) return { statusCode: STORE_UNAVAILABLE.status, body: STORE_UNAVAILABLE.text };
    return { statusCode: 500, body: TEXT.internalError };
  }
});
