import { decodeJwt } from 'jose';
import { IssuerUnavailable, TokenRefused, verifierFor } from '../../domain/desk/oidc';
import { ensureUser } from '../../domain/desk/store';
import { TEXT } from '../../domain/errors';
import { senderFor } from '../../domain/fanout';
import { appendLogFields, log } from '../../domain/log';
import type { ConnectionSender } from '../../domain/ports';
import { connectAttemptAllowed, countRequest } from '../../domain/rate-counters';
import { FrameGate, frameLimitText } from '../../domain/rate-limits';
import type { AppContext } from '../../runtime';
import { decodeDeskFrame, DESK_PONG, deskErrorFrame } from './frames';
import { closeDeskConnection, openDeskConnection } from './presence';
import { DESK_PROTOCOL, deskRecipient } from './store';

/*
 * The desk socket's handlers' work (lambdas/socket-desk/ are their thin Lambda entry points): sign-in by an
 * OpenID Connect access token on the upgrade, presence, and the answer to client frames (seed 004 has none).
 */

export const DESK_SOCKET_TEXT = {
  notConfigured: 'The support desk is not configured',
  missing: 'Missing token',
  invalid: 'Invalid or expired token',
  issuerUnavailable: 'Identity provider unavailable',
} as const;

export interface DeskUpgrade {
  connectionId: string;
  query?: Record<string, string | undefined> | null;
  /** `Authorization: Bearer` also carries the token (clients that can set headers); `?token=` wins. */
  authorization?: string;
  sourceIp?: string;
}

/** The sender of desk connections: the desk socket's own API (DESK_MANAGEMENT_ENDPOINT; locally its gateway). */
export function deskSender(context: AppContext): ConnectionSender {
  const sender = senderFor(context, DESK_PROTOCOL);
  if (!sender) throw new Error('environment variable DESK_MANAGEMENT_ENDPOINT is not set');
  return sender;
}

/**
 * `$connect`: 404 without a configured desk; 429 over the connect budget of the source address; 401 for a
 * missing or refused token (forged, expired, not yet valid, other issuer or audience, `alg: none`...); 503
 * when the issuer's keys cannot be had. Otherwise the desk user (created on first sight) is connected until
 * his token expires: the fan-out closes the connection at its first event after that (docs/desk.md).
 */
export async function connectDesk(context: AppContext, upgrade: DeskUpgrade): Promise<{ statusCode: number; body?: string }> {
  const oidc = context.settings.desk;
  if (!oidc) return { statusCode: 404, body: DESK_SOCKET_TEXT.notConfigured };
  deskSender(context);
  if (!(await connectAttemptAllowed(context.db, context.settings.rateLimits.connects, upgrade.sourceIp && `ip:${upgrade.sourceIp}`))) {
    return { statusCode: 429, body: TEXT.tooManyRequests };
  }
  const bearer = /^Bearer\s+(\S+)\s*$/i.exec(upgrade.authorization ?? '')?.[1];
  const token = upgrade.query?.token || bearer;
  if (!token) return { statusCode: 401, body: DESK_SOCKET_TEXT.missing };
  let identity;
  try {
    identity = await verifierFor(oidc).verify(token);
  } catch (error) {
    if (error instanceof TokenRefused) return { statusCode: 401, body: DESK_SOCKET_TEXT.invalid };
    if (error instanceof IssuerUnavailable) {
      log().error('desk-socket sign-in', error);
      return { statusCode: 503, body: DESK_SOCKET_TEXT.issuerUnavailable };
    }
    throw error;
  }
  const user = await ensureUser(context.db, identity);
  appendLogFields({ deskUserId: user.id });
  // Verified above: `exp` is there (a required claim).
  const expiresAt = Number(decodeJwt(token).exp) * 1000;
  try {
    await openDeskConnection(context, user, deskRecipient(user.id, upgrade.connectionId, expiresAt));
  } catch (error) {
    // The upgrade is refused, so no `$disconnect` will come: undo what was stored (best effort; the TTL does the rest).
    await closeDeskConnection(context, upgrade.connectionId).catch(() => undefined);
    throw error;
  }
  return { statusCode: 200 };
}

/** `$disconnect` (best effort on API Gateway: a 410 and the TTL remove what it misses). */
export async function disconnectDesk(context: AppContext, connectionId: string): Promise<void> {
  await closeDeskConnection(context, connectionId);
}

/** One per handler instance, as the main socket's (lambdas/socket/frame-limit.ts). */
const gate = new FrameGate();

/**
 * `$default`: every client frame. Seed 004 defines none: a keepalive `{"event_type": "ping"}` is answered
 * with `{"event_type": "pong"}`, any other frame with an `error` event (its connection stays open), within the socket frame budget (RATE_LIMIT_SOCKET): over it frames are dropped, the window's first
 * refusal is told, twice the budget closes the connection.
 */
export async function handleDeskFrame(context: AppContext, connectionId: string, body: string | null | undefined): Promise<void> {
  const sender = deskSender(context);
  const limits = context.settings.rateLimits;
  const limit = limits.socketFrames;
  const decision = await gate
    .admit(connectionId, limit, limits.socketFreeFrames, (amount) => countRequest(context.db, 'socket', connectionId, limit!, { amount }))
    .catch((error) => {
      // A failing counter lets the frame through: the limit protects the system, it must not take it down.
      log().error('desk-socket frame limit', error);
      return 'handle' as const;
    });
  if (decision === 'refuse') await sender.post(connectionId, deskErrorFrame(frameLimitText(limit!)));
  if (decision === 'close') await sender.close(connectionId);
  if (decision !== 'handle') return;
  const command = decodeDeskFrame(body);
  if (command.type === 'ping') await sender.post(connectionId, DESK_PONG);
  if (command.type === 'invalid') await sender.post(connectionId, deskErrorFrame(command.reason));
}
