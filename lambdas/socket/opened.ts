import type { OpenedConnection } from '../domain/ports';
import { confirmConnectionOpen } from '../domain/presence';
import { log, withLogFields } from '../domain/log';
import { appContext } from '../runtime';

/**
 * Invoked asynchronously by `$connect` (not a route of the socket API): tells the new connection its own
 * status once the gateway accepts posts to it, and marks it open (docs/data-model.md, "Connections and presence").
 */
export async function handler(event: OpenedConnection): Promise<{ reached: boolean }> {
  const { userId, connectionId, connectedAt } = event;
  if (!Number.isSafeInteger(userId) || typeof connectionId !== 'string' || !Number.isFinite(connectedAt)) {
    log().error('connection opened', new Error('malformed event'));
    return { reached: false };
  }
  try {
    return { reached: await withLogFields({ userId, connectionId }, () => confirmConnectionOpen(appContext(), { userId, connectionId }, connectedAt)) };
  } catch (error) {
    log().error('connection opened', error, { userId, connectionId });
    return { reached: false };
  }
}
