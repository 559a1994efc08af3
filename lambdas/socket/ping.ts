import type { WebSocketResult } from './types';

/** `ping`: the client's keepalive. Reaching the handler already reset API Gateway's idle timer. */
export async function handler(): Promise<WebSocketResult> {
  return { statusCode: 200 };
}
