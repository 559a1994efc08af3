import { admitFrame } from './frame-limit';
import type { WebSocketEvent, WebSocketResult } from './types';

/**
 * `ping`: the client's keepalive. Reaching the handler already reset API Gateway's idle timer; it only
 * counts against the connection's frame budget (free of DynamoDB requests at the client's pace).
 */
export async function handler(event: WebSocketEvent): Promise<WebSocketResult> {
  await admitFrame(event.requestContext.connectionId);
  return { statusCode: 200 };
}
