import { DeleteCommand, PutCommand } from '@aws-sdk/lib-dynamodb';
import { batchWrite, type Db, isConditionFailure, queryIndexPrefix, queryPrefix } from './db';
import { GSI1, keys, padId, TTL_ATTRIBUTE } from './table';
import { epochSeconds } from './time';

/** gsi1sk of a connection-cap slot (connection-caps.ts): removed with its connection, conditionally. */
export const SLOT_INDEX_PREFIX = 'SLOT#';

/**
 * Frees a slot only while this connection holds it: the index is eventually consistent, and the slot
 * may have expired and been claimed by another connection meanwhile.
 */
export async function releaseSlot(db: Db, key: { pk: string; sk: string }, connectionId: string): Promise<void> {
  try {
    await db.doc.send(
      new DeleteCommand({
        TableName: db.table,
        Key: key,
        ConditionExpression: 'connectionId = :id',
        ExpressionAttributeValues: { ':id': connectionId },
      }),
    );
  } catch (error) {
    if (!isConditionFailure(error)) throw error;
  }
}

/** API Gateway closes every WebSocket after 2 hours; items live 15 minutes longer, then TTL removes them. */
export const CONNECTION_TTL_SECONDS = 2 * 3600 + 15 * 60;

/** One live main-socket connection of one user: the unit events are delivered to. */
export interface Recipient {
  userId: number;
  connectionId: string;
  /** When the session the connection was opened with expires: it receives nothing after (docs/security.md). */
  sessionExpiresAt?: number;
}

/** What `$connect` knows of a new connection beyond its recipient: its session and source address. */
export interface ConnectionOrigin {
  /** sessionRefOf(token): lets a logout or password change find the session's connections. */
  session?: string;
  sourceIp?: string;
}

/** Only what a recipient needs: a fan-out reads one item per connected member, so each byte counts. */
const RECIPIENT_PROJECTION = {
  ProjectionExpression: '#userId, #connectionId, #ttl, #sessionExpiresAt',
  ExpressionAttributeNames: { '#userId': 'userId', '#connectionId': 'connectionId', '#ttl': TTL_ATTRIBUTE, '#sessionExpiresAt': 'sessionExpiresAt' },
};

function live(items: Array<Record<string, unknown>>, now: number): Recipient[] {
  const nowSeconds = epochSeconds(now);
  return items
    .filter((item) => Number(item[TTL_ATTRIBUTE] ?? Infinity) > nowSeconds)
    .map((item) => ({
      userId: Number(item.userId),
      connectionId: String(item.connectionId),
      ...(item.sessionExpiresAt !== undefined ? { sessionExpiresAt: Number(item.sessionExpiresAt) } : {}),
    }));
}

/** The session this connection was opened with has expired: deliver nothing, close it instead. */
export function sessionExpired(recipient: Recipient, now = Date.now()): boolean {
  return recipient.sessionExpiresAt !== undefined && recipient.sessionExpiresAt <= now;
}

/** The item that stands for one live connection. */
export function connectionItem(recipient: Recipient, now = Date.now(), origin: ConnectionOrigin = {}): Record<string, unknown> {
  return {
    ...(origin.session !== undefined ? { session: origin.session } : {}),
    ...(origin.sourceIp !== undefined ? { sourceIp: origin.sourceIp } : {}),
    ...(recipient.sessionExpiresAt !== undefined ? { sessionExpiresAt: recipient.sessionExpiresAt } : {}),
    ...keys.connection(recipient.userId, recipient.connectionId),
    [GSI1.partition]: keys.itemsOfConnectionIndex(recipient.connectionId),
    [GSI1.sort]: 'USER',
    userId: recipient.userId,
    connectionId: recipient.connectionId,
    connectedAt: now,
    [TTL_ATTRIBUTE]: epochSeconds(now) + CONNECTION_TTL_SECONDS,
  };
}

export async function registerConnection(db: Db, recipient: Recipient, now = Date.now(), origin: ConnectionOrigin = {}): Promise<void> {
  await db.doc.send(new PutCommand({ TableName: db.table, Item: connectionItem(recipient, now, origin) }));
}

/**
 * The connections of a user opened with one of the given sessions (by sessionRefOf). Strongly consistent,
 * so a connection registered before its session was deleted is found (see the socket's `$connect`).
 */
export async function connectionsOfSessions(db: Db, userId: number, sessions: readonly string[]): Promise<string[]> {
  if (sessions.length === 0) return [];
  const wanted = new Set(sessions);
  const items = await queryPrefix(db, `USER#${userId}`, 'CONN#', {
    ConsistentRead: true,
    ProjectionExpression: '#connectionId, #session',
    ExpressionAttributeNames: { '#connectionId': 'connectionId', '#session': 'session' },
  });
  return items.filter((item) => typeof item.session === 'string' && wanted.has(item.session)).map((item) => String(item.connectionId));
}

/** Every live connection of one user (one Query). */
export async function connectionsOfUser(db: Db, userId: number, now = Date.now()): Promise<Recipient[]> {
  return live(await queryPrefix(db, `USER#${userId}`, 'CONN#', RECIPIENT_PROJECTION), now);
}

/**
 * Every live connection of every member of a server: one Query (plus pages), whatever the member count,
 * because each connection is subscribed to each of its user's servers by an item in the server's partition.
 */
export async function connectionsOfServer(db: Db, serverId: number, now = Date.now()): Promise<Recipient[]> {
  return live(await queryPrefix(db, `SERVER#${serverId}`, 'CONN#', RECIPIENT_PROJECTION), now);
}

/** Subscribes connections to servers (idempotent puts); the items expire with their connection. */
export async function subscribe(db: Db, connections: Recipient[], serverIds: number[], now = Date.now()): Promise<void> {
  const ttl = epochSeconds(now) + CONNECTION_TTL_SECONDS;
  await batchWrite(
    db,
    connections.flatMap((c) =>
      serverIds.map((serverId) => ({
        put: {
          ...keys.subscription(serverId, c.userId, c.connectionId),
          [GSI1.partition]: keys.itemsOfConnectionIndex(c.connectionId),
          [GSI1.sort]: `SERVER#${padId(serverId)}`,
          userId: c.userId,
          connectionId: c.connectionId,
          ...(c.sessionExpiresAt !== undefined ? { sessionExpiresAt: c.sessionExpiresAt } : {}),
          serverId,
          [TTL_ATTRIBUTE]: ttl,
        },
      })),
    ),
  );
}

/** After the user joined a server: his open connections start receiving its events. */
export async function subscribeUserToServer(db: Db, userId: number, serverId: number): Promise<void> {
  await subscribe(db, await connectionsOfUser(db, userId), [serverId]);
}

/** After the user left a server (kick, ban): his connections stop receiving its events. */
export async function unsubscribeUserFromServer(db: Db, userId: number, serverId: number): Promise<void> {
  const items = await queryPrefix(db, `SERVER#${serverId}`, `CONN#${padId(userId)}#`);
  await batchWrite(
    db,
    items.map((item) => ({ delete: { pk: String(item.pk), sk: String(item.sk) } })),
  );
}

/**
 * Removes a connection and its subscriptions. Returns the owner's id when this call is the one that
 * removed the connection item (so `$disconnect` and a 410 prune racing each other count it once).
 */
export async function removeConnection(db: Db, connectionId: string): Promise<number | undefined> {
  const items = await queryIndexPrefix(db, keys.itemsOfConnectionIndex(connectionId));
  const connection = items.find((item) => item[GSI1.sort] === 'USER');
  const slots = items.filter((item) => String(item[GSI1.sort]).startsWith(SLOT_INDEX_PREFIX));
  const subscriptions = items.filter((item) => item !== connection && !slots.includes(item));
  await Promise.all([
    batchWrite(
      db,
      subscriptions.map((item) => ({ delete: { pk: String(item.pk), sk: String(item.sk) } })),
    ),
    ...slots.map((slot) => releaseSlot(db, { pk: String(slot.pk), sk: String(slot.sk) }, connectionId)),
  ]);
  if (!connection) return undefined;
  try {
    await db.doc.send(
      new DeleteCommand({
        TableName: db.table,
        Key: { pk: connection.pk, sk: connection.sk },
        ConditionExpression: 'attribute_exists(pk)',
      }),
    );
  } catch (error) {
    if (isConditionFailure(error)) return undefined;
    throw error;
  }
  return Number(connection.userId);
}
