import type { InboundCommand } from '../../domain/commands';
import type { DeskEvent } from '../../domain/desk/events';
import { deskEventData } from '../../domain/desk/views';

/*
 * The desk socket's frames (seed 004, docs/desk.md "Socket"): `{"event_type", "data"}` JSON text, `data`
 * exactly the seed's fields (lambdas/domain/desk/views.ts). Free of table and AWS imports.
 */

/** The `data` of a desk event. */
export function deskData(event: DeskEvent): unknown {
  switch (event.name) {
    case 'user_status':
      return deskEventData.user_status(event.user, event.status);
    case 'new_chat':
      return deskEventData.new_chat(event.chat);
    case 'new_message':
    case 'update_message':
      return deskEventData[event.name](event.message);
    case 'delete_message':
      return deskEventData.delete_message(event.message);
    case 'assign_curator':
      return deskEventData.assign_curator(event.chat, event.curatorId);
    case 'update_chat_status':
      return deskEventData.update_chat_status(event.chat);
    case 'read_chat_message':
      return deskEventData.read_chat_message(event.marker);
  }
}

export function renderDeskFrame(event: DeskEvent): string {
  return JSON.stringify({ event_type: event.name, data: deskData(event) });
}

/** What the desk socket says about client input: seed 004 defines no client frames, so every frame is refused this way. */
export function deskErrorFrame(text: string): string {
  return JSON.stringify({ event_type: 'error', data: { message: text } });
}

/** The answer to a keepalive: API Gateway closes a connection idle for 10 minutes, and seed 004's clients only listen. */
export const DESK_PONG = JSON.stringify({ event_type: 'pong', data: {} });

/**
 * A client frame to a command. Seed 004 has no client -> server frames: `{"event_type": "ping"}` is our
 * keepalive; any other `{"event_type"}` is told its event is unknown, anything else how it is malformed. The
 * connection stays open (docs/desk.md).
 */
export function decodeDeskFrame(frame: string | null | undefined): InboundCommand {
  let parsed: unknown;
  try {
    parsed = JSON.parse(frame ?? '');
  } catch {
    return { type: 'invalid', reason: 'invalid JSON data' };
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) return { type: 'invalid', reason: 'invalid event: expected {"event_type", "data"}' };
  const name = (parsed as { event_type?: unknown }).event_type;
  if (typeof name !== 'string') return { type: 'invalid', reason: 'invalid event: "event_type" should be a string' };
  if (name === 'ping') return { type: 'ping' };
  return { type: 'invalid', reason: `unknown event '${name.length > 64 ? `${name.slice(0, 64)}...` : name}': the desk socket takes no events from clients` };
}
