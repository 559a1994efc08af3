import { errorEvent } from '../domain/events';
import { log } from '../domain/log';
import { appContext } from '../runtime';
import { admitFrame } from './frame-limit';
import { logScoped, type WebSocketEvent, type WebSocketResult } from './types';

/** What the main socket says about input it does not handle; the connection stays open. */
export function describeBadInput(body: string | null | undefined): string {
  let frame: unknown;
  try {
    frame = JSON.parse(body ?? '');
  } catch {
    return 'invalid JSON data';
  }
  if (typeof frame !== 'object' || frame === null || Array.isArray(frame)) return 'invalid event: expected {"name", "data"}';
  const name = (frame as { name?: unknown }).name;
  if (typeof name !== 'string') return 'invalid event: "name" should be a string';
  return `unknown event '${name.length > 64 ? `${name.slice(0, 64)}...` : name}'`;
}

/** `$default`: anything that is not a known route gets an `error` event back, within the frame budget. */
export const handler = logScoped(async function defaultRoute(event: WebSocketEvent): Promise<WebSocketResult> {
  if (!(await admitFrame(event.requestContext.connectionId))) return { statusCode: 200 };
  const context = appContext();
  try {
    await context.sender.post(event.requestContext.connectionId, JSON.stringify(errorEvent(describeBadInput(event.body))));
  } catch (error) {
    log().error('main-socket $default', error);
  }
  return { statusCode: 200 };
});
