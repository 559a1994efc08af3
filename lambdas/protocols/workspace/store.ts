import { CONNECTION_TTL_SECONDS } from '../../domain/connections';
import { allOf, applied, type Db, exists, type Expr, type Item, ex } from '../../domain/db';
import { GSI1, padId, TTL_ATTRIBUTE } from '../../domain/table';
import { epochSeconds } from '../../domain/time';

/*
 * The state of one workspace-socket connection between invocations (docs/workspace-protocol.md, "Items"):
 * `EIO#<connectionId>` / `SESSION`, indexed under `EIOSESSIONS` by expiry so the heartbeat finds every open
 * one in one Query. Kept apart from the main socket's `CONN#` items on purpose: today's fan-out posts the
 * main socket's JSON to every `CONN#` item, which would break a socket.io client (see bindWorkspaceConnection).
 */

const ALL_SESSIONS = 'EIOSESSIONS';
const sessionKey = (connectionId: string) => ({ pk: `EIO#${connectionId}`, sk: 'SESSION' });

/** What a workspace connection is bound to once `auth` succeeded. */
export interface WorkspaceBinding {
  userId: number;
  workspaceId: number;
  /** Our status (0..2) the connection asked for with `onlineStatus`. */
  status: number;
  /** sessionRefOf(token): a logout finds the connection by it, as the main socket's. */
  session: string;
  sessionExpiresAt: number;
}

export interface EngineSession {
  connectionId: string;
  /** Engine.IO session id (the open packet's `sid`). */
  sid: string;
  connectedAt: number;
  /** When the open packet reached the client: the gateway accepts posts, a 410 from now on is proof of death. */
  openedAt?: number;
  /** Socket.IO session id of the main namespace, once joined. */
  namespaceSid?: string;
  pingSentAt?: number;
  pongAt?: number;
  binding?: WorkspaceBinding;
}

function fromItem(item: Item): EngineSession {
  const number = (value: unknown) => (value === undefined ? undefined : Number(value));
  const session: EngineSession = { connectionId: String(item.connectionId), sid: String(item.sid), connectedAt: Number(item.connectedAt) };
  if (item.openedAt !== undefined) session.openedAt = number(item.openedAt);
  if (typeof item.namespaceSid === 'string') session.namespaceSid = item.namespaceSid;
  if (item.pingSentAt !== undefined) session.pingSentAt = number(item.pingSentAt);
  if (item.pongAt !== undefined) session.pongAt = number(item.pongAt);
  if (item.userId !== undefined) {
    session.binding = {
      userId: Number(item.userId),
      workspaceId: Number(item.workspaceId),
      status: Number(item.status),
      session: String(item.session),
      sessionExpiresAt: Number(item.sessionExpiresAt),
    };
  }
  return session;
}

/** `$connect`: the connection exists, its open packet is not out yet. */
export async function createEngineSession(db: Db, connectionId: string, sid: string, connectedAt: number): Promise<void> {
  const ttl = epochSeconds(connectedAt) + CONNECTION_TTL_SECONDS;
  await db.put({
    ...sessionKey(connectionId),
    [GSI1.partition]: ALL_SESSIONS,
    [GSI1.sort]: `${padId(ttl)}#${connectionId}`,
    connectionId,
    sid,
    connectedAt,
    [TTL_ATTRIBUTE]: ttl,
  });
}

/** Read strongly: `$default` may run right after `$connect` wrote it. */
export async function readEngineSession(db: Db, connectionId: string): Promise<EngineSession | undefined> {
  const item = await db.get(sessionKey(connectionId), { consistent: true });
  return item && Number(item[TTL_ATTRIBUTE]) > epochSeconds(Date.now()) ? fromItem(item) : undefined;
}

/** Sets fields of an existing session; false when it is gone (closed meanwhile). */
export async function updateEngineSession(db: Db, connectionId: string, fields: Record<string, unknown>, condition?: Expr): Promise<boolean> {
  return applied(db.update(sessionKey(connectionId), { set: fields }, { if: allOf(exists, condition) }));
}

export async function deleteEngineSession(db: Db, connectionId: string): Promise<EngineSession | undefined> {
  const old = await db.delete(sessionKey(connectionId), { returning: 'ALL_OLD' });
  return old ? fromItem(old) : undefined;
}

/** Every workspace connection not yet expired (the heartbeat's round), page by page. */
export async function* liveEngineSessions(db: Db, now = Date.now()): AsyncGenerator<EngineSession[]> {
  let start: Item | undefined;
  do {
    const page = await db.queryPage({ index: true, partition: ALL_SESSIONS, after: padId(epochSeconds(now)) }, start);
    yield page.items.map(fromItem);
    start = page.next;
  } while (start);
}

/**
 * THE SEAM for the protocol adapters (issue 15): the authenticated binding of a workspace connection to its
 * user and workspace. Today it is stored on the connection's own session item only, so nothing but this
 * socket reads it: no fan-out reaches the connection and it does not count for presence. The adapter
 * integration replaces the body: register the connection with protocol `workspace` and scope = the
 * workspace id (so fan-out renders workspace events for it and presence counts it), apply `status`
 * through presence, and keep this signature. False when the connection closed meanwhile.
 */
export async function bindWorkspaceConnection(db: Db, connectionId: string, binding: WorkspaceBinding): Promise<boolean> {
  return updateEngineSession(db, connectionId, { ...binding }, ex`attribute_not_exists(userId)`);
}

/**
 * The other half of the seam: `$disconnect` (or a ping timeout) ends the connection. Today it removes the
 * session item; the adapter integration also removes the protocol connection and runs presence's departure.
 */
export async function unbindWorkspaceConnection(db: Db, connectionId: string): Promise<EngineSession | undefined> {
  return deleteEngineSession(db, connectionId);
}
