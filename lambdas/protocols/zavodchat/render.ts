import { type Channel, CHANNEL_TYPE, channelView } from '../../domain/channels';
import type { DomainEvent, VoiceParticipantRef } from '../../domain/events';
import { messageView, type StoredMessage } from '../../domain/messages';

/*
 * Domain events as ZavodChat main-socket events: `{"name": <event type>, "data": ...}` (docs/protocol.md).
 * Key order is part of the frame (test/golden/main-socket-frames.test.ts compares frames byte for byte).
 */

/** The channel object of channel events: the view plus `server_id` and, when given, `prev_channel_id` and `vc_users`. */
function channelData(channel: Channel, options: { withRoles?: boolean; prevChannelId?: number; vcUsers?: readonly unknown[] }) {
  return {
    ...channelView(channel, { withRoles: options.withRoles }),
    server_id: channel.serverId!,
    ...(options.prevChannelId !== undefined ? { prev_channel_id: options.prevChannelId } : {}),
    // The stock client lists a voice channel's users only from the `vc_users` it received with the channel.
    ...(options.vcUsers !== undefined && channel.type === CHANNEL_TYPE.VOICE ? { vc_users: options.vcUsers } : {}),
  };
}

/** Message events carry the message plus `channel_id` and, for server channels only, `server_id`. */
function messageData(message: StoredMessage) {
  return { ...messageView(message), channel_id: message.channelId, ...(message.serverId !== undefined ? { server_id: message.serverId } : {}) };
}

function voiceIds(participant: VoiceParticipantRef) {
  return { id: participant.userId, channel_id: participant.channelId, ...(participant.serverId !== undefined ? { server_id: participant.serverId } : {}) };
}

/** The `data` of the event on the main socket. */
export function eventData(event: DomainEvent): unknown {
  switch (event.type) {
    case 'user_changed':
      return { id: event.userId, ...event.changes };
    case 'user_joined':
      return { ...event.user, server_id: event.serverId };
    case 'server_edited':
      return event.server;
    case 'got_server_owner':
    case 'server_deleted':
      return { id: event.serverId };
    case 'channel_created':
      return channelData(event.channel, { prevChannelId: event.prevChannelId, vcUsers: event.vcUsers });
    case 'channel_edited':
      return channelData(event.channel, { withRoles: true, prevChannelId: event.prevChannelId });
    case 'channel_deleted':
      return { id: event.channelId, server_id: event.serverId };
    case 'message_created':
    case 'message_edited':
      return messageData(event.message);
    case 'message_deleted':
      return { id: event.messageId, channel_id: event.channelId, ...(event.serverId !== undefined ? { server_id: event.serverId } : {}) };
    case 'friend_request_received':
    case 'friend_request_accepted':
    case 'friend_request_cancelled':
    case 'friend_request_denied':
    case 'friend_removed':
      return { id: event.actorId };
    case 'roles_updated':
      return { server_id: event.serverId, roles: event.roles };
    case 'role_assigned':
    case 'role_disallowed':
      return { server_id: event.serverId, user_id: event.userId, role_id: event.roleId };
    case 'user_kicked':
      return { id: event.userId, server_id: event.serverId };
    case 'user_banned':
      return { id: event.banId, user: event.user, expires: event.expires, server_id: event.serverId };
    case 'ban_changed':
      return { id: event.banId, server_id: event.serverId, expires: event.expires };
    case 'user_unbanned':
      return { id: event.banId, server_id: event.serverId };
    case 'emoji_created':
    case 'emoji_changed':
      return { ...event.emoji, server_id: event.serverId };
    case 'emoji_deleted':
      return { id: event.emojiId, server_id: event.serverId };
    case 'user_joined_vc':
      return { ...voiceIds(event.participant), ...event.state };
    case 'user_left_vc':
      return voiceIds(event.participant);
    case 'user_changed_vc_state':
      return { ...voiceIds(event.participant), ...event.changes };
    case 'desk_event':
      // Never rendered for the main socket (zavodchat/index.ts leaves it out).
      return null;
  }
}

/** The whole frame: every ZavodChat event has a counterpart on the main socket. */
export function renderFrame(event: DomainEvent): string {
  return JSON.stringify({ name: event.type, data: eventData(event) });
}
