import type { Channel } from './channels';
import type { DeskEvent } from './desk/events';
import type { Emoji } from './emojis';
import type { StoredMessage } from './messages';
import type { Role } from './permissions';
import type { Server } from './servers';
import type { User } from './users';

/*
 * The catalog of domain events: what happened, in domain terms (camelCase fields, domain objects). It knows
 * no wire format: each socket protocol renders an event its own way (lambdas/protocols/<name>/), or not at
 * all. The `type` of an event is also its name on the ZavodChat main socket (docs/protocol.md, "Audiences",
 * lists each one; test/protocol-doc.test.ts checks that). Build events with `events.*`, publish them with
 * fanout.ts's `publish`.
 */

/** A user as the voice events name him. */
export interface VoiceParticipantRef {
  userId: number;
  channelId: number;
  /** Absent for a DM call. */
  serverId?: number;
}

/** The VC state of a participant; `joined` is ISO-8601 UTC. */
export interface VoiceStateFields {
  joined: string;
  mute: number;
  deaf: number;
  video: number;
}

/** A friendship changed; `actorId` did it, the other user is told. */
export type FriendEventType = 'friend_request_received' | 'friend_request_accepted' | 'friend_request_cancelled' | 'friend_request_denied' | 'friend_removed';

export type DomainEvent =
  /** Presence or profile: only the fields that changed, in the order given. */
  | {
      type: 'user_changed';
      userId: number;
      changes: { status?: number; name?: string; avatar?: string };
      /** The whole user after a profile change, for protocols that send it whole (the workspace socket); not on the main socket. */
      user?: User;
    }
  | { type: 'user_joined'; serverId: number; user: User }
  | { type: 'server_edited'; server: Server }
  | { type: 'got_server_owner'; serverId: number }
  | { type: 'server_deleted'; serverId: number }
  /** `vcUsers`: who is in a voice channel already (a new one is empty; one made visible may not be). */
  | { type: 'channel_created'; channel: Channel; prevChannelId?: number; vcUsers?: ReadonlyArray<{ id: number } & VoiceStateFields> }
  | { type: 'channel_edited'; channel: Channel; prevChannelId?: number }
  | { type: 'channel_deleted'; channelId: number; serverId: number }
  | { type: 'message_created'; message: StoredMessage }
  | { type: 'message_edited'; message: StoredMessage }
  | { type: 'message_deleted'; messageId: number; channelId: number; serverId?: number }
  | { type: FriendEventType; actorId: number }
  | { type: 'roles_updated'; serverId: number; roles: readonly Role[] }
  | { type: 'role_assigned'; serverId: number; userId: number; roleId: number }
  | { type: 'role_disallowed'; serverId: number; userId: number; roleId: number }
  | { type: 'user_kicked'; serverId: number; userId: number }
  | { type: 'user_banned'; serverId: number; banId: number; user: User; expires: string }
  | { type: 'ban_changed'; serverId: number; banId: number; expires: string }
  | { type: 'user_unbanned'; serverId: number; banId: number }
  | { type: 'emoji_created'; serverId: number; emoji: Emoji }
  | { type: 'emoji_changed'; serverId: number; emoji: Emoji }
  | { type: 'emoji_deleted'; serverId: number; emojiId: number }
  | { type: 'user_joined_vc'; participant: VoiceParticipantRef; state: VoiceStateFields }
  | { type: 'user_left_vc'; participant: VoiceParticipantRef }
  /** Only the flags that changed. */
  | {
      type: 'user_changed_vc_state';
      participant: VoiceParticipantRef;
      changes: { mute?: number; deaf?: number; video?: number };
      /** The whole state after the change, for protocols that send it whole (the workspace socket); not on the main socket. */
      state?: Pick<VoiceStateFields, 'mute' | 'deaf' | 'video'>;
    }
  /** One of the support desk's events (seed 004, lambdas/domain/desk/events.ts): only the desk socket renders it. */
  | { type: 'desk_event'; event: DeskEvent };

export type DomainEventType = DomainEvent['type'];
export type DomainEventOf<T extends DomainEventType> = Extract<DomainEvent, { type: T }>;

/** Every event type of the catalog, once (the compiler checks the list is complete). */
const TYPES: { [T in DomainEventType]: true } = {
  user_changed: true,
  user_joined: true,
  server_edited: true,
  got_server_owner: true,
  server_deleted: true,
  channel_created: true,
  channel_edited: true,
  channel_deleted: true,
  message_created: true,
  message_edited: true,
  message_deleted: true,
  friend_request_received: true,
  friend_request_accepted: true,
  friend_request_cancelled: true,
  friend_request_denied: true,
  friend_removed: true,
  roles_updated: true,
  role_assigned: true,
  role_disallowed: true,
  user_kicked: true,
  user_banned: true,
  ban_changed: true,
  user_unbanned: true,
  emoji_created: true,
  emoji_changed: true,
  emoji_deleted: true,
  user_joined_vc: true,
  user_left_vc: true,
  user_changed_vc_state: true,
  desk_event: true,
};
export const DOMAIN_EVENT_TYPES = Object.keys(TYPES) as DomainEventType[];

/** The constructors of the catalog: what domain operations and routes publish. */
export const events = {
  userChanged: (userId: number, changes: DomainEventOf<'user_changed'>['changes'], user?: User): DomainEvent => ({
    type: 'user_changed',
    userId,
    changes,
    ...(user !== undefined ? { user } : {}),
  }),
  userJoined: (serverId: number, user: User): DomainEvent => ({ type: 'user_joined', serverId, user }),
  serverEdited: (server: Server): DomainEvent => ({ type: 'server_edited', server }),
  gotServerOwner: (serverId: number): DomainEvent => ({ type: 'got_server_owner', serverId }),
  serverDeleted: (serverId: number): DomainEvent => ({ type: 'server_deleted', serverId }),
  channelCreated: (channel: Channel, options: { prevChannelId?: number; vcUsers?: DomainEventOf<'channel_created'>['vcUsers'] } = {}): DomainEvent => ({
    type: 'channel_created',
    channel,
    ...options,
  }),
  channelEdited: (channel: Channel, prevChannelId?: number): DomainEvent => ({ type: 'channel_edited', channel, prevChannelId }),
  channelDeleted: (channelId: number, serverId: number): DomainEvent => ({ type: 'channel_deleted', channelId, serverId }),
  messageCreated: (message: StoredMessage): DomainEvent => ({ type: 'message_created', message }),
  messageEdited: (message: StoredMessage): DomainEvent => ({ type: 'message_edited', message }),
  messageDeleted: (message: Pick<StoredMessage, 'id' | 'channelId' | 'serverId'>): DomainEvent => ({
    type: 'message_deleted',
    messageId: message.id,
    channelId: message.channelId,
    serverId: message.serverId,
  }),
  friendship: (type: FriendEventType, actorId: number): DomainEvent => ({ type, actorId }),
  rolesUpdated: (serverId: number, roles: readonly Role[]): DomainEvent => ({ type: 'roles_updated', serverId, roles }),
  roleAssigned: (serverId: number, userId: number, roleId: number): DomainEvent => ({ type: 'role_assigned', serverId, userId, roleId }),
  roleDisallowed: (serverId: number, userId: number, roleId: number): DomainEvent => ({ type: 'role_disallowed', serverId, userId, roleId }),
  userKicked: (serverId: number, userId: number): DomainEvent => ({ type: 'user_kicked', serverId, userId }),
  userBanned: (serverId: number, banId: number, user: User, expires: string): DomainEvent => ({ type: 'user_banned', serverId, banId, user, expires }),
  banChanged: (serverId: number, banId: number, expires: string): DomainEvent => ({ type: 'ban_changed', serverId, banId, expires }),
  userUnbanned: (serverId: number, banId: number): DomainEvent => ({ type: 'user_unbanned', serverId, banId }),
  emojiCreated: (serverId: number, emoji: Emoji): DomainEvent => ({ type: 'emoji_created', serverId, emoji }),
  emojiChanged: (serverId: number, emoji: Emoji): DomainEvent => ({ type: 'emoji_changed', serverId, emoji }),
  emojiDeleted: (serverId: number, emojiId: number): DomainEvent => ({ type: 'emoji_deleted', serverId, emojiId }),
  userJoinedVc: (participant: VoiceParticipantRef, state: VoiceStateFields): DomainEvent => ({ type: 'user_joined_vc', participant, state }),
  userLeftVc: (participant: VoiceParticipantRef): DomainEvent => ({ type: 'user_left_vc', participant }),
  userChangedVcState: (
    participant: VoiceParticipantRef,
    changes: DomainEventOf<'user_changed_vc_state'>['changes'],
    state?: DomainEventOf<'user_changed_vc_state'>['state'],
  ): DomainEvent => ({
    type: 'user_changed_vc_state',
    participant,
    changes,
    ...(state !== undefined ? { state } : {}),
  }),
  desk: (event: DeskEvent): DomainEvent => ({ type: 'desk_event', event }),
};
