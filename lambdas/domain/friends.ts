import { BatchGetCommand, type BatchGetCommandOutput, GetCommand, TransactWriteCommand } from '@aws-sdk/lib-dynamodb';
import { type Db, type Item, isConditionFailure, queryPrefix } from './db';
import { badRequest, forbidden, notFound, TEXT } from './errors';
import { keys, padId } from './table';

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

export function friendKey(userId: number, otherId: number) {
  return { pk: `USER#${userId}`, sk: `FRIEND#${padId(otherId)}` };
}

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
  const found: Item[] = [];
  let pending: Array<Record<string, unknown>> | undefined = Object.values(wanted);
  for (let attempt = 0; pending && pending.length > 0; attempt++) {
    if (attempt >= 8) throw new Error('DynamoDB left batch reads unprocessed after retries');
    const result: BatchGetCommandOutput = await db.doc.send(new BatchGetCommand({ RequestItems: { [db.table]: { Keys: pending, ConsistentRead: true } } }));
    found.push(...((result.Responses?.[db.table] ?? []) as Item[]));
    pending = result.UnprocessedKeys?.[db.table]?.Keys;
  }
  const get = (key: { pk: string; sk: string }) => found.find((item) => item.pk === key.pk && item.sk === key.sk);
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
  const items = await queryPrefix(db, `USER#${userId}`, 'FRIEND#');
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

const STATE_NAMES = { '#state': 'state' };

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
      const accept = (userId: number, other: number, from: FriendState) => ({
        Update: {
          TableName: db.table,
          Key: friendKey(userId, other),
          UpdateExpression: 'SET #state = :friends',
          ConditionExpression: '#state = :from',
          ExpressionAttributeNames: STATE_NAMES,
          ExpressionAttributeValues: { ':friends': 'friends', ':from': from },
        },
      });
      await db.doc.send(new TransactWriteCommand({ TransactItems: [accept(actorId, otherId, 'incoming'), accept(otherId, actorId, 'outgoing')] }));
      return 'accepted';
    }
    if (Number(pair.actor?.[FRIEND_COUNT_ATTRIBUTE] ?? 0) >= maxRelations) {
      throw forbidden(`Cannot have more than ${maxRelations} friends and friend requests`);
    }
    const put = (userId: number, other: number, state: FriendState) => ({
      Put: {
        TableName: db.table,
        Item: { ...friendKey(userId, other), userId: other, state },
        ConditionExpression: 'attribute_not_exists(pk)',
      },
    });
    // A block written meanwhile (either way) cancels the request.
    const noBlock = (key: { pk: string; sk: string }) => ({
      ConditionCheck: { TableName: db.table, Key: key, ConditionExpression: 'attribute_not_exists(pk)' },
    });
    await db.doc.send(
      new TransactWriteCommand({
        TransactItems: [
          put(actorId, otherId, 'outgoing'),
          put(otherId, actorId, 'incoming'),
          {
            Update: {
              TableName: db.table,
              Key: keys.user(actorId),
              UpdateExpression: 'ADD #count :one',
              ConditionExpression: 'attribute_not_exists(#count) OR #count < :max',
              ExpressionAttributeNames: { '#count': FRIEND_COUNT_ATTRIBUTE },
              ExpressionAttributeValues: { ':one': 1, ':max': maxRelations },
            },
          },
          {
            Update: {
              TableName: db.table,
              Key: keys.user(otherId),
              UpdateExpression: 'ADD #count :one',
              ConditionExpression: 'attribute_exists(pk)',
              ExpressionAttributeNames: { '#count': FRIEND_COUNT_ATTRIBUTE },
              ExpressionAttributeValues: { ':one': 1 },
            },
          },
          noBlock(keys.blockedBy(actorId, otherId)),
          noBlock(keys.blockedBy(otherId, actorId)),
        ],
      }),
    );
    return 'requested';
  });
}

/** The transaction item that takes one relation off a user's count. */
function relationCountDecrement(db: Db, userId: number) {
  return {
    Update: {
      TableName: db.table,
      Key: keys.user(userId),
      UpdateExpression: 'ADD #count :minusOne',
      ExpressionAttributeNames: { '#count': FRIEND_COUNT_ATTRIBUTE },
      ExpressionAttributeValues: { ':minusOne': -1 },
    },
  };
}

/**
 * The transaction items that delete a relation in the state the actor saw (both sides and the other
 * user's counter). The actor's own counter is left to the caller, who may have more to change on his
 * profile in the same transaction (DynamoDB allows one operation per item).
 */
export function relationRemovalItems(db: Db, actorId: number, otherId: number, state: FriendState) {
  const remove = (userId: number, other: number, expected: FriendState) => ({
    Delete: {
      TableName: db.table,
      Key: friendKey(userId, other),
      ConditionExpression: '#state = :state',
      ExpressionAttributeNames: STATE_NAMES,
      ExpressionAttributeValues: { ':state': expected },
    },
  });
  return [
    remove(actorId, otherId, state),
    remove(otherId, actorId, mirrorState(state)),
    relationCountDecrement(db, otherId),
  ];
}

/**
 * `DELETE /friends/{uid}`: cancels the actor's request, denies the other's, or ends a friendship.
 * Returns the state that was ended; 403 when there was no relation.
 */
export async function endRelation(db: Db, actorId: number, otherId: number): Promise<FriendState> {
  return withRetries(async () => {
    const { Item: relation } = await db.doc.send(new GetCommand({ TableName: db.table, Key: friendKey(actorId, otherId), ConsistentRead: true }));
    if (!relation) throw forbidden(TEXT.notFriend);
    const state = relation.state as FriendState;
    await db.doc.send(
      new TransactWriteCommand({
        TransactItems: [
          ...relationRemovalItems(db, actorId, otherId, state),
          relationCountDecrement(db, actorId),
        ],
      }),
    );
    return state;
  });
}
