import { GetCommand, TransactWriteCommand } from '@aws-sdk/lib-dynamodb';
import type { Db } from './db';
import { isConditionFailure, queryPrefix } from './db';
import { badRequest, forbidden, notFound, TEXT } from './errors';
import { FRIEND_COUNT_ATTRIBUTE, type FriendState, friendKey, readPair, relationRemovalItems, withRetries } from './friends';
import { usersByIds } from './servers';
import { keys, padId } from './table';
import { publicUser, type User } from './users';

/**
 * Blocks are stored twice: `USER#blocker / BLOCKS#blocked` (the blocker's list) and
 * `USER#blocked / BLOCKEDBY#blocker` (who blocked a user, read by the fan-out to drop those recipients).
 */
export async function blockersOf(db: Db, userId: number): Promise<Set<number>> {
  const items = await queryPrefix(db, `USER#${userId}`, 'BLOCKEDBY#');
  return new Set(items.map((item) => Number(item.blockerId)));
}

export async function blockedBy(db: Db, userId: number): Promise<Set<number>> {
  const items = await queryPrefix(db, `USER#${userId}`, 'BLOCKS#');
  return new Set(items.map((item) => Number(item.blockedId)));
}

function blocksKey(blockerId: number, blockedId: number) {
  return { pk: `USER#${blockerId}`, sk: `BLOCKS#${padId(blockedId)}` };
}

/** Upstream `max_blocked_per_user` (not reported by `GET /params`). */
export const MAX_BLOCKED_PER_USER = 200;

/** Profile attribute counting a user's BLOCKS# items; the block limit is a condition on it. */
const BLOCK_COUNT_ATTRIBUTE = 'blockedUsers';

/** The users someone blocked, in id order (1 Query + 1 BatchGetItem per 100). */
export async function blockedUsersOf(db: Db, userId: number): Promise<User[]> {
  const ids = [...(await blockedBy(db, userId))].sort((a, b) => a - b);
  const users = await usersByIds(db, ids);
  return ids.map((id) => users.get(id)).filter((user): user is User => user !== undefined);
}

export interface BlockResult {
  blocked: User;
  /** The friendship or request the block ended (the blocked user is told), if there was one. */
  endedRelation?: FriendState;
}

/**
 * Blocks a user: the two block items, the blocker's counter and the removal of any friendship or request
 * between them, all in one transaction. Returns undefined when he was already blocked.
 */
export async function blockUser(db: Db, blockerId: number, blockedId: number, maxBlocked: number): Promise<BlockResult | undefined> {
  if (blockerId === blockedId) throw badRequest('Cannot block yourself');
  return withRetries(async () => {
    const pair = await readPair(db, blockerId, blockedId);
    if (!pair.other) throw notFound(TEXT.userNotFound);
    if (pair.actorBlockedOther) return undefined;
    if (Number(pair.actor?.[BLOCK_COUNT_ATTRIBUTE] ?? 0) >= maxBlocked) throw forbidden(`Cannot block more than ${maxBlocked} users`);
    const relation = pair.relation;
    await db.doc.send(
      new TransactWriteCommand({
        TransactItems: [
          {
            Put: {
              TableName: db.table,
              Item: { ...blocksKey(blockerId, blockedId), blockedId },
              ConditionExpression: 'attribute_not_exists(pk)',
            },
          },
          { Put: { TableName: db.table, Item: { ...keys.blockedBy(blockedId, blockerId), blockerId } } },
          {
            Update: {
              TableName: db.table,
              Key: keys.user(blockerId),
              UpdateExpression: relation ? 'ADD #blocks :one, #friends :minusOne' : 'ADD #blocks :one',
              ConditionExpression: 'attribute_not_exists(#blocks) OR #blocks < :max',
              ExpressionAttributeNames: { '#blocks': BLOCK_COUNT_ATTRIBUTE, ...(relation ? { '#friends': FRIEND_COUNT_ATTRIBUTE } : {}) },
              ExpressionAttributeValues: { ':one': 1, ':max': maxBlocked, ...(relation ? { ':minusOne': -1 } : {}) },
            },
          },
          ...(relation
            ? relationRemovalItems(db, blockerId, blockedId, relation)
            : // A request sent meanwhile must not survive the block.
              [{ ConditionCheck: { TableName: db.table, Key: friendKey(blockerId, blockedId), ConditionExpression: 'attribute_not_exists(pk)' } }]),
        ],
      }),
    );
    return { blocked: publicUser(pair.other), ...(relation ? { endedRelation: relation } : {}) };
  });
}

/** Removes a block; false when there was none. */
export async function unblockUser(db: Db, blockerId: number, blockedId: number): Promise<boolean> {
  return withRetries(async () => {
    try {
      await db.doc.send(
        new TransactWriteCommand({
          TransactItems: [
            { Delete: { TableName: db.table, Key: blocksKey(blockerId, blockedId), ConditionExpression: 'attribute_exists(pk)' } },
            { Delete: { TableName: db.table, Key: keys.blockedBy(blockedId, blockerId) } },
            {
              Update: {
                TableName: db.table,
                Key: keys.user(blockerId),
                UpdateExpression: 'ADD #blocks :minusOne',
                ExpressionAttributeNames: { '#blocks': BLOCK_COUNT_ATTRIBUTE },
                ExpressionAttributeValues: { ':minusOne': -1 },
              },
            },
          ],
        }),
      );
      return true;
    } catch (error) {
      // No block item: nothing to undo. Otherwise the transaction lost a race and is retried.
      if (isConditionFailure(error) && !(await isBlocking(db, blockerId, blockedId))) return false;
      throw error;
    }
  });
}

async function isBlocking(db: Db, blockerId: number, blockedId: number): Promise<boolean> {
  const { Item: item } = await db.doc.send(new GetCommand({ TableName: db.table, Key: blocksKey(blockerId, blockedId), ConsistentRead: true }));
  return item !== undefined;
}
