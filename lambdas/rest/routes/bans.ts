import type { Hono } from 'hono';
import { banMember, changeBanExpiry, findBan, isBanned, liftBan, listBans } from '../../domain/bans';
import { forbidden, notFound, TEXT } from '../../domain/errors';
import { events } from '../../domain/events';
import { audience, publish } from '../../domain/fanout';
import { Perm } from '../../domain/permissions';
import { closeConnectionsScopedTo } from '../../domain/presence';
import { requireUserBelow } from '../../domain/roles';
import { loadServerContext, requirePermission, subjectOf } from '../../domain/servers';
import { getUser } from '../../domain/users';
import { revokeVoiceAccess } from '../../domain/voice-access';
import { appContext } from '../../runtime';
import { pathInt, readArgs, readExpiry, readPage, requireUser } from '../http';
import { VOICE_REASONS } from './voice';
import type { RestEnv } from '../auth';

/** `expires`: an ISO-8601 timestamp with its zone (normalized to UTC) or `never`; required. */

/** Bans (BAN_MEMBERS): banning takes a user id, changing and lifting take a ban id. */
export function banRoutes(app: Hono<RestEnv>): void {
  app.get('/servers/:sid/bans', async (c) => {
    const { db, settings } = appContext();
    const serverId = pathInt(c, 'sid');
    await requirePermission(db, serverId, await requireUser(c), Perm.BAN_MEMBERS);
    const page = readPage(await readArgs(c), settings.params.max_get_count);
    return c.json(await listBans(db, serverId, page));
  });

  app.post('/servers/:sid/bans/:uid', async (c) => {
    const context = appContext();
    const callerId = await requireUser(c);
    const serverId = pathInt(c, 'sid');
    const targetId = pathInt(c, 'uid');
    const server = await requirePermission(context.db, serverId, callerId, Perm.BAN_MEMBERS);
    const expires = readExpiry(await readArgs(c));
    if (await isBanned(context.db, serverId, targetId)) return c.text(TEXT.alreadyBanned, 202);
    const target = (await loadServerContext(context.db, serverId, targetId))?.member;
    if (!target) throw notFound(TEXT.notMember);
    if (targetId === server.server.owner_id) throw forbidden('Owner cannot be banned');
    // Unlike kicking, banning oneself is no exception to the hierarchy.
    requireUserBelow(subjectOf(server, callerId), targetId, target.roles);
    const ban = await banMember(context.db, serverId, targetId, expires, server.server.owner_id);
    if (!ban) return c.text(TEXT.alreadyBanned, 202);
    await revokeVoiceAccess(context, context.voice, { serverId, userId: targetId }, VOICE_REASONS.removedFromServer);
    const user = await getUser(context.db, targetId);
    const banned = events.userBanned(serverId, ban.id, user, ban.expires);
    await publish(context, banned, [audience.server(serverId), audience.user(targetId)]);
    // After the event: his workspace connections of this server hear `user-leaved-workspace` first.
    await closeConnectionsScopedTo(context, targetId, serverId);
    return c.text('Banned');
  });

  app.put('/servers/:sid/bans/:bid', async (c) => {
    const context = appContext();
    const serverId = pathInt(c, 'sid');
    await requirePermission(context.db, serverId, await requireUser(c), Perm.BAN_MEMBERS);
    const banId = pathInt(c, 'bid');
    const expires = readExpiry(await readArgs(c));
    const ban = await findBan(context.db, serverId, banId);
    if (expires !== ban.expires) {
      await changeBanExpiry(context.db, ban, expires);
      await publish(context, events.banChanged(serverId, banId, expires), audience.server(serverId));
    }
    return c.text('Changed');
  });

  app.delete('/servers/:sid/bans/:bid', async (c) => {
    const context = appContext();
    const serverId = pathInt(c, 'sid');
    await requirePermission(context.db, serverId, await requireUser(c), Perm.BAN_MEMBERS);
    const ban = await findBan(context.db, serverId, pathInt(c, 'bid'));
    await liftBan(context.db, ban);
    await publish(context, events.userUnbanned(serverId, ban.id), audience.server(serverId));
    return c.text('Unbanned');
  });
}
