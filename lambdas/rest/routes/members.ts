import type { Hono } from 'hono';
import type { Recipient } from '../../domain/connections';
import { forbidden, notFound, TEXT } from '../../domain/errors';
import { event, type SocketEvent } from '../../domain/events';
import { type Audience, audience, type FanoutContext, publishTo, resolveAudience } from '../../domain/fanout';
import { removeMember } from '../../domain/members';
import { Perm } from '../../domain/permissions';
import { requireUserBelow } from '../../domain/roles';
import { loadServerContext, requirePermission, subjectOf } from '../../domain/servers';
import { endVoice } from '../../domain/voice-control';
import { appContext } from '../../runtime';
import { pathInt, requireUser } from '../http';
import { endVoiceQuietly, VOICE_REASONS } from './voice';

/**
 * Tells the remaining members (`members`) and the user who was just removed from the server (kick, ban),
 * each connection once even should he be back among the members already.
 */
export async function publishToMembersAndRemovedUser(
  context: FanoutContext,
  message: SocketEvent,
  members: Audience,
  removedUserId: number,
): Promise<void> {
  const [remaining, removed] = await Promise.all([resolveAudience(context.db, members), resolveAudience(context.db, audience.user(removedUserId))]);
  const seen = new Set<string>();
  const recipients = [...remaining, ...removed].filter((r: Recipient) => !seen.has(r.connectionId) && seen.add(r.connectionId));
  await publishTo(context, message, recipients);
}

/** Kicking members (leaving a server is kicking oneself, as upstream). */
export function memberRoutes(app: Hono): void {
  app.delete('/servers/:sid/users/:uid', async (c) => {
    const context = appContext();
    const callerId = await requireUser(c);
    const serverId = pathInt(c, 'sid');
    const targetId = pathInt(c, 'uid');
    // KICK_MEMBERS as documented, not upstream's BAN_MEMBERS (PROTOCOL.md Part A item 5).
    const server = await requirePermission(context.db, serverId, callerId, Perm.KICK_MEMBERS);
    const target = targetId === callerId ? server.member : (await loadServerContext(context.db, serverId, targetId))?.member;
    if (!target) throw notFound(TEXT.notMember);
    if (targetId === server.server.owner_id) throw forbidden('Owner cannot be kicked');
    if (targetId !== callerId) requireUserBelow(subjectOf(server, callerId), targetId, target.roles);
    if (!(await removeMember(context.db, serverId, targetId, server.server.owner_id))) throw notFound(TEXT.notMember);
    await endVoiceQuietly(() => endVoice(context.db, context.voice, { userId: targetId, serverId }, VOICE_REASONS.removedFromServer));
    const kicked = event('user_kicked', { id: targetId, server_id: serverId });
    await publishToMembersAndRemovedUser(context, kicked, audience.server(serverId, { actor: targetId }), targetId);
    return c.text('Kicked');
  });
}
