import { GetCommand, QueryCommand, TransactWriteCommand } from '@aws-sdk/lib-dynamodb';
import { type Db, type Item, isConditionFailure, nextId } from './db';
import { badRequest, forbidden, notFound, TEXT } from './errors';
import { DUMMY_PASSWORD_HASH, hashPassword, verifyPassword } from './password';
import { GSI1, keys, padId } from './table';

export const MAX_NAME_LENGTH = 64;

/** The public user object: `{id, name, status, avatar?}`. */
export interface User {
  id: number;
  name: string;
  status: number;
  avatar?: string;
}

export interface UserRecord extends User {
  username: string;
  lastStatus: number;
}

export function publicUser(record: Item): User {
  const user: User = { id: Number(record.id), name: String(record.name), status: Number(record.status ?? 0) };
  if (typeof record.avatar === 'string') user.avatar = record.avatar;
  return user;
}

export async function getUserRecord(db: Db, userId: number): Promise<UserRecord | undefined> {
  const { Item: item } = await db.doc.send(new GetCommand({ TableName: db.table, Key: keys.user(userId) }));
  if (!item) return undefined;
  return {
    ...publicUser(item),
    username: String(item.username),
    lastStatus: Number(item.lastStatus ?? 1),
  };
}

export async function getUser(db: Db, userId: number): Promise<User> {
  const record = await getUserRecord(db, userId);
  if (!record) throw notFound(TEXT.userNotFound);
  return publicUser(record as unknown as Item);
}

export function validateUsername(username: string, minLength: number): void {
  if (username.length < minLength) throw badRequest(`Username should be at least ${minLength} characters long`);
  if (username.length > MAX_NAME_LENGTH) throw badRequest(`Username should be at most ${MAX_NAME_LENGTH} characters long`);
}

export function validatePassword(password: string, minLength: number): void {
  if (password.length < minLength) throw badRequest(`Password should be at least ${minLength} characters long`);
  if (password.length > 1024) throw badRequest('Password should be at most 1024 characters long');
}

export const MAX_PASSWORD_LENGTH = 1024;

/**
 * The bounds of a login's inputs, checked before the table sees them (docs/security.md, "Request bodies"). Only
 * upper bounds: the minimum lengths apply to new accounts, and a short guess is simply a wrong password.
 */
export function validateLoginInput(username: string, password: string): void {
  if (username.length === 0) throw badRequest('Username should not be empty');
  if (username.length > MAX_NAME_LENGTH) throw badRequest(`Username should be at most ${MAX_NAME_LENGTH} characters long`);
  if (password.length > MAX_PASSWORD_LENGTH) throw badRequest(`Password should be at most ${MAX_PASSWORD_LENGTH} characters long`);
}

export function validateDisplayName(name: string): void {
  if (name.length < 1) throw badRequest('Display name should not be empty');
  if (name.length > MAX_NAME_LENGTH) throw badRequest(`Display name should be at most ${MAX_NAME_LENGTH} characters long`);
}

const USERNAME_TAKEN = 'Username already exists';

/** Creates the account; the username is claimed atomically with the user row. */
export async function registerUser(
  db: Db,
  input: { username: string; displayname: string; password: string },
): Promise<number> {
  const passwordHash = await hashPassword(input.password);
  const id = await nextId(db, 'user');
  try {
    await db.doc.send(
      new TransactWriteCommand({
        TransactItems: [
          {
            Put: {
              TableName: db.table,
              Item: { ...keys.credentials(input.username), userId: id, passwordHash },
              ConditionExpression: 'attribute_not_exists(pk)',
            },
          },
          {
            Put: {
              TableName: db.table,
              Item: {
                ...keys.user(id),
                [GSI1.partition]: keys.allUsersIndex(),
                [GSI1.sort]: padId(id),
                id,
                username: input.username,
                name: input.displayname,
                status: 0,
                lastStatus: 1,
              },
            },
          },
        ],
      }),
    );
  } catch (error) {
    if (isConditionFailure(error)) throw forbidden(USERNAME_TAKEN);
    throw error;
  }
  return id;
}

/** Returns the user id for valid credentials, undefined otherwise (in constant-ish time). */
export async function checkCredentials(db: Db, username: string, password: string): Promise<number | undefined> {
  const { Item: item } = await db.doc.send(new GetCommand({ TableName: db.table, Key: keys.credentials(username) }));
  const ok = await verifyPassword(password, item ? String(item.passwordHash) : DUMMY_PASSWORD_HASH);
  return item && ok ? Number(item.userId) : undefined;
}

/**
 * Applies a profile edit. Returns which public fields changed, so callers emit `user_changed` only then
 * (PROTOCOL.md Part A item 8).
 */
export async function updateProfile(
  db: Db,
  userId: number,
  change: { username?: string; password?: string; displayname?: string; avatar?: string },
): Promise<{ name?: string; avatar?: string }> {
  const current = await getUserRecord(db, userId);
  if (!current) throw notFound(TEXT.userNotFound);
  const transact: NonNullable<ConstructorParameters<typeof TransactWriteCommand>[0]['TransactItems']> = [];
  const sets: string[] = [];
  const values: Record<string, unknown> = {};
  const changed: { name?: string; avatar?: string } = {};
  let credentialsKey = keys.credentials(current.username);

  if (change.username !== undefined && change.username !== current.username) {
    const { Item: old } = await db.doc.send(new GetCommand({ TableName: db.table, Key: credentialsKey }));
    const passwordHash = change.password !== undefined ? await hashPassword(change.password) : old?.passwordHash;
    transact.push(
      { Delete: { TableName: db.table, Key: credentialsKey } },
      {
        Put: {
          TableName: db.table,
          Item: { ...keys.credentials(change.username), userId, passwordHash },
          ConditionExpression: 'attribute_not_exists(pk)',
        },
      },
    );
    sets.push('username = :username');
    values[':username'] = change.username;
    credentialsKey = keys.credentials(change.username);
  } else if (change.password !== undefined) {
    transact.push({
      Update: {
        TableName: db.table,
        Key: credentialsKey,
        UpdateExpression: 'SET passwordHash = :hash',
        ExpressionAttributeValues: { ':hash': await hashPassword(change.password) },
      },
    });
  }
  if (change.displayname !== undefined && change.displayname !== current.name) {
    sets.push('#name = :name');
    values[':name'] = change.displayname;
    changed.name = change.displayname;
  }
  if (change.avatar !== undefined && change.avatar !== current.avatar) {
    sets.push('avatar = :avatar');
    values[':avatar'] = change.avatar;
    changed.avatar = change.avatar;
  }
  if (sets.length > 0) {
    transact.push({
      Update: {
        TableName: db.table,
        Key: keys.user(userId),
        UpdateExpression: `SET ${sets.join(', ')}`,
        ExpressionAttributeValues: values,
        ...(changed.name !== undefined ? { ExpressionAttributeNames: { '#name': 'name' } } : {}),
      },
    });
  }
  if (transact.length === 0) return changed;
  try {
    await db.doc.send(new TransactWriteCommand({ TransactItems: transact }));
  } catch (error) {
    if (isConditionFailure(error)) throw forbidden(USERNAME_TAKEN);
    throw error;
  }
  return changed;
}

export interface Page {
  startId: number;
  count: number;
  /** 0 = descending (ids <= startId), 1 = ascending (ids >= startId). */
  order: 0 | 1;
}

/** `GET /users`: one page of all users, optionally filtered by a case-sensitive display-name substring. */
export async function listUsers(
  db: Db,
  page: Page,
  displayname: string | undefined,
  hidden: Set<number>,
): Promise<User[]> {
  // `count=0` asks for nothing (docs/protocol.md, "Pagination"): no query at all.
  if (page.count === 0) return [];
  const users: User[] = [];
  let startKey: Record<string, unknown> | undefined;
  const comparison = page.order === 1 ? '>=' : '<=';
  do {
    const result = await db.doc.send(
      new QueryCommand({
        TableName: db.table,
        IndexName: GSI1.name,
        KeyConditionExpression: `gsi1pk = :pk AND gsi1sk ${comparison} :start`,
        ExpressionAttributeValues: { ':pk': keys.allUsersIndex(), ':start': padId(page.startId) },
        ScanIndexForward: page.order === 1,
        ExclusiveStartKey: startKey,
        Limit: Math.max(page.count, 1) * 2,
      }),
    );
    for (const item of result.Items ?? []) {
      const user = publicUser(item);
      if (hidden.has(user.id)) continue;
      if (displayname !== undefined && !user.name.includes(displayname)) continue;
      users.push(user);
      if (users.length >= page.count) return users;
    }
    startKey = result.LastEvaluatedKey;
  } while (startKey && users.length < page.count);
  return users;
}
