import type { Context, Hono } from 'hono';
import { badRequest, forbidden, notFound, TEXT } from '../../domain/errors';
import { events } from '../../domain/events';
import { audience, publish } from '../../domain/fanout';
import { hasPermission, Perm } from '../../domain/permissions';
import {
  assignRole,
  parseRoleList,
  removeRoleFromMember,
  replaceRoles,
  requireRoleBelow,
  requireUserBelow,
  ROLE_IS_DEFAULT,
  ROLE_NOT_FOUND,
} from '../../domain/roles';
import { loadServerContext, requireMember, requirePermission, subjectOf } from '../../domain/servers';
import { revokeVoiceAccess } from '../../domain/voice-access';
import { appContext } from '../../runtime';
import { VOICE_REASONS } from './voice';
import { pathInt, readJson, requireUser } from '../http';
import type { RestEnv } from '../auth';

/**
 * The checks shared by assigning and removing a member's role (upstream order): the target is a member,
 * the role is the server's, the caller has MANAGE_ROLES, the role ranks below him and so does the
 * target unless he edits himself.
 */
async function authorizeMemberRoleChange(c: Context) {
  const { db } = appContext();
  const callerId = await requireUser(c);
  const serverId = pathInt(c, 'sid');
  const targetId = pathInt(c, 'uid');
  const roleId = pathInt(c, 'rid');
  const context = await requireMember(db, serverId, callerId);
  const target = (await loadServerContext(db, serverId, targetId))?.member;
  if (!target) throw notFound(TEXT.notMember);
  if (!context.roles.some((role) => role.id === roleId)) throw notFound(ROLE_NOT_FOUND);
  const caller = subjectOf(context, callerId);
  if (!hasPermission(caller, Perm.MANAGE_ROLES)) throw forbidden(TEXT.noPermission);
  requireRoleBelow(caller, roleId);
  if (targetId !== callerId) requireUserBelow(caller, targetId, target.roles);
  return { serverId, targetId, roleId, isDefaultRole: roleId === context.roles[context.roles.length - 1].id };
}

/** The server's role list and members' roles. */
export function roleRoutes(app: Hono<RestEnv>): void {
  app.get('/servers/:sid/roles', async (c) => {
    const { roles } = await requireMember(appContext().db, pathInt(c, 'sid'), await requireUser(c));
    return c.json(roles);
  });

  app.put('/servers/:sid/roles', async (c) => {
    const context = appContext();
    const callerId = await requireUser(c);
    const serverId = pathInt(c, 'sid');
    const server = await requirePermission(context.db, serverId, callerId, Perm.MANAGE_ROLES);
    const desired = parseRoleList(await readJson(c));
    const roles = await replaceRoles(context.db, serverId, subjectOf(server, callerId), desired, context.settings.params.max_roles_per_server);
    if (roles) {
      await publish(context, events.rolesUpdated(serverId, roles), audience.server(serverId));
      // Deleted roles, changed permissions and a new order can each take a voice channel from someone.
      await revokeVoiceAccess(context, context.voice, { serverId }, VOICE_REASONS.noAccess);
    }
    return c.text('');
  });

  app.post('/servers/:sid/users/:uid/roles/:rid', async (c) => {
    const context = appContext();
    const { serverId, targetId, roleId } = await authorizeMemberRoleChange(c);
    const result = await assignRole(context.db, serverId, targetId, roleId);
    if (result === 'already') return c.text('User already has that role', 202);
    if (result === 'not-member') throw notFound(TEXT.notMember);
    if (result === 'no-role') throw notFound(ROLE_NOT_FOUND);
    await publish(context, events.roleAssigned(serverId, targetId, roleId), audience.server(serverId, { actor: targetId }));
    // A role can deny as well as allow (JOIN_VC denied above an allowing role).
    await revokeVoiceAccess(context, context.voice, { serverId, userId: targetId }, VOICE_REASONS.noAccess);
    return c.text('Assigned');
  });

  app.delete('/servers/:sid/users/:uid/roles/:rid', async (c) => {
    const context = appContext();
    const { serverId, targetId, roleId, isDefaultRole } = await authorizeMemberRoleChange(c);
    if (isDefaultRole) throw badRequest(ROLE_IS_DEFAULT);
    // Channel whitelists keep the user (docs/upstream.md, decision 9): only his role list changes.
    const result = await removeRoleFromMember(context.db, serverId, targetId, roleId);
    if (result === 'absent') return c.text('User does not have that role', 202);
    if (result === 'not-member') throw notFound(TEXT.notMember);
    await publish(context, events.roleDisallowed(serverId, targetId, roleId), audience.server(serverId, { actor: targetId }));
    await revokeVoiceAccess(context, context.voice, { serverId, userId: targetId }, VOICE_REASONS.noAccess);
    return c.text('Removed');
  });
}
