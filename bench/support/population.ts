import { randomUUID } from 'node:crypto';
import { CHANNEL_TYPE, createChannel } from '../../lambdas/domain/channels';
import { batchWrite, type Db, type Item, reserveIds } from '../../lambdas/domain/db';
import { createServer, loadServerContext, memberItem } from '../../lambdas/domain/servers';
import { build } from '../../lambdas/domain/items';
import { epochSeconds } from '../../lambdas/domain/time';

/**
 * Bench-only seeding: users, sessions and memberships written straight into the table with the item
 * builders of lambdas/domain/items.ts. Registering thousands of users through
 * REST would spend minutes in scrypt, which is not what the benchmarks measure.
 */

export interface SeededUser {
  id: number;
  token: string;
}

export interface SeededServer {
  serverId: number;
  channelId: number;
  defaultRoleId: number;
  owner: SeededUser;
  members: SeededUser[];
}

const SESSION_LIFETIME_MS = 30 * 24 * 3600 * 1000;

export interface SeedOptions {
  /**
   * Live connections each user already has elsewhere (the `connections` count of the user item). With 1,
   * a user never goes offline when a bench connection closes, so opening and closing thousands of
   * connections does not turn into thousands of `user_changed` fan-outs to every member (presence is
   * measured on its own in bench/requests.ts).
   */
  phantomConnections?: number;
}

function userItems(user: SeededUser, options: SeedOptions, now: number): Item[] {
  const expiresAt = now + SESSION_LIFETIME_MS;
  return [
    {
      ...build.user(user.id, `bench${user.id}`, `Bench ${user.id}`),
      // Online already, so a connect changes no status and announces nothing (see phantomConnections).
      status: 1,
      connections: options.phantomConnections ?? 1,
    },
    build.session(user.token, user.id, expiresAt, epochSeconds(expiresAt)),
  ];
}


/** Users with a session each (no credentials: they never log in, they use the token). */
export async function seedUsers(db: Db, count: number, options: SeedOptions = {}): Promise<SeededUser[]> {
  if (count === 0) return [];
  const first = await reserveIds(db, 'user', count);
  const now = Date.now();
  const users = Array.from({ length: count }, (_, i) => ({ id: first + i, token: randomUUID() }));
  await batchWrite(db, users.flatMap((user) => userItems(user, options, now)).map((put) => ({ put })));
  return users;
}

/**
 * A server owned by a fresh user, with `memberCount` more members (default role) and one public text
 * channel. The server, its roles and the channel go through the domain functions; members are direct puts.
 */
export async function seedServer(db: Db, memberCount: number, options: SeedOptions = {}): Promise<SeededServer> {
  const [owner] = await seedUsers(db, 1, options);
  const serverId = await createServer(db, owner.id, `bench ${memberCount}`, 1000);
  const context = await loadServerContext(db, serverId, owner.id);
  const defaultRoleId = context!.roles[context!.roles.length - 1].id;
  const channel = await createChannel(db, serverId, { name: 'general', type: CHANNEL_TYPE.TEXT, wlUsers: [], wlRoles: [] }, 1000);
  const members = await addSeededMembers(db, serverId, defaultRoleId, memberCount, options);
  return { serverId, channelId: channel.id, defaultRoleId, owner, members };
}

/** Fresh users who are members of the server. */
export async function addSeededMembers(db: Db, serverId: number, defaultRoleId: number, count: number, options: SeedOptions = {}): Promise<SeededUser[]> {
  const users = await seedUsers(db, count, options);
  const now = Date.now();
  await batchWrite(db, users.map((user) => ({ put: memberItem(serverId, user.id, [defaultRoleId], now) })));
  return users;
}
