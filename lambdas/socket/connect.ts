import { HttpError } from '../domain/errors';
import { ensureMediaNodeRunning } from '../domain/media-node-lifecycle';
import { judgeOrigin } from '../domain/origins';
import { openConnection, parseStatus } from '../domain/presence';
import { authenticate, extractToken } from '../domain/sessions';
import { isStoreUnavailable, STORE_UNAVAILABLE } from '../domain/store-errors';
import { appContext, logError } from '../runtime';
import { header, type WebSocketEvent, type WebSocketResult } from './types';

/**
 * `$connect` of the main socket. A non-2xx answer makes API Gateway refuse the upgrade with that status:
 * 403 for a page of an origin that is not allowed (docs/security.md, "Socket origins"), 401 for any credential
 * problem, 400 for a bad `?status=` (PROTOCOL.md Part A item 13), 503 while the table is unreachable.
 */
export async function handler(event: WebSocketEvent): Promise<WebSocketResult> {
  const context = appContext();
  // Cross-site WebSocket hijacking: a page of another origin would open the socket with the victim's cookie.
  // No Origin at all is no browser (native apps, our Node clients): its credentials are its own.
  if (judgeOrigin({ origin: header(event, 'origin') }, context.settings.corsOrigins) === 'foreign') return { statusCode: 403, body: 'Origin not allowed' };
  const query = event.queryStringParameters ?? {};
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
  try {
    const userId = await authenticate(context.db, token);
    const connection = { userId, connectionId: event.requestContext.connectionId };
    const connectedAt = Date.now();
    await openConnection(context, connection, status, connectedAt);
    // Its own user_changed and the mark that it is open follow once this answer has let it open.
    await context.afterConnect.schedule({ ...connection, connectedAt }).catch((error) => logError('main-socket $connect: after-connect', error));
    // A member online may talk soon: start the on-demand media node (never throws, never refuses the socket).
    await ensureMediaNodeRunning(context);
    return { statusCode: 200 };
  } catch (error) {
    if (error instanceof HttpError) return { statusCode: 401, body: error.text };
    logError('main-socket $connect', error);
    // Whatever was already written (the connection item) is what a lost $disconnect leaves: an event posted
    // to this connection once it is older than any $connect answers 410 and prunes it.
    if (isStoreUnavailable(error)) return { statusCode: STORE_UNAVAILABLE.status, body: STORE_UNAVAILABLE.text };
    return { statusCode: 500, body: 'Internal server error' };
  }
}
