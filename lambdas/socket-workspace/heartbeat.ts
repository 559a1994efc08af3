import { log } from '../domain/log';
import { workspaceHeartbeat } from '../protocols/workspace/session';
import { context } from './context';

/**
 * Scheduled every minute on AWS (the local runtime runs it every WORKSPACE_PING_INTERVAL_MS): the Engine.IO
 * pings that keep workspace connections open without a machine running all the time.
 */
export async function handler(): Promise<{ pinged: number; closed: number }> {
  try {
    return await workspaceHeartbeat(context());
  } catch (error) {
    log().error('workspace heartbeat', error);
    return { pinged: 0, closed: 0 };
  }
}
