import { type Channel, CHANNEL_NOT_FOUND, canSeeChannel, findChannel } from './channels';
import type { Db } from './db';
import { notFound } from './errors';
import { type Audience, audience } from './fanout';
import { loadServerContext, type Member, type ServerContext, subjectOf } from './servers';

/** A channel the caller may see, with his view of its server (absent for DM channels). */
export interface ChannelAccess {
  channel: Channel;
  server?: ServerContext & { member: Member };
}

/**
 * Resolves `/channels/{cid}` for a caller: 404 `Channel does not exist` when it does not exist or he may
 * not see it (not a member, not whitelisted, not a DM participant), so ids reveal nothing.
 */
export async function accessChannel(db: Db, channelId: number, userId: number): Promise<ChannelAccess> {
  const channel = await findChannel(db, channelId);
  if (!channel) throw notFound(CHANNEL_NOT_FOUND);
  if (channel.serverId === undefined) {
    if (!channel.participants?.includes(userId)) throw notFound(CHANNEL_NOT_FOUND);
    return { channel };
  }
  const server = await loadServerContext(db, channel.serverId, userId);
  if (!server?.member || !canSeeChannel(subjectOf(server, userId), channel)) throw notFound(CHANNEL_NOT_FOUND);
  return { channel, server: server as ServerContext & { member: Member } };
}

/** Everyone who may see a server channel right now (AUD-CHANNEL with decision 3), minus blockers of `actor`. */
export function channelAudience(channel: Channel, server: Pick<ServerContext, 'server' | 'roles'> | undefined, actor?: number): Audience {
  if (channel.serverId === undefined || !server) return audience.users(channel.participants ?? [], actor);
  return audience.server(channel.serverId, {
    actor,
    include: (userId, roles) =>
      canSeeChannel({ ownerId: server.server.owner_id, userId, roles: server.roles, userRoles: roles }, channel),
  });
}
