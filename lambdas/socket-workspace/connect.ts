import { log } from '../domain/log';
import { isStoreUnavailable } from '../domain/store-errors';
import { STORE_UNAVAILABLE } from '../http-errors';
import { connectWorkspace } from '../protocols/workspace/session';
import type { WebSocketEvent, WebSocketResult } from '../socket/types';
import { context } from './context';

/**
 * `$connect` of the workspace socket (socket.io, seed 003): only the Engine.IO handshake is checked here
 * (`EIO=4`, `transport=websocket`, else 400); credentials come later in the `auth` event, so no cookie or
 * origin matters (docs/protocol.md, the workspace protocol).
 */
export async function handler(event: WebSocketEvent): Promise<WebSocketResult> {
  try {
    return await connectWorkspace(context(), event.requestContext.connectionId, event.queryStringParameters);
  } catch (error) {
    log().error('workspace-socket $connect', error);
    if (isStoreUnavailable(error)) return { statusCode: STORE_UNAVAILABLE.status, body: STORE_UNAVAILABLE.text };
    return { statusCode: 500, body: 'Internal server error' };
  }
}
