import type { Context, Hono } from 'hono';
import { accessChannel, channelAudience } from '../../domain/access';
import { blockedBy } from '../../domain/blocks';
import {
  type Channel,
  CHANNEL_TYPE,
  canSeeChannel,
  channelsOfServer,
  channelView,
  createChannel,
  deleteChannel,
  overridesOf,
  setChannelOverride,
  updateChannel,
  validateChannelName,
} from '../../domain/channels';
import { badRequest, forbidden, notFound, TEXT } from '../../domain/errors';
import { events } from '../../domain/events';
import { audience, publish, publishTo, resolveAudience } from '../../domain/fanout';
import { channelNotifications, readMarkersOf } from '../../domain/notifications';
import { compiledPermissions, hasPermission, Perm, permissionChangeError } from '../../domain/permissions';
import { membersOfServer, requireMember, requirePermission, type ServerContext, subjectOf } from '../../domain/servers';
import { voiceStatesOf } from '../../domain/voice';
import { revokeVoiceAccess } from '../../domain/voice-access';
import { appContext } from '../../runtime';
import { integerArrayField, integerField, jsonObject, pathInt, readJson, requireUser, stringField } from '../http';
import { VOICE_REASONS } from './voice';
import type { RestEnv } from '../auth';

function channelType(body: Record<string, unknown>, optional: boolean): number | undefined {
  const type = optional ? integerField(body, 'type', true) : integerField(body, 'type');
  if (type !== undefined && type !== CHANNEL_TYPE.TEXT && type !== CHANNEL_TYPE.VOICE) throw badRequest(`type is invalid: ${type} is not 0 or 1`);
  return type;
}

/** Whitelists keep only members and the server's roles (invalid ids are dropped, as upstream). */
async function cleanWhitelist(context: ServerContext, body: Record<string, unknown>, maxUsers: number) {
  const wlUsers = integerArrayField(body, 'wl_users');
  const wlRoles = integerArrayField(body, 'wl_roles');
  if (wlUsers !== undefined && wlUsers.length > maxUsers) throw forbidden(`A whitelist can hold at most ${maxUsers} users`);
  const members = wlUsers && wlUsers.length > 0 ? await membersOfServer(appContext().db, context.server.id) : new Map();
  return {
    wlUsers: wlUsers?.filter((id) => members.has(id)),
    wlRoles: wlRoles?.filter((id) => context.roles.some((role) => role.id === id)),
  };
}

/** `vc_users` of a voice channel: who is in it now, minus users the reader blocked. */
async function vcUsers(channel: Channel, hidden: Set<number>) {
  if (channel.type !== CHANNEL_TYPE.VOICE) return {};
  return { vc_users: (await voiceStatesOf(appContext().db, channel.id)).filter((state) => !hidden.has(state.id)) };
}

/** Channels of a server: listing, creation, editing (with the audience split of whitelist changes), overrides. */
export function channelRoutes(app: Hono<RestEnv>): void {
  app.get('/servers/:sid/channels', async (c) => {
    const { db } = appContext();
    const userId = await requireUser(c);
    const context = await requireMember(db, pathInt(c, 'sid'), userId);
    const [channels, markers, hidden] = await Promise.all([channelsOfServer(db, context.server.id), readMarkersOf(db, userId), blockedBy(db, userId)]);
    const subject = subjectOf(context, userId);
    return c.json(
      await Promise.all(channels
        .filter((channel) => canSeeChannel(subject, channel))
        .map(async (channel) => {
          const notifications = channelNotifications(channel, markers.get(channel.id), { userId, roles: subject.userRoles });
          return {
            ...channelView(channel, { withRoles: true }),
            ...(notifications !== undefined ? { notifications } : {}),
            ...(await vcUsers(channel, hidden)),
          };
        }),
      ),
    );
  });

  app.post('/servers/:sid/channels', async (c) => {
    const context = appContext();
    const userId = await requireUser(c);
    const server = await requirePermission(context.db, pathInt(c, 'sid'), userId, Perm.MANAGE_CHANNELS);
    const body = jsonObject(await readJson(c));
    const name = stringField(body, 'name');
    validateChannelName(name);
    const type = channelType(body, false)!;
    const before = integerField(body, 'prev_channel_id', true);
    const { wlUsers, wlRoles } = await cleanWhitelist(server, body, context.settings.params.max_wl_users_per_channel);
    const channel = await createChannel(
      context.db,
      server.server.id,
      { name, type, wlUsers: wlUsers ?? [], wlRoles: wlRoles ?? [], before },
      context.settings.params.max_channels_per_server,
    );
    const prevChannelId = before !== undefined && before >= 0 ? before : undefined;
    // A new channel is empty.
    await publish(context, events.channelCreated(channel, { prevChannelId, vcUsers: [] }), channelAudience(channel, server));
    return c.text(String(channel.id));
  });

  app.get('/channels/:cid', async (c) => {
    const { db } = appContext();
    const userId = await requireUser(c);
    const { channel, server } = await accessChannel(db, pathInt(c, 'cid'), userId);
    const [markers, hidden] = await Promise.all([readMarkersOf(db, userId), blockedBy(db, userId)]);
    const marker = markers.get(channel.id);
    const notifications = channelNotifications(channel, marker, { userId, roles: server?.member.roles ?? [] });
    const otherUser = channel.participants?.find((id) => id !== userId) ?? channel.participants?.[0];
    return c.json({
      ...channelView(channel, { withRoles: true }),
      ...(channel.serverId === undefined && otherUser !== undefined ? { other_user_id: otherUser } : {}),
      ...(notifications !== undefined ? { notifications } : {}),
      ...(await vcUsers(channel, hidden)),
    });
  });

  app.put('/channels/:cid', async (c) => {
    const context = appContext();
    const userId = await requireUser(c);
    const { channel, server } = await accessChannel(context.db, pathInt(c, 'cid'), userId);
    if (!server) throw forbidden('Cannot edit a DM channel');
    if (!hasPermission(subjectOf(server, userId), Perm.MANAGE_CHANNELS)) throw forbidden(TEXT.noPermission);
    const body = jsonObject(await readJson(c));
    const name = stringField(body, 'name', true);
    if (name !== undefined) validateChannelName(name);
    const type = channelType(body, true);
    const before = integerField(body, 'prev_channel_id', true);
    const { wlUsers, wlRoles } = await cleanWhitelist(server, body, context.settings.params.max_wl_users_per_channel);
    const updated = await updateChannel(context.db, channel, { name, type, wlUsers, wlRoles, before });

    // Who sees the channel may have changed: tell those who keep it that it changed, those who gain it that
    // it appeared, and those who lose it that it is gone (docs/protocol.md, "Audiences", with decision 3).
    const sees = (which: Channel) => (member: number, roles: readonly number[]) =>
      canSeeChannel({ ownerId: server.server.owner_id, userId: member, roles: server.roles, userRoles: roles }, which);
    const [sawBefore, seesAfter] = [sees(channel), sees(updated)];
    // Those who gain a voice channel learn who is in it already, as user_joined_vc would have told them.
    const vcUsers = updated.type === CHANNEL_TYPE.VOICE ? await voiceStatesOf(context.db, updated.id) : undefined;
    await Promise.all([
      publish(
        context,
        events.channelEdited(updated, before),
        audience.server(updated.serverId!, { include: (u, r) => sawBefore(u, r) && seesAfter(u, r) }),
      ),
      publish(
        context,
        events.channelCreated(updated, { prevChannelId: before, vcUsers }),
        audience.server(updated.serverId!, { include: (u, r) => !sawBefore(u, r) && seesAfter(u, r) }),
      ),
      publish(
        context,
        events.channelDeleted(updated.id, updated.serverId!),
        audience.server(updated.serverId!, { include: (u, r) => sawBefore(u, r) && !seesAfter(u, r) }),
      ),
    ]);
    // Voice users who lost access leave the channel (docs/upstream.md, decision 10).
    if (channel.type === CHANNEL_TYPE.VOICE) {
      await revokeVoiceAccess(context, context.voice, { serverId: server.server.id, channelIds: [channel.id] }, VOICE_REASONS.noAccess);
    }
    return c.text('Changed');
  });

  app.delete('/channels/:cid', async (c) => {
    const context = appContext();
    const userId = await requireUser(c);
    const { channel, server } = await accessChannel(context.db, pathInt(c, 'cid'), userId);
    if (!server) throw forbidden('Cannot delete a DM channel');
    if (!hasPermission(subjectOf(server, userId), Perm.MANAGE_CHANNELS)) throw forbidden(TEXT.noPermission);
    // Those who could see it are told once it is gone.
    const recipients = await resolveAudience(context.db, channelAudience(channel, server));
    if (channel.type === CHANNEL_TYPE.VOICE) {
      await revokeVoiceAccess(context, context.voice, { serverId: server.server.id, channelIds: [channel.id], deleting: true }, VOICE_REASONS.channelDeleted);
    }
    await deleteChannel(context.db, channel);
    await publishTo(context, events.channelDeleted(channel.id, channel.serverId!), recipients);
    return c.text('Deleted');
  });

  const overrideRoute = (remove: boolean) => async (c: Context) => {
    const context = appContext();
    const userId = await requireUser(c);
    const { channel, server } = await accessChannel(context.db, pathInt(c, 'cid'), userId);
    if (!server) throw forbidden('DM channels have no role overrides');
    const subject = subjectOf(server, userId);
    if (!hasPermission(subject, Perm.MANAGE_CHANNELS)) throw forbidden(TEXT.noPermission);
    const roleId = pathInt(c, 'rid');
    if (!server.roles.some((role) => role.id === roleId)) throw notFound(TEXT.roleNotFound);
    const previous = overridesOf(channel).get(roleId);
    let perms1: number | undefined;
    if (!remove) {
      perms1 = integerField(jsonObject(await readJson(c)), 'perms1');
      const refusal = permissionChangeError(previous ?? 0, perms1, compiledPermissions(subject), false);
      if (refusal) throw refusal === TEXT.invalidPermissionBits ? badRequest(refusal) : forbidden(refusal);
      if (previous === perms1) return c.text('Override is already set', 202);
    } else if (previous === undefined) {
      return c.text('Override does not exist', 202);
    }
    const updated = await setChannelOverride(context.db, channel, roleId, perms1);
    await publish(context, events.channelEdited(updated), channelAudience(updated, server));
    // An override can take JOIN_VC away.
    if (channel.type === CHANNEL_TYPE.VOICE) {
      await revokeVoiceAccess(context, context.voice, { serverId: server.server.id, channelIds: [channel.id] }, VOICE_REASONS.noAccess);
    }
    return c.text(remove ? 'Removed' : 'Changed');
  };
  app.post('/channels/:cid/roles/:rid', overrideRoute(false));
  app.delete('/channels/:cid/roles/:rid', overrideRoute(true));
}
