import type { InboundCommand } from '../../domain/commands';

/*
 * Main-socket frames from clients: `{"name", "data"}` JSON text. Free of domain and AWS imports, so the
 * `ping` handler that uses it keeps the cold start of an almost empty module.
 */

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

/** A client frame to a command: `ping` is the only one the main socket takes; anything else is refused. */
export function decode(frame: string | null | undefined): InboundCommand {
  try {
    const parsed = JSON.parse(frame ?? '') as { name?: unknown } | null;
    if (parsed !== null && typeof parsed === 'object' && !Array.isArray(parsed) && parsed.name === 'ping') return { type: 'ping' };
  } catch {
    // Described below.
  }
  return { type: 'invalid', reason: describeBadInput(frame) };
}

/** The main socket's only answer to client input: an `error` event with a plain string, like the voice socket's. */
export function errorFrame(text: string): string {
  return JSON.stringify({ name: 'error', data: text });
}
