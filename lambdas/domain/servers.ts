import { BatchGetCommand, type BatchGetCommandOutput, QueryCommand, TransactWriteCommand } from '@aws-sdk/lib-dynamodb';
import { batchWrite, type Db, type Item, isConditionFailure, nextId, queryIndexPrefix, queryPrefix } from './db';
import { channelsOfServer, deleteChannelContents } from './channels';
import { badRequest, forbidden, notFound, TEXT } from './errors';
import { hasPermission, PERM1_DEFAULT, type PermIndex, type PermissionSubject, type Role } from './permissions';
import { GSI1, keys, padId } from './table';
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
  const result = await db.doc.send(new BatchGetCommand({ RequestItems: { [db.table]: { Keys: wanted, ConsistentRead: consistent || undefined } } }));
  let items = (result.Responses?.[db.table] ?? []) as Item[];
  const unprocessed = result.UnprocessedKeys?.[db.table]?.Keys;
  if (unprocessed && unprocessed.length > 0) {
    const retry = await db.doc.send(new BatchGetCommand({ RequestItems: { [db.table]: { Keys: unprocessed, ConsistentRead: consistent || undefined } } }));
    items = items.concat((retry.Responses?.[db.table] ?? []) as Item[]);
  }
  const find = (sk: string) => items.find((item) => item.sk === sk);
  const meta = find('META');
  if (!meta) return undefined;
  const member = find(keys.member(serverId, userId).sk);
  return {
    server: serverFromItem(meta),
    roles: ((find('ROLES')?.roles as Role[]) ?? []).map((r) => ({ ...r, id: Number(r.id), perms1: Number(r.perms1) })),
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
  const items = await queryPrefix(db, `SERVER#${serverId}`, 'MEMBER#', {
    ProjectionExpression: '#userId, #roles',
    ExpressionAttributeNames: { '#userId': 'userId', '#roles': 'roles' },
  });
  return new Map(items.map((item) => [Number(item.userId), ((item.roles as number[]) ?? []).map(Number)]));
}

/** Ids of the servers a user belongs to (one Query on the secondary index). */
export async function serverIdsOfUser(db: Db, userId: number): Promise<number[]> {
  const items = await queryIndexPrefix(db, keys.membershipsOfUserIndex(userId), 'MEMBER#');
  return items.map((item) => Number(item.serverId));
}

async function batchGet(db: Db, wanted: Array<{ pk: string; sk: string }>): Promise<Item[]> {
  const out: Item[] = [];
  for (let i = 0; i < wanted.length; i += 100) {
    let pending: Array<Record<string, unknown>> | undefined = wanted.slice(i, i + 100);
    for (let attempt = 0; pending && pending.length > 0 && attempt < 8; attempt++) {
      const result: BatchGetCommandOutput = await db.doc.send(new BatchGetCommand({ RequestItems: { [db.table]: { Keys: pending } } }));
      out.push(...((result.Responses?.[db.table] ?? []) as Item[]));
      pending = result.UnprocessedKeys?.[db.table]?.Keys;
    }
  }
  return out;
}

export async function serversOfUser(db: Db, userId: number): Promise<Server[]> {
  const ids = await serverIdsOfUser(db, userId);
  const items = await batchGet(db, ids.map((id) => keys.server(id)));
  return items.map(serverFromItem).sort((a, b) => a.id - b.id);
}

/** The roles of those of `userIds` who are members of the server (one BatchGet per 100 ids). */
export async function membersAmong(db: Db, serverId: number, userIds: readonly number[]): Promise<Map<number, number[]>> {
  const items = await batchGet(db, [...new Set(userIds)].map((id) => keys.member(serverId, id)));
  return new Map(items.map((item) => [Number(item.userId), ((item.roles as number[]) ?? []).map(Number)]));
}

export async function usersByIds(db: Db, ids: number[]): Promise<Map<number, User>> {
  const items = await batchGet(db, [...new Set(ids)].map((id) => keys.user(id)));
  return new Map(items.map((item) => [Number(item.id), publicUser(item)]));
}

/** The membership item (also written directly by the benchmarks' population). */
export function memberItem(serverId: number, userId: number, roles: number[], now = Date.now()): Item {
  return {
    ...keys.member(serverId, userId),
    [GSI1.partition]: keys.membershipsOfUserIndex(userId),
    [GSI1.sort]: `MEMBER#${padId(serverId)}`,
    serverId,
    userId,
    roles,
    joined: isoNow(now),
  };
}

const OWNED_LIMIT = 'You own too many servers';

/** Creates the server with its default role and the owner as first member, all or nothing. */
export async function createServer(db: Db, ownerId: number, name: string, maxOwned: number, avatar?: string): Promise<number> {
  const [serverId, defaultRoleId] = await Promise.all([nextId(db, 'server'), nextId(db, 'role')]);
  const defaultRole: Role = { id: defaultRoleId, name: 'default', color: '#999999', perms1: PERM1_DEFAULT };
  try {
    await db.doc.send(
      new TransactWriteCommand({
        TransactItems: [
          {
            Update: {
              TableName: db.table,
              Key: keys.user(ownerId),
              UpdateExpression: 'ADD ownedServers :one',
              ConditionExpression: 'attribute_exists(pk) AND (attribute_not_exists(ownedServers) OR ownedServers < :max)',
              ExpressionAttributeValues: { ':one': 1, ':max': maxOwned },
            },
          },
          { Put: { TableName: db.table, Item: { ...keys.server(serverId), id: serverId, name, ownerId, avatar } } },
          { Put: { TableName: db.table, Item: { ...keys.roles(serverId), roles: [defaultRole] } } },
          { Put: { TableName: db.table, Item: memberItem(serverId, ownerId, [defaultRoleId]) } },
        ],
      }),
    );
  } catch (error) {
    if (isConditionFailure(error)) throw forbidden(OWNED_LIMIT);
    throw error;
  }
  return serverId;
}

/** Applies `PUT /servers/{sid}`; returns the new server row, or undefined when nothing changed. */
export async function updateServer(
  db: Db,
  current: Server,
  change: { name?: string; ownerId?: number; avatar?: string },
  maxOwned: number,
): Promise<Server | undefined> {
  const sets: string[] = [];
  const values: Record<string, unknown> = {};
  if (change.name !== undefined && change.name !== current.name) {
    sets.push('#name = :name');
    values[':name'] = change.name;
  }
  if (change.avatar !== undefined && change.avatar !== current.avatar) {
    sets.push('avatar = :avatar');
    values[':avatar'] = change.avatar;
  }
  const transferring = change.ownerId !== undefined && change.ownerId !== current.owner_id;
  if (transferring) {
    sets.push('ownerId = :owner');
    values[':owner'] = change.ownerId;
    values[':previousOwner'] = current.owner_id;
  }
  if (sets.length === 0) return undefined;
  const items: NonNullable<ConstructorParameters<typeof TransactWriteCommand>[0]['TransactItems']> = [
    {
      Update: {
        TableName: db.table,
        Key: keys.server(current.id),
        UpdateExpression: `SET ${sets.join(', ')}`,
        // The owner may have changed since the caller's permission was checked.
        ConditionExpression: transferring ? 'ownerId = :previousOwner' : 'attribute_exists(pk)',
        ExpressionAttributeValues: values,
        ...(values[':name'] !== undefined ? { ExpressionAttributeNames: { '#name': 'name' } } : {}),
      },
    },
  ];
  if (transferring) {
    items.push(
      {
        Update: {
          TableName: db.table,
          Key: keys.user(change.ownerId!),
          UpdateExpression: 'ADD ownedServers :one',
          ConditionExpression: 'attribute_not_exists(ownedServers) OR ownedServers < :max',
          ExpressionAttributeValues: { ':one': 1, ':max': maxOwned },
        },
      },
      {
        Update: {
          TableName: db.table,
          Key: keys.user(current.owner_id),
          UpdateExpression: 'ADD ownedServers :minusOne',
          ExpressionAttributeValues: { ':minusOne': -1 },
        },
      },
      {
        ConditionCheck: {
          TableName: db.table,
          Key: keys.member(current.id, change.ownerId!),
          ConditionExpression: 'attribute_exists(pk)',
        },
      },
    );
  }
  try {
    await db.doc.send(new TransactWriteCommand({ TransactItems: items }));
  } catch (error) {
    if (isConditionFailure(error)) {
      throw transferring ? forbidden('The new owner cannot own more servers') : notFound(TEXT.serverNotFound);
    }
    throw error;
  }
  const updated: Server = { ...current };
  if (values[':name'] !== undefined) updated.name = change.name!;
  if (values[':avatar'] !== undefined) updated.avatar = change.avatar;
  if (transferring) updated.owner_id = change.ownerId!;
  return updated;
}

/** Deletes the server and everything in its partition, its channels with their messages, and its invites. */
export async function deleteServer(db: Db, server: Server): Promise<void> {
  const channels = await channelsOfServer(db, server.id);
  await Promise.all(channels.map((channel) => deleteChannelContents(db, channel.id)));
  const [own, invites] = await Promise.all([
    queryPrefix(db, `SERVER#${server.id}`, ''),
    queryIndexPrefix(db, keys.invitesOfServerIndex(server.id)),
  ]);
  // The META item goes last so a half-finished delete can be retried and still finds the server.
  const rest = own.filter((item) => item.sk !== 'META');
  await batchWrite(
    db,
    [...rest, ...invites].map((item) => ({ delete: { pk: String(item.pk), sk: String(item.sk) } })),
  );
  await db.doc.send(
    new TransactWriteCommand({
      TransactItems: [
        { Delete: { TableName: db.table, Key: keys.server(server.id) } },
        {
          Update: {
            TableName: db.table,
            Key: keys.user(server.owner_id),
            UpdateExpression: 'ADD ownedServers :minusOne',
            ExpressionAttributeValues: { ':minusOne': -1 },
          },
        },
      ],
    }),
  );
}

/** Adds a member with the default role; false when he already was one. */
export async function addMember(db: Db, serverId: number, userId: number, defaultRoleId: number): Promise<boolean> {
  try {
    await db.doc.send(
      new TransactWriteCommand({
        TransactItems: [
          {
            Put: {
              TableName: db.table,
              Item: memberItem(serverId, userId, [defaultRoleId]),
              ConditionExpression: 'attribute_not_exists(pk)',
            },
          },
          { ConditionCheck: { TableName: db.table, Key: keys.server(serverId), ConditionExpression: 'attribute_exists(pk)' } },
        ],
      }),
    );
    return true;
  } catch (error) {
    if (isConditionFailure(error)) return false;
    throw error;
  }
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
  // `count=0` asks for nothing (docs/protocol.md, "Pagination"): no query at all.
  if (page.count === 0) return [];
  const out: ServerUser[] = [];
  let startKey: Record<string, unknown> | undefined;
  const range =
    page.order === 1
      ? 'sk BETWEEN :from AND :to'
      : 'sk BETWEEN :to AND :from';
  do {
    const result = await db.doc.send(
      new QueryCommand({
        TableName: db.table,
        KeyConditionExpression: `pk = :pk AND ${range}`,
        ExpressionAttributeValues: {
          ':pk': `SERVER#${serverId}`,
          ':from': `MEMBER#${padId(page.startId)}`,
          ':to': page.order === 1 ? 'MEMBER#9999999999' : 'MEMBER#0000000000',
        },
        ScanIndexForward: page.order === 1,
        ExclusiveStartKey: startKey,
        Limit: Math.max(page.count, 1) * 2,
      }),
    );
    const members = (result.Items ?? []).map(memberFromItem).filter((m) => !hidden.has(m.userId));
    const users = await usersByIds(db, members.map((m) => m.userId));
    for (const member of members) {
      const user = users.get(member.userId);
      if (!user) continue;
      if (displayname !== undefined && !user.name.includes(displayname)) continue;
      out.push({ ...user, roles: member.roles });
      if (out.length >= page.count) return out;
    }
    startKey = result.LastEvaluatedKey;
  } while (startKey && out.length < page.count);
  return out;
}
