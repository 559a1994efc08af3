import type { Hono } from 'hono';
import { forbidden, notFound, TEXT } from '../../domain/errors';
import { events } from '../../domain/events';
import { audience, publish } from '../../domain/fanout';
import { removeMember } from '../../domain/members';
import { Perm } from '../../domain/permissions';
import { closeConnectionsScopedTo } from '../../domain/presence';
import { requireUserBelow } from '../../domain/roles';
import { loadServerContext, requireMember, requirePermission, subjectOf } from '../../domain/servers';
import { revokeVoiceAccess } from '../../domain/voice-access';
import { appContext } from '../../runtime';
import { pathInt, requireUser } from '../http';
import { VOICE_REASONS } from './voice';
import type { RestEnv } from '../auth';

/** Kicking members (leaving a server is kicking oneself, as upstream). */
export function memberRoutes(app: Hono<RestEnv>): void {
  app.delete('/servers/:sid/users/:uid', async (c) => {
    const context = appContext();
    const callerId = await requireUser(c);
    const serverId = pathInt(c, 'sid');
    const targetId = pathInt(c, 'uid');
    // Kicking oneself is how one leaves a server; upstream wants KICK_MEMBERS even for that, which would
    // lock plain members in, so any member but the owner may leave. Kicking others takes
    // KICK_MEMBERS as documented, not upstream's BAN_MEMBERS (docs/upstream.md, decision 5).
    const server =
      targetId === callerId
        ? await requireMember(context.db, serverId, callerId)
        : await requirePermission(context.db, serverId, callerId, Perm.KICK_MEMBERS);
    const target = targetId === callerId ? server.member : (await loadServerContext(context.db, serverId, targetId))?.member;
    if (!target) throw notFound(TEXT.notMember);
    if (targetId === server.server.owner_id) throw forbidden('Owner cannot be kicked');
    if (targetId !== callerId) requireUserBelow(subjectOf(server, callerId), targetId, target.roles);
    if (!(await removeMember(context.db, serverId, targetId, server.server.owner_id))) throw notFound(TEXT.notMember);
    await revokeVoiceAccess(context, context.voice, { serverId, userId: targetId }, VOICE_REASONS.removedFromServer);
    const kicked = events.userKicked(serverId, targetId);
    await publish(context, kicked, [audience.server(serverId, { actor: targetId }), audience.user(targetId)]);
    // After the event: his workspace connections of this server hear `user-leaved-workspace` first.
    await closeConnectionsScopedTo(context, targetId, serverId);
    return c.text('Kicked');
  });
}
