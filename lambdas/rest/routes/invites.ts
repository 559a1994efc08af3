import type { Hono } from 'hono';
import { isBanned } from '../../domain/bans';
import { subscribeUserToServer } from '../../domain/connections';
import { badRequest, forbidden, notFound, TEXT } from '../../domain/errors';
import { events } from '../../domain/events';
import { audience, publish } from '../../domain/fanout';
import {
  changeInviteExpiry,
  createInvite,
  deleteInvite,
  findInvite,
  INVITE_NOT_FOUND,
  inviteOfServer,
  listInvites,
} from '../../domain/invites';
import { Perm } from '../../domain/permissions';
import { addMember, loadServerContext, requirePermission } from '../../domain/servers';
import { isUuid } from '../../domain/sessions';
import { isExpired } from '../../domain/time';
import { getUser } from '../../domain/users';
import { appContext } from '../../runtime';
import { pathInt, readArgs, readExpiry, requireUser } from '../http';
import type { RestEnv } from '../auth';


function inviteIdOf(raw: string): string {
  if (!isUuid(raw)) throw badRequest(`Couldn't parse 'invite_id', got: ${raw}`);
  return raw.toLowerCase();
}

/** Invites: managing them (MANAGE_INVITES) and using them to join. */
export function inviteRoutes(app: Hono<RestEnv>): void {
  app.get('/servers/:sid/invites', async (c) => {
    const { db } = appContext();
    const serverId = pathInt(c, 'sid');
    await requirePermission(db, serverId, await requireUser(c), Perm.MANAGE_INVITES);
    return c.json(await listInvites(db, serverId));
  });

  app.post('/servers/:sid/invites', async (c) => {
    const { db, settings } = appContext();
    const serverId = pathInt(c, 'sid');
    await requirePermission(db, serverId, await requireUser(c), Perm.MANAGE_INVITES);
    const expires = readExpiry(await readArgs(c));
    return c.text(await createInvite(db, serverId, expires, settings.params.max_invites_per_server));
  });

  app.get('/servers/:sid/invites/:iid', async (c) => {
    const { db } = appContext();
    const serverId = pathInt(c, 'sid');
    await requirePermission(db, serverId, await requireUser(c), Perm.MANAGE_INVITES);
    return c.json(await inviteOfServer(db, serverId, inviteIdOf(c.req.param('iid'))));
  });

  app.put('/servers/:sid/invites/:iid', async (c) => {
    const { db } = appContext();
    const serverId = pathInt(c, 'sid');
    await requirePermission(db, serverId, await requireUser(c), Perm.MANAGE_INVITES);
    const invite = await inviteOfServer(db, serverId, inviteIdOf(c.req.param('iid')));
    await changeInviteExpiry(db, invite, readExpiry(await readArgs(c)));
    return c.text('Changed');
  });

  app.delete('/servers/:sid/invites/:iid', async (c) => {
    const { db } = appContext();
    const serverId = pathInt(c, 'sid');
    await requirePermission(db, serverId, await requireUser(c), Perm.MANAGE_INVITES);
    await deleteInvite(db, await inviteOfServer(db, serverId, inviteIdOf(c.req.param('iid'))));
    return c.text('Deleted');
  });

  /** Preview of the server an invite leads to; needs no session. */
  app.get('/server_invites/:iid', async (c) => {
    const { db } = appContext();
    const invite = await findInvite(db, inviteIdOf(c.req.param('iid')));
    if (!invite) throw notFound(INVITE_NOT_FOUND);
    if (isExpired(invite.expires)) throw forbidden(TEXT.inviteExpired);
    const server = await loadServerContext(db, invite.server_id, -1);
    if (!server) throw notFound(INVITE_NOT_FOUND);
    return c.json(server.server);
  });

  app.post('/server_invites/:iid', async (c) => {
    const context = appContext();
    const userId = await requireUser(c);
    const invite = await findInvite(context.db, inviteIdOf(c.req.param('iid')));
    if (!invite) throw notFound(INVITE_NOT_FOUND);
    if (isExpired(invite.expires)) throw forbidden(TEXT.inviteExpired);
    const server = await loadServerContext(context.db, invite.server_id, userId);
    if (!server) throw notFound(INVITE_NOT_FOUND);
    if (server.member) return c.text(TEXT.alreadyMember, 202);
    if (await isBanned(context.db, invite.server_id, userId)) throw forbidden('User is banned from the server');
    const defaultRole = server.roles[server.roles.length - 1];
    if (!(await addMember(context.db, invite.server_id, userId, defaultRole.id))) {
      return c.text(TEXT.alreadyMember, 202);
    }
    await subscribeUserToServer(context.db, userId, invite.server_id);
    const user = await getUser(context.db, userId);
    await publish(context, events.userJoined(invite.server_id, user), audience.server(invite.server_id, { actor: userId }));
    return c.text('Joined');
  });
}
