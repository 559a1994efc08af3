import type { RateLimit } from '../../domain/config';
import { log } from '../../domain/log';
import { countRequest } from '../../domain/rate-counters';
import { FrameGate, frameLimitText } from '../../domain/rate-limits';
import type { WorkspaceContext } from './context';
import { eventPacket } from './engineio';

/** The main socket's frame budget (RATE_LIMIT_SOCKET, RATE_LIMIT_SOCKET_FREE), per workspace connection. */
export interface WorkspaceFrameLimit {
  limit?: RateLimit;
  freeFrames: number;
}

/** One per handler instance, as the main socket's (lambdas/socket/frame-limit.ts). */
const gate = new FrameGate();

/**
 * Whether a workspace-socket frame (any Engine.IO packet, pongs included) may be handled, with the main
 * socket's rules (docs/protocol.md, "Rate limits"): over the budget it is ignored, the window's first refusal
 * answers `socket-api-error {event, message}`, twice the budget closes the connection. The counter is the
 * main socket's table counter under a subject of its own. A failing counter lets the frame through.
 */
export async function admitWorkspaceFrame(context: WorkspaceContext, connectionId: string, eventName: string | undefined): Promise<boolean> {
  const { limit, freeFrames } = context.frameLimit;
  let decision;
  try {
    decision = await gate.admit(connectionId, limit, freeFrames, (amount) => countRequest(context.db, 'socket', `workspace#${connectionId}`, limit!, { amount }));
  } catch (error) {
    log().error('workspace-socket frame limit', error, { connectionId });
    return true;
  }
  if (decision === 'handle') return true;
  try {
    if (decision === 'refuse') await context.sender.post(connectionId, eventPacket('socket-api-error', { event: eventName ?? '', message: frameLimitText(limit!) }));
    if (decision === 'close') await context.sender.close(connectionId);
  } catch (error) {
    log().error('workspace-socket frame limit', error, { connectionId });
  }
  return false;
}
