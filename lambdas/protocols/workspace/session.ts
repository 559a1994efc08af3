import { randomBytes } from 'node:crypto';
import { CONNECT_WINDOW_MS } from '../../domain/connections';
import { log } from '../../domain/log';
import { authenticateWorkspace, transactionOf, WORKSPACE_ERRORS, WorkspaceError } from './auth';
import type { WorkspaceContext, WorkspaceOpened } from './context';
import { admitWorkspaceFrame } from './frame-limit';
import { ackPacket, connectErrorPacket, connectPacket, eventPacket, MAIN_NAMESPACE, openPacket, parseFrame, PING_PACKET, validateHandshake } from './engineio';
import {
  bindWorkspaceConnection,
  createEngineSession,
  type EngineSession,
  liveEngineSessions,
  readEngineSession,
  unbindWorkspaceConnection,
  updateEngineSession,
} from './store';

/*
 * The workspace socket's life cycle over API Gateway events (docs/protocol.md, the workspace protocol): `$connect` checks
 * the handshake and stores the session, the after-connect step sends the open packet, `$default` handles one
 * Engine.IO packet per frame, a scheduled heartbeat pings, `$disconnect` forgets.
 */

const newSid = () => randomBytes(15).toString('base64url');

export interface ConnectOutcome {
  statusCode: number;
  body?: string;
}

/** `$connect`: a refused handshake is an HTTP 400 with Engine.IO's `{code, message}`. */
export async function connectWorkspace(context: WorkspaceContext, connectionId: string, query: Record<string, string | undefined> | null | undefined): Promise<ConnectOutcome> {
  const verdict = validateHandshake(query);
  if (!verdict.ok) return { statusCode: verdict.statusCode, body: verdict.body };
  const sid = newSid();
  const connectedAt = Date.now();
  await createEngineSession(context.db, connectionId, sid, connectedAt);
  await context.afterConnect.schedule({ connectionId, connectedAt, sid });
  return { statusCode: 200 };
}

/**
 * The after-connect step: posts the open packet as soon as the gateway accepts posts to the connection
 * (after `$connect` returned), retrying a 410 with a growing delay while the connection may still be inside
 * its `$connect` (at most CONNECT_WINDOW_MS), as confirmConnectionOpen does for the main socket. Returns
 * whether the client got it.
 */
export async function deliverOpenPacket(context: WorkspaceContext, opened: WorkspaceOpened): Promise<boolean> {
  const { db, sender } = context;
  let sid = opened.sid;
  for (let delay = 5; ; delay = Math.min(delay * 2, 1000)) {
    if (sid === undefined) {
      const session = await readEngineSession(db, opened.connectionId);
      if (!session) return false;
      sid = session.sid;
    }
    const postedAt = Date.now();
    if ((await sender.post(opened.connectionId, openPacket(sid, context.settings))) === 'sent') {
      return updateEngineSession(db, opened.connectionId, { openedAt: Date.now() });
    }
    if (postedAt - opened.connectedAt > CONNECT_WINDOW_MS) {
      await unbindWorkspaceConnection(context.fanout, opened.connectionId);
      return false;
    }
    // Closed meanwhile ($disconnect removed the session): nothing to open.
    if (!(await readEngineSession(db, opened.connectionId))) return false;
    await new Promise((resolve) => setTimeout(resolve, delay));
  }
}

/** Longer names are cut in `socket-api-error`'s `event`, as the main socket cuts unknown event names. */
function shownName(name: string): string {
  return name.length > 64 ? `${name.slice(0, 64)}...` : name;
}

/** One event of the client on the main namespace: `auth`, or an error (before auth, or unknown). */
async function handleEvent(context: WorkspaceContext, session: EngineSession, name: string, args: unknown[], ackId: number | undefined): Promise<void> {
  const { db, sender } = context;
  const post = (frame: string) => sender.post(session.connectionId, frame);
  const data = args[0];
  const { transaction } = transactionOf(data);
  try {
    if (name === 'auth') {
      if (session.binding) throw new WorkspaceError(WORKSPACE_ERRORS.alreadyAuthenticated);
      const binding = await authenticateWorkspace(db, data);
      // False: another auth of this connection won the race, or the connection closed meanwhile.
      if (!(await bindWorkspaceConnection(context.fanout, session.connectionId, binding))) throw new WorkspaceError(WORKSPACE_ERRORS.alreadyAuthenticated);
      const success = { ...(transaction !== undefined ? { transaction } : {}), userId: String(binding.userId) };
      await post(eventPacket('auth-success', success));
      if (ackId !== undefined) await post(ackPacket(ackId, [success]));
      return;
    }
    throw new WorkspaceError(session.binding ? WORKSPACE_ERRORS.unknownEvent : WORKSPACE_ERRORS.notAuthenticated);
  } catch (error) {
    let message: string;
    if (error instanceof WorkspaceError) message = error.message;
    else {
      log().error(`workspace event ${shownName(name)}`, error);
      message = WORKSPACE_ERRORS.internal;
    }
    await post(eventPacket('socket-api-error', { event: shownName(name), message }));
    if (transaction !== undefined) await post(eventPacket(`socket-api-error-${transaction}`, { message }));
    if (ackId !== undefined) await post(ackPacket(ackId, [{ error: message }]));
  }
}

/** `$default`: one Engine.IO packet. Invalid packets and client closes end the connection. */
export async function handleWorkspaceFrame(context: WorkspaceContext, connectionId: string, body: string | null | undefined): Promise<void> {
  const { db, sender } = context;
  const incoming = parseFrame(body);
  // Counted before anything is read: a flood costs what the main socket's does.
  if (!(await admitWorkspaceFrame(context, connectionId, incoming.kind === 'event' ? shownName(incoming.name) : undefined))) return;
  const session = await readEngineSession(db, connectionId);
  // No session: it was closed for a ping timeout (the close may have failed), or never stored.
  if (!session) return sender.close(connectionId);
  switch (incoming.kind) {
    case 'pong':
      if (session.pingSentAt !== undefined) await updateEngineSession(db, connectionId, { pongAt: Date.now() });
      return;
    case 'noop':
    case 'ack':
      // This server never asks for acks: nothing waits for one.
      return;
    case 'close':
    case 'invalid':
      return sender.close(connectionId);
    case 'connect': {
      if (incoming.nsp !== MAIN_NAMESPACE) {
        await sender.post(connectionId, connectErrorPacket(incoming.nsp, 'Invalid namespace'));
        return;
      }
      const namespaceSid = session.namespaceSid ?? newSid();
      if (!session.namespaceSid) await updateEngineSession(db, connectionId, { namespaceSid });
      await sender.post(connectionId, connectPacket(namespaceSid));
      return;
    }
    case 'disconnect':
      // Leaving the only namespace leaves nothing to serve on this connection.
      if (incoming.nsp === MAIN_NAMESPACE) return sender.close(connectionId);
      return;
    case 'event':
      // Packets of a namespace the client has not joined are dropped, as the reference server does.
      if (incoming.nsp !== MAIN_NAMESPACE || !session.namespaceSid) return;
      return handleEvent(context, session, incoming.name, incoming.args, incoming.ackId);
  }
}

/** `$disconnect` (and a ping timeout): the connection's state goes. */
export async function disconnectWorkspace(context: WorkspaceContext, connectionId: string): Promise<void> {
  await unbindWorkspaceConnection(context.fanout, connectionId);
}

/** How many connections one heartbeat round serves at once. */
const HEARTBEAT_CONCURRENCY = 32;

/**
 * One heartbeat round (a scheduled function every minute on AWS, a timer of the local runtime): every open
 * connection without an outstanding ping gets one; a connection whose ping has waited `pingTimeout`
 * without a pong is closed. The round's period is the ping interval. Returns the counts.
 */
export async function workspaceHeartbeat(context: WorkspaceContext, now = Date.now()): Promise<{ pinged: number; closed: number }> {
  const { db, sender, settings } = context;
  let pinged = 0;
  let closed = 0;
  const beat = async (session: EngineSession) => {
    // The open packet is not out yet: its delivery is still trying (a post now would meet the same 410).
    if (session.openedAt === undefined) return;
    // Never authenticated within the auth timeout: closed (as a ping timeout), whatever it answers.
    if (!session.binding && now - session.openedAt >= settings.authTimeoutMs) {
      closed++;
      await unbindWorkspaceConnection(context.fanout, session.connectionId);
      await sender.close(session.connectionId);
      return;
    }
    const outstanding = session.pingSentAt !== undefined && (session.pongAt ?? 0) < session.pingSentAt;
    if (outstanding) {
      if (now - session.pingSentAt! < settings.pingTimeoutMs) return;
      closed++;
      await unbindWorkspaceConnection(context.fanout, session.connectionId);
      await sender.close(session.connectionId);
      return;
    }
    // Stored before the post: a pong that overtakes the write would otherwise look older than the ping.
    if (!(await updateEngineSession(db, session.connectionId, { pingSentAt: Date.now() }))) return;
    if ((await sender.post(session.connectionId, PING_PACKET)) === 'gone') {
      // Known open, so a 410 is proof that its $disconnect was lost.
      await unbindWorkspaceConnection(context.fanout, session.connectionId);
      return;
    }
    pinged++;
  };
  for await (const page of liveEngineSessions(db, now)) {
    let next = 0;
    const worker = async () => {
      while (next < page.length) {
        const session = page[next++];
        await beat(session).catch((error) => log().error('workspace heartbeat', error));
      }
    };
    await Promise.all(Array.from({ length: Math.min(HEARTBEAT_CONCURRENCY, page.length) }, worker));
  }
  return { pinged, closed };
}
