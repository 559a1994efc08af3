import { log } from '../domain/log';
import { isStoreUnavailable } from '../domain/store-errors';
import { STORE_UNAVAILABLE } from '../http-errors';
import { connectDesk } from '../protocols/desk/session';
import { appContext } from '../runtime';
import { header, logScoped, type WebSocketEvent, type WebSocketResult } from '../socket/types';

/** `$connect` of the desk socket (seed 004, `/connect/?token=<OIDC access token>`; docs/desk.md, "Socket"). */
export const handler = logScoped(async function deskConnect(event: WebSocketEvent): Promise<WebSocketResult> {
  try {
    return await connectDesk(appContext(), {
      connectionId: event.requestContext.connectionId,
      query: event.queryStringParameters,
      authorization: header(event, 'authorization'),
      sourceIp: event.requestContext.identity?.sourceIp || undefined,
    });
  } catch (error) {
    log().error('desk-socket $connect', error);
    if (isStoreUnavailable(error)) return { statusCode: STORE_UNAVAILABLE.status, body: STORE_UNAVAILABLE.text };
    return { statusCode: 500, body: 'Internal server error' };
  }
});
