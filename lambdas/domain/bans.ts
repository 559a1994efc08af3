import { forgetMembership } from './members';
import { absent, collectPage, type Db, ex, exists, isConditionFailure, type Item, type Key, nextId, orThrow, type TransactWrite } from './db';
import { notFound, TEXT } from './errors';
import { usersByIds } from './servers';
import { idRange, keys, partitions, prefixes, TTL_ATTRIBUTE } from './table';
import { build } from './items';
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
  const marker = await db.get(keys.bannedUser(serverId, userId), { consistent: true });
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
    await db.transact([
      { delete: keys.member(serverId, userId), if: exists },
      { put: build.ban(ban, ttl), if: absent },
      {
        put: build.bannedUser(ban, ttl),
        // A marker left by an expired ban (not yet removed by TTL) is simply replaced.
        if: ex`attribute_not_exists(pk) OR (expires <> ${'never'} AND expires <= ${new Date().toISOString()})`,
      },
    ]);
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
  const item = await db.get(keys.ban(serverId, banId), { consistent: true });
  const ban = item ? banFromItem(item) : undefined;
  if (!ban || isExpired(ban.expires)) throw notFound(BAN_NOT_FOUND);
  return ban;
}

/** The ban and its marker change together; 404 if the ban was lifted meanwhile. */
export async function changeBanExpiry(db: Db, ban: Ban, expires: string): Promise<void> {
  const ttl = ttlFor(expires);
  const update = (key: Key, condition: ReturnType<typeof ex>): TransactWrite => ({
    update: key,
    changes: { set: { expires, [TTL_ATTRIBUTE]: ttl }, remove: ttl === undefined ? [TTL_ATTRIBUTE] : [] },
    if: condition,
  });
  await orThrow(
    db.transact([update(keys.ban(ban.serverId, ban.id), ex`id = ${ban.id}`), update(keys.bannedUser(ban.serverId, ban.userId), ex`banId = ${ban.id}`)]),
    () => notFound(BAN_NOT_FOUND),
  );
}

/** Deletes the ban and its marker together; 404 if it was lifted meanwhile. */
export async function liftBan(db: Db, ban: Ban): Promise<void> {
  await orThrow(
    db.transact([{ delete: keys.ban(ban.serverId, ban.id), if: exists }, { delete: keys.bannedUser(ban.serverId, ban.userId), if: ex`banId = ${ban.id}` }]),
    () => notFound(BAN_NOT_FOUND),
  );
}

/** One page of the bans in force (`GET /servers/{sid}/bans`), by ban id. */
export async function listBans(db: Db, serverId: number, page: Page, now = Date.now()): Promise<BanView[]> {
  const { items } = await collectPage(
    db,
    { partition: partitions.server(serverId), ...idRange(prefixes.ban, page.startId, page.order) },
    page.count,
    async (found) => {
      const bans = found.map(banFromItem).filter((ban) => !isExpired(ban.expires, now));
      const users = await usersByIds(db, bans.map((ban) => ban.userId));
      return bans.flatMap((ban) => {
        const user = users.get(ban.userId);
        return user ? [{ id: ban.id, user, expires: ban.expires }] : [];
      });
    },
    { limit: () => page.count * 2 },
  );
  return items;
}
