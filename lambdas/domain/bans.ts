import { GetCommand, QueryCommand, TransactWriteCommand } from '@aws-sdk/lib-dynamodb';
import { forgetMembership } from './members';
import { type Db, type Item, isConditionFailure, nextId } from './db';
import { notFound, TEXT } from './errors';
import { usersByIds } from './servers';
import { keys, padId, TTL_ATTRIBUTE } from './table';
import { epochSeconds, isExpired } from './time';
import type { Page, User } from './users';

const BAN_NOT_FOUND = 'Ban does not exist';
/** An expired ban counts as lifted at once; TTL removes its items a day later. */
const EXPIRED_BAN_GRACE_SECONDS = 24 * 3600;

export interface Ban {
  id: number;
  serverId: number;
  userId: number;
  /** ISO timestamp or `never`. */
  expires: string;
}

/** The ban object of REST and of `user_banned`: `{id: ban_id, user, expires}`. */
export interface BanView {
  id: number;
  user: User;
  expires: string;
}

function banFromItem(item: Item): Ban {
  return { id: Number(item.id), serverId: Number(item.serverId), userId: Number(item.userId), expires: String(item.expires) };
}

function ttlFor(expires: string): number | undefined {
  return expires === 'never' ? undefined : epochSeconds(Date.parse(expires)) + EXPIRED_BAN_GRACE_SECONDS;
}

/** Whether the user is under a ban in force on the server (expired bans count as lifted). */
export async function isBanned(db: Db, serverId: number, userId: number): Promise<boolean> {
  const { Item: marker } = await db.doc.send(
    new GetCommand({ TableName: db.table, Key: keys.bannedUser(serverId, userId), ConsistentRead: true }),
  );
  return marker !== undefined && !isExpired(String(marker.expires));
}

/**
 * Bans a member: his membership goes, the ban and the per-user marker come, all in one transaction, so a
 * ban never half-happens; then his connections stop receiving the server's events.
 * Returns undefined when he is already banned; 404 when he is not a member.
 */
export async function banMember(db: Db, serverId: number, userId: number, expires: string, ownerId: number): Promise<Ban | undefined> {
  const ban: Ban = { id: await nextId(db, 'ban'), serverId, userId, expires };
  const ttl = ttlFor(expires);
  try {
    await db.doc.send(
      new TransactWriteCommand({
        TransactItems: [
          { Delete: { TableName: db.table, Key: keys.member(serverId, userId), ConditionExpression: 'attribute_exists(pk)' } },
          {
            Put: {
              TableName: db.table,
              Item: { ...keys.ban(serverId, ban.id), ...ban, [TTL_ATTRIBUTE]: ttl },
              ConditionExpression: 'attribute_not_exists(pk)',
            },
          },
          {
            Put: {
              TableName: db.table,
              Item: { ...keys.bannedUser(serverId, userId), banId: ban.id, expires, [TTL_ATTRIBUTE]: ttl },
              // A marker left by an expired ban (not yet removed by TTL) is simply replaced.
              ConditionExpression: 'attribute_not_exists(pk) OR (expires <> :never AND expires <= :now)',
              ExpressionAttributeValues: { ':never': 'never', ':now': new Date().toISOString() },
            },
          },
        ],
      }),
    );
  } catch (error) {
    if (!isConditionFailure(error)) throw error;
    if (await isBanned(db, serverId, userId)) return undefined;
    throw notFound(TEXT.notMember);
  }
  await forgetMembership(db, serverId, userId, ownerId);
  return ban;
}

/** A ban in force on this server (404 `Ban does not exist` for unknown, other servers' and expired bans). */
export async function findBan(db: Db, serverId: number, banId: number): Promise<Ban> {
  const { Item: item } = await db.doc.send(new GetCommand({ TableName: db.table, Key: keys.ban(serverId, banId), ConsistentRead: true }));
  const ban = item ? banFromItem(item) : undefined;
  if (!ban || isExpired(ban.expires)) throw notFound(BAN_NOT_FOUND);
  return ban;
}

/** The ban and its marker change together; 404 if the ban was lifted meanwhile. */
export async function changeBanExpiry(db: Db, ban: Ban, expires: string): Promise<void> {
  const ttl = ttlFor(expires);
  const update = (key: { pk: string; sk: string }, condition: string) => ({
    Update: {
      TableName: db.table,
      Key: key,
      UpdateExpression: ttl === undefined ? 'SET expires = :expires REMOVE #ttl' : 'SET expires = :expires, #ttl = :ttl',
      ConditionExpression: condition,
      ExpressionAttributeNames: { '#ttl': TTL_ATTRIBUTE },
      ExpressionAttributeValues: { ':expires': expires, ':banId': ban.id, ...(ttl === undefined ? {} : { ':ttl': ttl }) },
    },
  });
  try {
    await db.doc.send(
      new TransactWriteCommand({
        TransactItems: [
          update(keys.ban(ban.serverId, ban.id), 'id = :banId'),
          update(keys.bannedUser(ban.serverId, ban.userId), 'banId = :banId'),
        ],
      }),
    );
  } catch (error) {
    if (isConditionFailure(error)) throw notFound(BAN_NOT_FOUND);
    throw error;
  }
}

/** Deletes the ban and its marker together; 404 if it was lifted meanwhile. */
export async function liftBan(db: Db, ban: Ban): Promise<void> {
  try {
    await db.doc.send(
      new TransactWriteCommand({
        TransactItems: [
          { Delete: { TableName: db.table, Key: keys.ban(ban.serverId, ban.id), ConditionExpression: 'attribute_exists(pk)' } },
          {
            Delete: {
              TableName: db.table,
              Key: keys.bannedUser(ban.serverId, ban.userId),
              ConditionExpression: 'banId = :banId',
              ExpressionAttributeValues: { ':banId': ban.id },
            },
          },
        ],
      }),
    );
  } catch (error) {
    if (isConditionFailure(error)) throw notFound(BAN_NOT_FOUND);
    throw error;
  }
}

/** One page of the bans in force (`GET /servers/{sid}/bans`), by ban id. */
export async function listBans(db: Db, serverId: number, page: Page, now = Date.now()): Promise<BanView[]> {
  const out: BanView[] = [];
  let startKey: Record<string, unknown> | undefined;
  while (out.length < page.count) {
    const result = await db.doc.send(
      new QueryCommand({
        TableName: db.table,
        KeyConditionExpression: 'pk = :pk AND sk BETWEEN :low AND :high',
        ExpressionAttributeValues: {
          ':pk': `SERVER#${serverId}`,
          ':low': `BAN#${padId(page.order === 1 ? page.startId : 0)}`,
          ':high': page.order === 1 ? 'BAN#9999999999' : `BAN#${padId(page.startId)}`,
        },
        ScanIndexForward: page.order === 1,
        ExclusiveStartKey: startKey,
        Limit: page.count * 2,
      }),
    );
    const bans = ((result.Items ?? []) as Item[]).map(banFromItem).filter((ban) => !isExpired(ban.expires, now));
    const users = await usersByIds(db, bans.map((ban) => ban.userId));
    for (const ban of bans) {
      const user = users.get(ban.userId);
      if (user && out.length < page.count) out.push({ id: ban.id, user, expires: ban.expires });
    }
    startKey = result.LastEvaluatedKey;
    if (!startKey) break;
  }
  return out;
}
