import { closeConnection } from '../domain/presence';
import { appContext, logError } from '../runtime';
import type { WebSocketEvent, WebSocketResult } from './types';

/** `$disconnect` (best effort on API Gateway: 410 prunes and TTL cover the rest). */
export async function handler(event: WebSocketEvent): Promise<WebSocketResult> {
  try {
    await closeConnection(appContext(), event.requestContext.connectionId);
    return { statusCode: 200 };
  } catch (error) {
    logError('main-socket $disconnect', error);
    return { statusCode: 500 };
  }
}
