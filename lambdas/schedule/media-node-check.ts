import { checkMediaNode } from '../domain/media-node-lifecycle';
import { appContext } from '../runtime';

/**
 * The media node's scheduled check (EventBridge, every minute): completes starts and stops, and stops the
 * node after the idle time with nobody online and nobody in voice (lambdas/domain/media-node-lifecycle.ts).
 * A failure is thrown so that it shows in the function's Errors metric; the next minute tries again.
 */
export async function handler(): Promise<{ outcome: string }> {
  const context = appContext();
  if (!context.mediaNode) throw new Error('MEDIA_INSTANCE_ID is not set: nothing to check');
  return { outcome: await checkMediaNode(context, context.clock.now()) };
}
