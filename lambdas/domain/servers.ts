import { absent, applied, batchWrite, collectPage, type Db, ex, exists, type Item, keyOf, nextId, orThrow, queryIndexPrefix, queryPrefix, type TransactWrite } from './db';
import { channelsOfServer, deleteChannelContents } from './channels';
import { badRequest, forbidden, notFound, TEXT } from './errors';
import { hasPermission, PERM1_DEFAULT, type PermIndex, type PermissionSubject, type Role } from './permissions';
import { build, type MemberItem } from './items';
import { idRange, keys, partitions, prefixes } from './table';
import { isoNow } from './time';
import { MAX_NAME_LENGTH, publicUser, type User } from './users';

/** `{id, name, owner_id, avatar?}`: the server object of REST and of `server_edited`. */
export interface Server {
  id: number;
  name: string;
  owner_id: number;
  avatar?: string;
}

export interface Member {
  userId: number;
  roles: number[];
}

export interface ServerContext {
  server: Server;
  /** Highest first, default role last. */
  roles: Role[];
  member?: Member;
}

export function serverFromItem(item: Item): Server {
  const server: Server = { id: Number(item.id), name: String(item.name), owner_id: Number(item.ownerId) };
  if (typeof item.avatar === 'string') server.avatar = item.avatar;
  return server;
}

function memberFromItem(item: Item): Member {
  return { userId: Number(item.userId), roles: ((item.roles as number[]) ?? []).map(Number) };
}

export function validateServerName(name: string): void {
  if (name.length < 1) throw badRequest('Server name should not be empty');
  if (name.length > MAX_NAME_LENGTH) throw badRequest(`Server name should be at most ${MAX_NAME_LENGTH} characters long`);
}

/**
 * The server, its roles and (if any) the user's membership, in one BatchGetItem; `consistent` when the
 * answer must include every change that completed before the read.
 */
export async function loadServerContext(db: Db, serverId: number, userId: number, consistent = false): Promise<ServerContext | undefined> {
  const wanted = [keys.server(serverId), keys.roles(serverId), keys.member(serverId, userId)];
  const items = await db.getMany(wanted, { consistent });
  const find = (key: { sk: string }) => items.find((item) => item.sk === key.sk);
  const meta = find(wanted[0]);
  if (!meta) return undefined;
  const member = find(wanted[2]);
  return {
    server: serverFromItem(meta),
    roles: ((find(wanted[1])?.roles as Role[]) ?? []).map((r) => ({ ...r, id: Number(r.id), perms1: Number(r.perms1) })),
    member: member ? memberFromItem(member) : undefined,
  };
}

export function subjectOf(context: ServerContext, userId: number): PermissionSubject {
  return {
    ownerId: context.server.owner_id,
    userId,
    roles: context.roles,
    userRoles: context.member?.roles ?? [],
  };
}

/** The caller's view of a server he belongs to; 403 `User is not a member of the server` otherwise. */
export async function requireMember(db: Db, serverId: number, userId: number): Promise<ServerContext & { member: Member }> {
  const context = await loadServerContext(db, serverId, userId);
  if (!context?.member) throw forbidden(TEXT.notMember);
  return context as ServerContext & { member: Member };
}

export async function requirePermission(
  db: Db,
  serverId: number,
  userId: number,
  perm: PermIndex,
): Promise<ServerContext & { member: Member }> {
  const context = await requireMember(db, serverId, userId);
  if (!hasPermission(subjectOf(context, userId), perm)) throw forbidden(TEXT.noPermission);
  return context;
}

/** Members and their roles (one Query plus pages). */
export async function membersOfServer(db: Db, serverId: number): Promise<Map<number, number[]>> {
  const items = await queryPrefix(db, partitions.server(serverId), prefixes.member, { attributes: ['userId', 'roles'] });
  return new Map(items.map((item) => [Number(item.userId), ((item.roles as number[]) ?? []).map(Number)]));
}

/** Ids of the servers a user belongs to (one Query on the secondary index). */
export async function serverIdsOfUser(db: Db, userId: number): Promise<number[]> {
  const items = await queryIndexPrefix(db, keys.membershipsOfUserIndex(userId), prefixes.member);
  return items.map((item) => Number(item.serverId));
}


export async function serversOfUser(db: Db, userId: number): Promise<Server[]> {
  const ids = await serverIdsOfUser(db, userId);
  const items = await db.getMany(ids.map((id) => keys.server(id)));
  return items.map(serverFromItem).sort((a, b) => a.id - b.id);
}

/** The roles of those of `userIds` who are members of the server (one BatchGet per 100 ids). */
export async function membersAmong(db: Db, serverId: number, userIds: readonly number[]): Promise<Map<number, number[]>> {
  const items = await db.getMany([...new Set(userIds)].map((id) => keys.member(serverId, id)));
  return new Map(items.map((item) => [Number(item.userId), ((item.roles as number[]) ?? []).map(Number)]));
}

export async function usersByIds(db: Db, ids: number[]): Promise<Map<number, User>> {
  const items = await db.getMany([...new Set(ids)].map((id) => keys.user(id)));
  return new Map(items.map((item) => [Number(item.id), publicUser(item)]));
}

/** The membership item (also written directly by the benchmarks' population). */
export function memberItem(serverId: number, userId: number, roles: number[], now = Date.now()): MemberItem {
  return build.member(serverId, userId, roles, isoNow(now));
}

const OWNED_LIMIT = 'You own too many servers';

/** Counts servers a user owns (the owned-server limit is a condition on it). */
const ownedServers = (delta: number) => ({ add: { ownedServers: delta } });

/** Creates the server with its default role and the owner as first member, all or nothing. */
export async function createServer(db: Db, ownerId: number, name: string, maxOwned: number, avatar?: string): Promise<number> {
  const [serverId, defaultRoleId] = await Promise.all([nextId(db, 'server'), nextId(db, 'role')]);
  const defaultRole: Role = { id: defaultRoleId, name: 'default', color: '#999999', perms1: PERM1_DEFAULT };
  await orThrow(
    db.transact([
      { update: keys.user(ownerId), changes: ownedServers(1), if: ex`attribute_exists(pk) AND (attribute_not_exists(ownedServers) OR ownedServers < ${maxOwned})` },
      { put: build.server(serverId, name, ownerId, avatar) },
      { put: build.roles(serverId, [defaultRole]) },
      { put: memberItem(serverId, ownerId, [defaultRoleId]) },
    ]),
    () => forbidden(OWNED_LIMIT),
  );
  return serverId;
}

/** Applies `PUT /servers/{sid}`; returns the new server row, or undefined when nothing changed. */
export async function updateServer(
  db: Db,
  current: Server,
  change: { name?: string; ownerId?: number; avatar?: string },
  maxOwned: number,
): Promise<Server | undefined> {
  const set: Record<string, unknown> = {};
  if (change.name !== undefined && change.name !== current.name) set.name = change.name;
  if (change.avatar !== undefined && change.avatar !== current.avatar) set.avatar = change.avatar;
  const transferring = change.ownerId !== undefined && change.ownerId !== current.owner_id;
  if (transferring) set.ownerId = change.ownerId;
  if (Object.keys(set).length === 0) return undefined;
  const items: TransactWrite[] = [
    // The owner may have changed since the caller's permission was checked.
    { update: keys.server(current.id), changes: { set }, if: transferring ? ex`ownerId = ${current.owner_id}` : exists },
  ];
  if (transferring) {
    items.push(
      { update: keys.user(change.ownerId!), changes: ownedServers(1), if: ex`attribute_not_exists(ownedServers) OR ownedServers < ${maxOwned}` },
      { update: keys.user(current.owner_id), changes: ownedServers(-1) },
      { check: keys.member(current.id, change.ownerId!), if: exists },
    );
  }
  await orThrow(db.transact(items), () => (transferring ? forbidden('The new owner cannot own more servers') : notFound(TEXT.serverNotFound)));
  const updated: Server = { ...current };
  if (set.name !== undefined) updated.name = change.name!;
  if (set.avatar !== undefined) updated.avatar = change.avatar;
  if (transferring) updated.owner_id = change.ownerId!;
  return updated;
}

/** Deletes the server and everything in its partition, its channels with their messages, and its invites. */
export async function deleteServer(db: Db, server: Server): Promise<void> {
  const channels = await channelsOfServer(db, server.id);
  await Promise.all(channels.map((channel) => deleteChannelContents(db, channel.id)));
  const [own, invites] = await Promise.all([
    queryPrefix(db, partitions.server(server.id), ''),
    queryIndexPrefix(db, keys.invitesOfServerIndex(server.id)),
  ]);
  // The META item goes last so a half-finished delete can be retried and still finds the server.
  const rest = own.filter((item) => item.sk !== keys.server(server.id).sk);
  await batchWrite(
    db,
    [...rest, ...invites].map((item) => ({ delete: keyOf(item) })),
  );
  await db.transact([{ delete: keys.server(server.id) }, { update: keys.user(server.owner_id), changes: ownedServers(-1) }]);
}

/** Adds a member with the default role; false when he already was one. */
export async function addMember(db: Db, serverId: number, userId: number, defaultRoleId: number): Promise<boolean> {
  return applied(db.transact([{ put: memberItem(serverId, userId, [defaultRoleId]), if: absent }, { check: keys.server(serverId), if: exists }]));
}

export type ServerUser = User & { roles: number[] };

/** One page of members (`GET /servers/{sid}/users`), users the caller blocked hidden. */
export async function listMembers(
  db: Db,
  serverId: number,
  page: { startId: number; count: number; order: 0 | 1 },
  displayname: string | undefined,
  hidden: Set<number>,
): Promise<ServerUser[]> {
  const { items } = await collectPage(
    db,
    { partition: partitions.server(serverId), ...idRange(prefixes.member, page.startId, page.order) },
    page.count,
    async (found) => {
      const members = found.map(memberFromItem).filter((m) => !hidden.has(m.userId));
      const users = await usersByIds(db, members.map((m) => m.userId));
      return members.flatMap((member) => {
        const user = users.get(member.userId);
        return user && (displayname === undefined || user.name.includes(displayname)) ? [{ ...user, roles: member.roles }] : [];
      });
    },
    { limit: () => Math.max(page.count, 1) * 2 },
  );
  return items;
}
