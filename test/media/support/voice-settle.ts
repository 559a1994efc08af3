import { PresenceQueue } from '../../../media-node/presence-queue';

/**
 * For TestSystem.settleAlso in tests of voice in the whole system: the media node announces voice events
 * from its presence queue (media-node/presence-queue.ts), asynchronously to whatever caused them (a REST
 * call, a voice socket), so the gateway knows nothing of them. From now on every queue that gets a call is
 * remembered; the returned function waits until all have settled (`flush`: every call made so far, each of
 * which awaits its publish, so its posts are written before it settles).
 */
export function presenceQueuesSettled(): () => Promise<void> {
  const queues = new Set<PresenceQueue>();
  const prototype = PresenceQueue.prototype as unknown as Record<'joined' | 'left' | 'changed' | 'speaking', (...args: unknown[]) => void>;
  for (const method of ['joined', 'left', 'changed', 'speaking'] as const) {
    const original = prototype[method];
    prototype[method] = function (this: PresenceQueue, ...args: unknown[]) {
      queues.add(this);
      return original.apply(this, args);
    };
  }
  return async () => {
    await Promise.all([...queues].map((queue) => queue.flush()));
  };
}
