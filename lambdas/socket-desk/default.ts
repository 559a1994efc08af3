import { log } from '../domain/log';
import { handleDeskFrame } from '../protocols/desk/session';
import { appContext } from '../runtime';
import { logScoped, type WebSocketEvent, type WebSocketResult } from '../socket/types';

/** `$default` of the desk socket: seed 004 defines no client frames, so each is answered with an `error` event. */
export const handler = logScoped(async function deskDefault(event: WebSocketEvent): Promise<WebSocketResult> {
  try {
    await handleDeskFrame(appContext(), event.requestContext.connectionId, event.body);
  } catch (error) {
    log().error('desk-socket $default', error);
  }
  return { statusCode: 200 };
});
