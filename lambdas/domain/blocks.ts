import { absent, attr, type Db, ex, exists, isConditionFailure, queryPrefix } from './db';
import { badRequest, forbidden, notFound, TEXT } from './errors';
import { FRIEND_COUNT_ATTRIBUTE, type FriendState, friendKey, readPair, relationRemovalItems, withRetries } from './friends';
import { usersByIds } from './servers';
import { keys, partitions, prefixes } from './table';
import { build } from './items';
import { publicUser, type User } from './users';

/**
 * Blocks are stored twice: `USER#blocker / BLOCKS#blocked` (the blocker's list) and
 * `USER#blocked / BLOCKEDBY#blocker` (who blocked a user, read by the fan-out to drop those recipients).
 */
export async function blockersOf(db: Db, userId: number): Promise<Set<number>> {
  const items = await queryPrefix(db, partitions.user(userId), prefixes.blockedBy);
  return new Set(items.map((item) => Number(item.blockerId)));
}

export async function blockedBy(db: Db, userId: number): Promise<Set<number>> {
  const items = await queryPrefix(db, partitions.user(userId), prefixes.blocks);
  return new Set(items.map((item) => Number(item.blockedId)));
}

const blocksKey = keys.blocks;

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
    const blocks = attr(BLOCK_COUNT_ATTRIBUTE);
    await db.transact([
      { put: build.blocks(blockerId, blockedId), if: absent },
      { put: build.blockedBy(blockedId, blockerId) },
      {
        update: keys.user(blockerId),
        changes: { add: { [BLOCK_COUNT_ATTRIBUTE]: 1, ...(relation ? { [FRIEND_COUNT_ATTRIBUTE]: -1 } : {}) } },
        if: ex`attribute_not_exists(${blocks}) OR ${blocks} < ${maxBlocked}`,
      },
      ...(relation
        ? relationRemovalItems(blockerId, blockedId, relation)
        : // A request sent meanwhile must not survive the block.
          [{ check: friendKey(blockerId, blockedId), if: absent }]),
    ]);
    return { blocked: publicUser(pair.other), ...(relation ? { endedRelation: relation } : {}) };
  });
}

/** Removes a block; false when there was none. */
export async function unblockUser(db: Db, blockerId: number, blockedId: number): Promise<boolean> {
  return withRetries(async () => {
    try {
      await db.transact([
        { delete: blocksKey(blockerId, blockedId), if: exists },
        { delete: keys.blockedBy(blockedId, blockerId) },
        { update: keys.user(blockerId), changes: { add: { [BLOCK_COUNT_ATTRIBUTE]: -1 } } },
      ]);
      return true;
    } catch (error) {
      // No block item: nothing to undo. Otherwise the transaction lost a race and is retried.
      if (isConditionFailure(error) && !(await isBlocking(db, blockerId, blockedId))) return false;
      throw error;
    }
  });
}

async function isBlocking(db: Db, blockerId: number, blockedId: number): Promise<boolean> {
  return (await db.get(blocksKey(blockerId, blockedId), { consistent: true })) !== undefined;
}
