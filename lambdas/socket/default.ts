import { log } from '../domain/log';
import { zavodchat } from '../protocols/zavodchat';
import { appContext } from '../runtime';
import { admitFrame } from './frame-limit';
import { logScoped, type WebSocketEvent, type WebSocketResult } from './types';

export { describeBadInput } from '../protocols/zavodchat/inbound';

/**
 * `$default`: the frame, decoded by the main socket's protocol adapter, within the frame budget. Every
 * command the main socket takes has its own route (`ping`), so what lands here is refused with an `error` event.
 */
export const handler = logScoped(async function defaultRoute(event: WebSocketEvent): Promise<WebSocketResult> {
  if (!(await admitFrame(event.requestContext.connectionId))) return { statusCode: 200 };
  const command = zavodchat.decode!(event.body ?? '');
  if (command.type !== 'invalid') return { statusCode: 200 };
  const context = appContext();
  try {
    await context.sender.post(event.requestContext.connectionId, zavodchat.errorFrame!(command.reason));
  } catch (error) {
    log().error('main-socket $default', error);
  }
  return { statusCode: 200 };
});
