import { log } from '../domain/log';
import { disconnectDesk } from '../protocols/desk/session';
import { appContext } from '../runtime';
import { logScoped, type WebSocketEvent, type WebSocketResult } from '../socket/types';

/** `$disconnect` of the desk socket (best effort on API Gateway: a 410 and the TTL cover the rest). */
export const handler = logScoped(async function deskDisconnect(event: WebSocketEvent): Promise<WebSocketResult> {
  try {
    await disconnectDesk(appContext(), event.requestContext.connectionId);
    return { statusCode: 200 };
  } catch (error) {
    log().error('desk-socket $disconnect', error);
    return { statusCode: 500 };
  }
});
