import { closeConnection } from '../domain/presence';
import { log } from '../domain/log';
import { appContext } from '../runtime';
import { logScoped, type WebSocketEvent, type WebSocketResult } from './types';

/** `$disconnect` (best effort on API Gateway: 410 prunes and TTL cover the rest). */
export const handler = logScoped(async function disconnect(event: WebSocketEvent): Promise<WebSocketResult> {
  try {
    await closeConnection(appContext(), event.requestContext.connectionId);
    return { statusCode: 200 };
  } catch (error) {
    log().error('main-socket $disconnect', error);
    return { statusCode: 500 };
  }
});
