import { UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { type ConnectionOrigin, type Recipient, registerConnection, removeConnection, subscribe } from './connections';
import { queryPrefix } from './db';
import { event } from './events';
import { audience, type FanoutContext, publish } from './fanout';
import { serverIdsOfUser } from './servers';
import { keys, TTL_ATTRIBUTE } from './table';
import { epochSeconds } from './time';
import { setStatus } from './users';

export const STATUS = { OFFLINE: 0, ONLINE: 1, AWAY: 2, DO_NOT_DISTURB: 3 } as const;

/** `?status=` and `PUT /user_status` take 0..3; anything else is refused by the caller. */
export function parseStatus(raw: string): number | undefined {
  return /^[0-3]$/.test(raw) ? Number(raw) : undefined;
}

/**
 * A main-socket connection opens: store it, subscribe it to the user's servers, apply the status
 * (`requestedStatus`, or the status he had when his last connection closed) and tell observers if it
 * changed. The opening connection itself is never posted to (API Gateway refuses posts inside $connect).
 */
export async function openConnection(
  context: FanoutContext,
  connection: Recipient,
  requestedStatus: number | undefined,
  now = Date.now(),
  origin: ConnectionOrigin = {},
): Promise<number> {
  const { db } = context;
  await registerConnection(db, connection, now, origin);
  // Connections that died without $disconnect and expired meanwhile no longer count.
  const stale = (await queryPrefix(db, `USER#${connection.userId}`, 'CONN#')).filter(
    (item) => Number(item[TTL_ATTRIBUTE]) <= epochSeconds(now),
  );
  const removed = (await Promise.all(stale.map((item) => removeConnection(db, String(item.connectionId))))).filter(
    (userId) => userId !== undefined,
  ).length;
  const statusExpression = requestedStatus === undefined ? 'if_not_exists(lastStatus, :online)' : ':requested';
  const result = await db.doc.send(
    new UpdateCommand({
      TableName: db.table,
      Key: keys.user(connection.userId),
      UpdateExpression: `SET #status = ${statusExpression} ADD connections :delta`,
      ConditionExpression: 'attribute_exists(pk)',
      ExpressionAttributeNames: { '#status': 'status' },
      ExpressionAttributeValues: {
        ':delta': 1 - removed,
        ...(requestedStatus === undefined ? { ':online': STATUS.ONLINE } : { ':requested': requestedStatus }),
      },
      ReturnValues: 'ALL_OLD',
    }),
  );
  const before = result.Attributes ?? {};
  const applied = requestedStatus ?? Number(before.lastStatus ?? STATUS.ONLINE);
  await subscribe(db, [connection], await serverIdsOfUser(db, connection.userId), now);
  if (Number(before.status ?? 0) !== applied) {
    await publish(context, event('user_changed', { id: connection.userId, status: applied }), audience.observersOf(connection.userId), {
      exceptConnection: connection.connectionId,
    });
  }
  return applied;
}

/** `PUT /user_status`: sets the presence and tells observers when it changed. */
export async function changeStatus(context: FanoutContext, userId: number, status: number): Promise<void> {
  const previous = await setStatus(context.db, userId, status);
  if (previous !== status) {
    await publish(context, event('user_changed', { id: userId, status }), audience.observersOf(userId));
  }
}
