import type { Hono } from 'hono';
import { blockedBy } from '../../domain/blocks';
import { subscribeUserToServer } from '../../domain/connections';
import { badRequest, forbidden, notFound, TEXT } from '../../domain/errors';
import { events } from '../../domain/events';
import { audience, publish, publishTo, resolveAudience } from '../../domain/fanout';
import { withServerNotifications } from '../../domain/notifications';
import { closeConnections } from '../../domain/presence';
import { fileKeys, storeImage } from '../../domain/files';
import { Perm } from '../../domain/permissions';
import {
  createServer,
  deleteServer,
  listMembers,
  loadServerContext,
  requireMember,
  requirePermission,
  serversOfUser,
  updateServer,
  usersByIds,
  validateServerName,
} from '../../domain/servers';
import { revokeVoiceAccess } from '../../domain/voice-access';
import { appContext } from '../../runtime';
import { fileArg, parseInteger, pathInt, readArgs, readPage, requireUser, textArg } from '../http';
import { VOICE_REASONS } from './voice';
import type { RestEnv } from '../auth';

/** Servers and their members. */
export function serverRoutes(app: Hono<RestEnv>): void {
  app.get('/servers', async (c) => {
    const { db } = appContext();
    const userId = await requireUser(c);
    return c.json(await withServerNotifications(db, userId, await serversOfUser(db, userId)));
  });

  app.post('/servers', async (c) => {
    const context = appContext();
    const userId = await requireUser(c);
    const args = await readArgs(c);
    const name = textArg(args, 'name');
    if (name === undefined) throw badRequest("Couldn't parse 'name', got: nothing");
    validateServerName(name);
    const avatarFile = fileArg(args, 'avatar');
    const avatar = avatarFile ? await storeImage(context.files, avatarFile, fileKeys.serverAvatar) : undefined;
    const serverId = await createServer(context.db, userId, name, context.settings.params.max_servers_owned_per_user, avatar);
    await subscribeUserToServer(context.db, userId, serverId);
    return c.text(String(serverId));
  });

  app.get('/servers/:sid', async (c) => {
    const { db } = appContext();
    const userId = await requireUser(c);
    const { server } = await requireMember(db, pathInt(c, 'sid'), userId);
    return c.json((await withServerNotifications(db, userId, [server]))[0]);
  });

  app.put('/servers/:sid', async (c) => {
    const context = appContext();
    const userId = await requireUser(c);
    const serverId = pathInt(c, 'sid');
    const { server } = await requirePermission(context.db, serverId, userId, Perm.CHANGE_SERVER);
    const args = await readArgs(c);
    const name = textArg(args, 'name');
    const rawOwner = textArg(args, 'owner_id');
    if (name !== undefined) validateServerName(name);
    const avatarFile = fileArg(args, 'avatar');
    let ownerId: number | undefined;
    if (rawOwner !== undefined) {
      ownerId = parseInteger(rawOwner, 'owner_id');
      if (server.owner_id !== userId) throw forbidden('Only the owner can transfer ownership');
      if (ownerId === userId) return c.text('User is already the owner', 202);
      const target = await loadServerContext(context.db, serverId, ownerId);
      if (!target?.member) throw notFound(TEXT.notMember);
    }
    const avatar = avatarFile ? await storeImage(context.files, avatarFile, fileKeys.serverAvatar) : undefined;
    const updated = await updateServer(context.db, server, { name, ownerId, avatar }, context.settings.params.max_servers_owned_per_user);
    if (avatar && server.avatar) await context.files.delete(fileKeys.serverAvatar(server.avatar));
    if (updated) {
      await publish(context, events.serverEdited(updated), audience.server(serverId));
      if (ownerId !== undefined) {
        await publish(context, events.gotServerOwner(serverId), audience.user(ownerId));
        // The former owner keeps only what his roles give him.
        await revokeVoiceAccess(context, context.voice, { serverId, userId }, VOICE_REASONS.noAccess);
      }
    }
    return c.text('Changed');
  });

  app.delete('/servers/:sid', async (c) => {
    const context = appContext();
    const userId = await requireUser(c);
    const { server } = await requireMember(context.db, pathInt(c, 'sid'), userId);
    if (server.owner_id !== userId) throw forbidden('Only the owner can delete the server');
    // The members are gone once the server is; find who to tell first, tell them once it is deleted.
    const recipients = await resolveAudience(context.db, audience.server(server.id));
    await revokeVoiceAccess(context, context.voice, { serverId: server.id, deleting: true }, VOICE_REASONS.serverDeleted);
    await deleteServer(context.db, server);
    await publishTo(context, events.serverDeleted(server.id), recipients);
    // Connections bound to this server (a workspace socket's workspace) have nothing left to serve.
    await closeConnections(context, recipients.filter((recipient) => recipient.scope === String(server.id)));
    return c.text('Deleted');
  });

  app.get('/servers/:sid/users', async (c) => {
    const { db, settings } = appContext();
    const userId = await requireUser(c);
    const serverId = pathInt(c, 'sid');
    await requireMember(db, serverId, userId);
    const args = await readArgs(c);
    const page = readPage(args, settings.params.max_get_count);
    return c.json(await listMembers(db, serverId, page, textArg(args, 'displayname'), await blockedBy(db, userId)));
  });

  app.get('/servers/:sid/users/:uid', async (c) => {
    const { db } = appContext();
    const userId = await requireUser(c);
    const serverId = pathInt(c, 'sid');
    const targetId = pathInt(c, 'uid');
    await requireMember(db, serverId, userId);
    const target = await loadServerContext(db, serverId, targetId);
    if (!target?.member) throw notFound(TEXT.notMember);
    const user = (await usersByIds(db, [targetId])).get(targetId);
    if (!user) throw notFound(TEXT.userNotFound);
    return c.json({ ...user, roles: target.member.roles });
  });
}
