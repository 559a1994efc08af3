import { type Channel, canSeeChannel, channelsOfServer } from './channels';
import { applied, type Db, ex, queryPrefix } from './db';
import { loadServerContext, type Server, subjectOf } from './servers';
import { keys, partitions, prefixes } from './table';

/**
 * Unread state without a write per reader per message: a channel remembers its last message id, each
 * user keeps a read marker per channel (`lastRead`, `mentions` since then). A channel is unread when its
 * last message is newer than the marker; `notifications` is then the mention count (0 = unread, no mentions).
 */
export interface ReadMarker {
  lastRead: number;
  mentions: number;
  /** A DM channel's marker: `mentions` counts unread messages there (`dm_notifications`). */
  dm: boolean;
}

export async function readMarkersOf(db: Db, userId: number): Promise<Map<number, ReadMarker>> {
  const items = await queryPrefix(db, partitions.user(userId), prefixes.readMarker);
  return new Map(
    items.map((item) => [Number(item.channelId), { lastRead: Number(item.lastRead ?? 0), mentions: Number(item.mentions ?? 0), dm: item.dm === true }]),
  );
}

/** Who reads: @everyone and @role mentions count for him by his roles, and never his own messages. */
export interface Reader {
  userId: number;
  roles: readonly number[];
}

/**
 * The `notifications` field of a channel object: absent when read, else the mentions since the marker:
 * those of the reader by name (counted on his marker) and the channel's @everyone/@role mentions that
 * concern him (kept on the channel, see BroadcastMention).
 */
export function channelNotifications(channel: Channel, marker: ReadMarker | undefined, reader?: Reader): number | undefined {
  const lastRead = marker?.lastRead ?? 0;
  if (channel.lastMessageId <= lastRead) return undefined;
  let mentions = marker?.mentions ?? 0;
  if (reader) {
    for (const mention of channel.broadcastMentions ?? []) {
      if (mention.messageId <= lastRead || mention.authorId === reader.userId) continue;
      mentions += mention.everyone + mention.roles.filter((roleId) => reader.roles.includes(roleId)).length;
    }
  }
  return mentions;
}

/** The `notifications` field of a server object: mentions over its unread channels, 0 if unread without mentions. */
export function serverNotifications(channels: Channel[], markers: Map<number, ReadMarker>, reader: Reader): number | undefined {
  let unread = false;
  let mentions = 0;
  for (const channel of channels) {
    const value = channelNotifications(channel, markers.get(channel.id), reader);
    if (value === undefined) continue;
    unread = true;
    mentions += value;
  }
  return unread ? mentions : undefined;
}

export async function markRead(db: Db, userId: number, channel: Pick<Channel, 'id' | 'serverId'>, lastRead: number): Promise<void> {
  await db.update(keys.readMarker(userId, channel.id), { set: { lastRead, mentions: 0, channelId: channel.id, dm: channel.serverId === undefined } });
}

/**
 * Adds mention counts (user id -> how many times he was mentioned by name; in a DM, each message) to the
 * users' read markers. One write per user named, so bounded by the message's length, not by the members.
 */
export async function addMentions(db: Db, channel: Pick<Channel, 'id' | 'serverId'>, counts: Map<number, number>): Promise<void> {
  await Promise.all(
    [...counts].map(([userId, count]) =>
      db.update(keys.readMarker(userId, channel.id), { add: { mentions: count }, set: { channelId: channel.id, dm: channel.serverId === undefined } }),
    ),
  );
}

/**
 * Takes a deleted message's mentions back from the counts addMentions raised: only from readers who have
 * not read past it (reading reset their count), and never below zero. One write per user it notified.
 */
export async function takeBackMentions(db: Db, channelId: number, messageId: number, notified: Map<number, number>): Promise<void> {
  await Promise.all(
    [...notified].map(([userId, count]) =>
      applied(
        db.update(keys.readMarker(userId, channelId), { add: { mentions: -count } }, { if: ex`(attribute_not_exists(lastRead) OR lastRead < ${messageId}) AND mentions >= ${count}` }),
      ),
    ),
  );
}

/** Servers with their `notifications` field for one reader, over the channels he can see. */
export async function withServerNotifications(db: Db, userId: number, servers: Server[]): Promise<Array<Server & { notifications?: number }>> {
  const markers = await readMarkersOf(db, userId);
  return Promise.all(
    servers.map(async (server) => {
      const [context, channels] = await Promise.all([loadServerContext(db, server.id, userId), channelsOfServer(db, server.id)]);
      if (!context?.member) return server;
      const subject = subjectOf(context, userId);
      const notifications = serverNotifications(channels.filter((channel) => canSeeChannel(subject, channel)), markers, { userId, roles: subject.userRoles });
      return notifications === undefined ? server : { ...server, notifications };
    }),
  );
}
