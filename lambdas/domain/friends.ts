import { absent, attr, type Db, ex, exists, type Item, isConditionFailure, type Key, queryPrefix, type TransactWrite } from './db';
import { badRequest, forbidden, notFound, TEXT } from './errors';
import { keys, partitions, prefixes } from './table';
import { build } from './items';

/**
 * A friendship or a pending request is stored as a pair of items, one in each user's partition
 * (`USER#a / FRIEND#b` holds a's view of b), always written together in one transaction so the two sides
 * never disagree. `outgoing` = a asked b, `incoming` = b asked a.
 */
export type FriendState = 'friends' | 'outgoing' | 'incoming';

export interface Relation {
  userId: number;
  state: FriendState;
}

export const friendKey = keys.friend;

/** The other side's view of the same relation. */
function mirrorState(state: FriendState): FriendState {
  if (state === 'outgoing') return 'incoming';
  if (state === 'incoming') return 'outgoing';
  return 'friends';
}

/**
 * Profile attribute counting a user's FRIEND# items (friends and pending requests either way): the friend
 * limit is a condition on it inside the transaction that adds a request, so it cannot be overrun by races.
 */
export const FRIEND_COUNT_ATTRIBUTE = 'friendRelations';

/** Upstream `max_friends_per_user`: friends and pending requests either way (not reported by `GET /params`). */
export const MAX_FRIENDS_PER_USER = 200;

/** How many times an optimistic write re-reads and retries after losing a race. */
const MAX_WRITE_ATTEMPTS = 5;

/** Everything that decides what may happen between two users, read consistently in one BatchGetItem. */
export interface PairState {
  actor?: Item;
  /** The other user's profile; undefined when there is no such user. */
  other?: Item;
  /** The actor's view of the relation, if any. */
  relation?: FriendState;
  actorBlockedOther: boolean;
  otherBlockedActor: boolean;
}

export async function readPair(db: Db, actorId: number, otherId: number): Promise<PairState> {
  const wanted = {
    actor: keys.user(actorId),
    other: keys.user(otherId),
    relation: friendKey(actorId, otherId),
    actorBlockedOther: keys.blockedBy(otherId, actorId),
    otherBlockedActor: keys.blockedBy(actorId, otherId),
  };
  const found = await db.getMany(Object.values(wanted), { consistent: true });
  const get = (key: Key) => found.find((item) => item.pk === key.pk && item.sk === key.sk);
  const relation = get(wanted.relation);
  return {
    actor: get(wanted.actor),
    other: get(wanted.other),
    relation: relation ? (relation.state as FriendState) : undefined,
    actorBlockedOther: get(wanted.actorBlockedOther) !== undefined,
    otherBlockedActor: get(wanted.otherBlockedActor) !== undefined,
  };
}

/** Every friend and pending request of a user (one Query). */
export async function relationsOf(db: Db, userId: number): Promise<Relation[]> {
  const items = await queryPrefix(db, partitions.user(userId), prefixes.friend);
  return items.map((item) => ({ userId: Number(item.userId), state: item.state as FriendState }));
}

/** The users a user relates to in one state (his friends, or the senders or receivers of requests). */
export async function relatedUsers(db: Db, userId: number, state: FriendState): Promise<number[]> {
  return (await relationsOf(db, userId)).filter((r) => r.state === state).map((r) => r.userId);
}

/** Runs `attempt` again (it re-reads its state) when its conditional write lost a race. */
export async function withRetries<T>(attempt: () => Promise<T>): Promise<T> {
  for (let i = 1; ; i++) {
    try {
      return await attempt();
    } catch (error) {
      if (!isConditionFailure(error) || i >= MAX_WRITE_ATTEMPTS) throw error;
    }
  }
}


export type FriendRequestOutcome = 'requested' | 'accepted' | 'already friends' | 'already requested';

/**
 * `POST /friends/{uid}`: sends a request, or accepts the one the other user sent. Refused for oneself,
 * unknown users, a block either way, and when the actor already has `maxRelations` friends and requests.
 */
export async function requestFriendship(db: Db, actorId: number, otherId: number, maxRelations: number): Promise<FriendRequestOutcome> {
  if (actorId === otherId) throw badRequest('Cannot send a friend request to yourself');
  return withRetries(async () => {
    const pair = await readPair(db, actorId, otherId);
    if (!pair.other) throw notFound(TEXT.userNotFound);
    if (pair.otherBlockedActor) throw forbidden('This user blocked you');
    if (pair.actorBlockedOther) throw forbidden('You blocked this user');
    if (pair.relation === 'friends') return 'already friends';
    if (pair.relation === 'outgoing') return 'already requested';
    if (pair.relation === 'incoming') {
      const accept = (userId: number, other: number, from: FriendState): TransactWrite => ({
        update: friendKey(userId, other),
        changes: { set: { state: 'friends' } },
        if: ex`${attr('state')} = ${from}`,
      });
      await db.transact([accept(actorId, otherId, 'incoming'), accept(otherId, actorId, 'outgoing')]);
      return 'accepted';
    }
    if (Number(pair.actor?.[FRIEND_COUNT_ATTRIBUTE] ?? 0) >= maxRelations) {
      throw forbidden(`Cannot have more than ${maxRelations} friends and friend requests`);
    }
    const put = (userId: number, other: number, state: FriendState): TransactWrite => ({ put: build.friend(userId, other, state), if: absent });
    const count = attr(FRIEND_COUNT_ATTRIBUTE);
    await db.transact([
      put(actorId, otherId, 'outgoing'),
      put(otherId, actorId, 'incoming'),
      { update: keys.user(actorId), changes: { add: { [FRIEND_COUNT_ATTRIBUTE]: 1 } }, if: ex`attribute_not_exists(${count}) OR ${count} < ${maxRelations}` },
      { update: keys.user(otherId), changes: { add: { [FRIEND_COUNT_ATTRIBUTE]: 1 } }, if: exists },
      // A block written meanwhile (either way) cancels the request.
      { check: keys.blockedBy(actorId, otherId), if: absent },
      { check: keys.blockedBy(otherId, actorId), if: absent },
    ]);
    return 'requested';
  });
}

/** The transaction item that takes one relation off a user's count. */
export function relationCountDecrement(userId: number): TransactWrite {
  return { update: keys.user(userId), changes: { add: { [FRIEND_COUNT_ATTRIBUTE]: -1 } } };
}

/**
 * The transaction items that delete a relation in the state the actor saw (both sides and the other
 * user's counter). The actor's own counter is left to the caller, who may have more to change on his
 * profile in the same transaction (DynamoDB allows one operation per item).
 */
export function relationRemovalItems(actorId: number, otherId: number, state: FriendState): TransactWrite[] {
  const remove = (userId: number, other: number, expected: FriendState): TransactWrite => ({ delete: friendKey(userId, other), if: ex`${attr('state')} = ${expected}` });
  return [remove(actorId, otherId, state), remove(otherId, actorId, mirrorState(state)), relationCountDecrement(otherId)];
}

/**
 * `DELETE /friends/{uid}`: cancels the actor's request, denies the other's, or ends a friendship.
 * Returns the state that was ended; 403 when there was no relation.
 */
export async function endRelation(db: Db, actorId: number, otherId: number): Promise<FriendState> {
  return withRetries(async () => {
    const relation = await db.get(friendKey(actorId, otherId), { consistent: true });
    if (!relation) throw forbidden(TEXT.notFriend);
    const state = relation.state as FriendState;
    await db.transact([...relationRemovalItems(actorId, otherId, state), relationCountDecrement(actorId)]);
    return state;
  });
}
