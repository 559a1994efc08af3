import { log } from '../domain/log';
import type { WorkspaceOpened } from '../protocols/workspace/context';
import { deliverOpenPacket } from '../protocols/workspace/session';
import { context } from './context';

/** Invoked asynchronously by `$connect` (WORKSPACE_OPENED_FUNCTION on AWS): sends the Engine.IO open packet. */
export async function handler(event: WorkspaceOpened): Promise<{ reached: boolean }> {
  const { connectionId, connectedAt, sid } = event;
  if (typeof connectionId !== 'string' || !Number.isFinite(connectedAt) || (sid !== undefined && typeof sid !== 'string')) {
    log().error('workspace open packet', new Error('malformed event'));
    return { reached: false };
  }
  try {
    return { reached: await deliverOpenPacket(context(), { connectionId, connectedAt, sid }) };
  } catch (error) {
    log().error('workspace open packet', error);
    return { reached: false };
  }
}
