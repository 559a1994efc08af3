import { CONNECTION_TTL_SECONDS, markConnectionOpen, type Recipient } from '../../domain/connections';
import { allOf, applied, type Db, exists, type Expr, type Item, ex } from '../../domain/db';
import type { FanoutContext } from '../../domain/fanout';
import { closeConnection, openConnection } from '../../domain/presence';
import { build } from '../../domain/items';
import { keys, padId, TTL_ATTRIBUTE } from '../../domain/table';
import { epochSeconds } from '../../domain/time';

/*
 * The state of one workspace-socket connection between invocations (docs/protocol.md, the workspace protocol, "Items"):
 * `EIO#<connectionId>` / `SESSION`, indexed under `EIOSESSIONS` by expiry so the heartbeat finds every open
 * one in one Query. Once `auth` bound it, the connection also has the `CONN#` items of every connection
 * (protocol `workspace`), through which the fan-out and presence know it (bindWorkspaceConnection).
 */

const ALL_SESSIONS = keys.allEngineSessionsIndex();
const sessionKey = keys.engineSession;

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
  await db.put(build.engineSession(connectionId, sid, connectedAt, ttl));
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

/** The protocol name of workspace connections (lambdas/protocols/workspace/index.ts). */
export const WORKSPACE_PROTOCOL = 'workspace';

/** The fan-out recipient a bound workspace connection stands for. */
export function workspaceRecipient(connectionId: string, binding: WorkspaceBinding): Recipient {
  return {
    userId: binding.userId,
    connectionId,
    sessionExpiresAt: binding.sessionExpiresAt,
    protocol: WORKSPACE_PROTOCOL,
    scope: String(binding.workspaceId),
  };
}

/**
 * The authenticated binding of a workspace connection to its user and workspace: stored on the session item
 * (the Engine.IO state), then the connection is registered with presence as protocol `workspace` and scope =
 * the workspace id, so the fan-out renders workspace events for it and it counts for presence (shared with
 * the main socket), with `status` as the requested status. False when the connection closed meanwhile or
 * was already bound.
 */
export async function bindWorkspaceConnection(context: FanoutContext, connectionId: string, binding: WorkspaceBinding): Promise<boolean> {
  if (!(await updateEngineSession(context.db, connectionId, { ...binding }, ex`attribute_not_exists(userId)`))) return false;
  const recipient = workspaceRecipient(connectionId, binding);
  await openConnection(context, recipient, binding.status, Date.now(), { session: binding.session });
  // The client's `auth` came over this connection: it is open, so a 410 from now on proves it gone.
  await markConnectionOpen(context.db, recipient);
  // A `$disconnect` that ran between the two writes above found no connection item to remove: remove it now.
  if (!(await readEngineSession(context.db, connectionId))) {
    await closeConnection(context, connectionId);
    return false;
  }
  return true;
}

/**
 * `$disconnect` (or a ping timeout) ends the connection: its session item goes, and its protocol connection
 * through presence's close path (its user goes offline when this was his last connection of any protocol).
 */
export async function unbindWorkspaceConnection(context: FanoutContext, connectionId: string): Promise<EngineSession | undefined> {
  const session = await deleteEngineSession(context.db, connectionId);
  await closeConnection(context, connectionId);
  return session;
}
