import type { SQSBatchResponse, SQSEvent } from 'aws-lambda';
import { log, withLogFields } from '../domain/log';
import type { PendingOffline } from '../domain/ports';
import { goOfflineIfStillAway } from '../domain/presence';
import { appContext } from '../runtime';

/** A message of the offline-grace queue (lambdas/aws/sqs-offline-grace.ts), or undefined when malformed. */
export function parsePendingOffline(body: string): PendingOffline | undefined {
  try {
    const { userId, epoch } = JSON.parse(body) as Partial<PendingOffline>;
    return Number.isSafeInteger(userId) && Number.isSafeInteger(epoch) ? { userId: userId!, epoch: epoch! } : undefined;
  } catch {
    return undefined;
  }
}

/**
 * The end of the offline grace on AWS (SQS, DelaySeconds = the grace): each message names a user whose last
 * connection went; he goes offline and is announced so unless he connected since (docs/data-model.md,
 * "Connections and presence"). A failed check is reported back (partial batch response) and retried by SQS;
 * it is idempotent. A malformed message is logged and dropped: retrying cannot fix it.
 */
export async function handler(event: SQSEvent): Promise<SQSBatchResponse> {
  const failures: SQSBatchResponse['batchItemFailures'] = [];
  await Promise.all(
    event.Records.map(async (record) => {
      const pending = parsePendingOffline(record.body);
      if (!pending) return log().error('offline grace', new Error('malformed message'), { messageId: record.messageId });
      try {
        await withLogFields({ userId: pending.userId }, () => goOfflineIfStillAway(appContext(), pending));
      } catch (error) {
        log().error('offline grace', error, { userId: pending.userId });
        failures.push({ itemIdentifier: record.messageId });
      }
    }),
  );
  return { batchItemFailures: failures };
}
