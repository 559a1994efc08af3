import { log } from '../domain/log';
import { disconnectWorkspace } from '../protocols/workspace/session';
import type { WebSocketEvent, WebSocketResult } from '../socket/types';
import { context } from './context';

/** `$disconnect` of the workspace socket (best effort on API Gateway: the heartbeat's 410 and TTL cover the rest). */
export async function handler(event: WebSocketEvent): Promise<WebSocketResult> {
  try {
    await disconnectWorkspace(context(), event.requestContext.connectionId);
    return { statusCode: 200 };
  } catch (error) {
    log().error('workspace-socket $disconnect', error);
    return { statusCode: 500 };
  }
}
