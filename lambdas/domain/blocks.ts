import type { Db } from './db';
import { queryPrefix } from './db';

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
