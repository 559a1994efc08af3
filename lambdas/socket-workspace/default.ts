import { log } from '../domain/log';
import { handleWorkspaceFrame } from '../protocols/workspace/session';
import type { WebSocketEvent, WebSocketResult } from '../socket/types';
import { context } from './context';

/** `$default` of the workspace socket: every socket.io frame lands here (none is a JSON object with a route name). */
export async function handler(event: WebSocketEvent): Promise<WebSocketResult> {
  try {
    await handleWorkspaceFrame(context(), event.requestContext.connectionId, event.body);
  } catch (error) {
    log().error('workspace-socket $default', error);
  }
  return { statusCode: 200 };
}
