import { isBanned } from '../../domain/bans';
import type { Db } from '../../domain/db';
import { DomainError, TEXT } from '../../domain/errors';
import { loadServerContext } from '../../domain/servers';
import { readSession } from '../../domain/sessions';
import { statusOfOnlineStatus } from './mapping';
import type { WorkspaceBinding } from './store';

/** The `socket-api-error` messages of this socket (docs/protocol.md, the workspace protocol, "Errors"). */
export const WORKSPACE_ERRORS = {
  notAuthenticated: 'Not authenticated: send auth first',
  alreadyAuthenticated: 'Already authenticated: one connection serves one workspace',
  unknownEvent: 'Unknown event',
  invalidData: 'Invalid data: expected an object',
  invalidTransaction: 'Invalid transaction: expected a string of 1 to 128 characters',
  invalidWorkspace: 'Invalid workspaceId: expected a server id as a string',
  invalidOnlineStatus: "Invalid onlineStatus: expected 'online', 'idle' or 'offline'",
  banned: 'User is banned from the server',
  notMember: TEXT.notMember,
  unknownWorkspace: TEXT.serverNotFound,
  invalidToken: TEXT.invalidToken,
  internal: 'Internal server error',
} as const;

/** A refused client event: its message goes out as `socket-api-error`. */
export class WorkspaceError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'WorkspaceError';
  }
}

const MAX_TRANSACTION_LENGTH = 128;

/**
 * The `transaction` of an event's data, when it has a usable one: a string, since it names an event
 * (`socket-api-error-<transaction>`). `invalid` when present but not such a string.
 */
export function transactionOf(data: unknown): { transaction?: string; invalid?: true } {
  if (typeof data !== 'object' || data === null || Array.isArray(data) || !Object.hasOwn(data, 'transaction')) return {};
  const transaction = (data as { transaction?: unknown }).transaction;
  if (transaction === undefined) return {};
  if (typeof transaction !== 'string' || transaction.length < 1 || transaction.length > MAX_TRANSACTION_LENGTH) return { invalid: true };
  return { transaction };
}

/** Server ids are positive integers; on this protocol they travel as decimal strings. */
function parseWorkspaceId(value: unknown): number | undefined {
  if (typeof value !== 'string' || !/^[1-9][0-9]{0,14}$/.test(value)) return undefined;
  return Number(value);
}

/**
 * `auth {transaction?, token, workspaceId, onlineStatus?}`: `token` a session of REST `POST /auth`,
 * `workspaceId` a server the user is a member of and not banned from, `onlineStatus` online|idle|offline
 * (default online). The shape is checked before any read; every refusal is a WorkspaceError.
 */
export async function authenticateWorkspace(db: Db, data: unknown): Promise<WorkspaceBinding> {
  if (typeof data !== 'object' || data === null || Array.isArray(data)) throw new WorkspaceError(WORKSPACE_ERRORS.invalidData);
  const input = data as { token?: unknown; workspaceId?: unknown; onlineStatus?: unknown };
  if (transactionOf(data).invalid) throw new WorkspaceError(WORKSPACE_ERRORS.invalidTransaction);
  if (typeof input.token !== 'string') throw new WorkspaceError(WORKSPACE_ERRORS.invalidToken);
  const workspaceId = parseWorkspaceId(input.workspaceId);
  if (workspaceId === undefined) throw new WorkspaceError(WORKSPACE_ERRORS.invalidWorkspace);
  const status = input.onlineStatus === undefined ? statusOfOnlineStatus('online') : statusOfOnlineStatus(input.onlineStatus);
  if (status === undefined) throw new WorkspaceError(WORKSPACE_ERRORS.invalidOnlineStatus);
  let session;
  try {
    session = await readSession(db, input.token);
  } catch (error) {
    // `Invalid token` (malformed) or `Expired or invalid token`, as REST and the main socket say.
    if (error instanceof DomainError) throw new WorkspaceError(error.text);
    throw error;
  }
  const [server, banned] = await Promise.all([loadServerContext(db, workspaceId, session.userId, true), isBanned(db, workspaceId, session.userId)]);
  if (!server) throw new WorkspaceError(WORKSPACE_ERRORS.unknownWorkspace);
  // A ban removes the membership: asked first, so the banned user learns why.
  if (banned) throw new WorkspaceError(WORKSPACE_ERRORS.banned);
  if (!server.member) throw new WorkspaceError(WORKSPACE_ERRORS.notMember);
  return { userId: session.userId, workspaceId, status, session: session.ref, sessionExpiresAt: session.expiresAt };
}
