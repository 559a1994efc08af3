import type { Ban } from './bans';
import type { Channel } from './channels';
import type { Item, Key } from './db';
import type { Emoji } from './emojis';
import type { FriendState } from './friends';
import type { VoiceStateFields } from './events';
import type { Message } from './messages';
import type { Role } from './permissions';
import { GSI1, keys, padId, prefixes, TTL_ATTRIBUTE } from './table';

/**
 * The item builders: every item the domain writes whole (a put, in a transaction or a batch too) is built
 * here, next to its key in table.ts, so an item kind's attributes are written down once
 * (docs/data-model.md, "Items"). Items created or changed by updates (counters, read markers, rate
 * windows, the media node's lifecycle) have no builder: their update is the one place they are written.
 */

/** Every item has its key; the index signature makes an item type an `Item` of the store port. */
interface StoredItem extends Item, Key {}
/** The index attributes of an item that is also found through `gsi1`. */
interface Indexed extends StoredItem {
  [GSI1.partition]: string;
  [GSI1.sort]: string;
}
interface Expiring {
  [TTL_ATTRIBUTE]: number;
}

export interface UserItem extends Indexed {
  id: number;
  username: string;
  name: string;
  status: number;
  lastStatus: number;
}
export interface CredentialsItem extends StoredItem {
  userId: number;
  passwordHash: string;
}
export interface SessionItem extends Indexed, Expiring {
  userId: number;
  expiresAt: number;
}
export interface ServerItem extends StoredItem {
  id: number;
  name: string;
  ownerId: number;
  avatar: string | undefined;
}
/** `version` and `roleIds` come with the first edit of the roles; a new server's roles have neither. */
export interface RolesItem extends StoredItem {
  roles: Role[];
  roleIds?: number[];
  version?: number;
}
export interface MemberItem extends Indexed {
  serverId: number;
  userId: number;
  roles: number[];
  joined: string;
}
/** `ttl` is undefined (not stored) for an invite that never expires. */
export interface InviteItem extends Indexed {
  id: string;
  serverId: number;
  expires: string;
  [TTL_ATTRIBUTE]: number | undefined;
}
export interface BlockItem extends StoredItem {
  blockedId: number;
}
export interface BlockedByItem extends StoredItem {
  blockerId: number;
}
export interface FriendItem extends StoredItem {
  userId: number;
  state: FriendState;
}
export interface DmPairItem extends StoredItem {
  otherId: number;
  textId: number;
  voiceId: number;
}
export interface ChannelItem extends StoredItem, Channel {}
export interface ChannelOrderItem extends StoredItem {
  order: number[];
  version: number;
}
/** The message object of REST (`messages.ts`), its author as `authorId`. */
export interface MessageItem extends StoredItem, Omit<Message, 'author_id'> {
  authorId: number;
  channelId: number;
  serverId: number | undefined;
  notified?: Record<string, number>;
}
export interface MessagePointerItem extends StoredItem {
  channelId: number;
}
export interface PreferencesItem extends StoredItem {
  values: string;
  version: number;
}
export interface BanItem extends StoredItem, Ban {
  [TTL_ATTRIBUTE]: number | undefined;
}
export interface BannedUserItem extends StoredItem {
  banId: number;
  expires: string;
  [TTL_ATTRIBUTE]: number | undefined;
}
export interface AdminVoiceStateItem extends StoredItem {
  serverId: number;
  userId: number;
  mute: boolean;
  deaf: boolean;
}
export interface EmojiItem extends StoredItem, Emoji {}
export interface EmojiNameItem extends StoredItem {
  emojiId: number;
}
export interface UploadItem extends StoredItem {
  name: string;
  size: number;
}
export interface VoiceStateItem extends Indexed, Expiring, VoiceStateFields {
  userId: number;
  channelId: number;
  serverId: number | undefined;
  node: string;
}
/** Carries the voice state's expiry (ttl and the same gsi1sk) but no gsi1pk: it is not in the index. */
export interface UserVoiceItem extends StoredItem, Expiring {
  [GSI1.sort]: string;
  channelId: number;
  serverId: number | undefined;
  node: string;
}

/** A workspace-socket connection between invocations; `auth` adds its binding by updates. */
export interface EngineSessionItem extends Indexed, Expiring {
  connectionId: string;
  sid: string;
  connectedAt: number;
}

/** What a connection item and its subscriptions carry of the connection (protocol already resolved). */
export interface ConnectionFields {
  userId: number;
  connectionId: string;
  sessionExpiresAt?: number;
  protocol: string;
  scope?: string;
}
export interface ConnectionItem extends Indexed, Expiring, ConnectionFields {
  session?: string;
  sourceIp?: string;
  connectedAt: number;
}
export interface ConnectionOwnerItem extends Indexed, Expiring {
  userId: number;
}
export interface SubscriptionItem extends Indexed, Expiring, ConnectionFields {
  serverId: number;
}
export interface ConnectionSlotItem extends Indexed, Expiring {
  connectionId: string;
  claimedAt: number;
}

function connectionProtocol(connection: ConnectionFields): { protocol: string; scope?: string } {
  return { protocol: connection.protocol, ...(connection.scope !== undefined ? { scope: connection.scope } : {}) };
}

export const build = {
  user: (id: number, username: string, name: string): UserItem => ({
    ...keys.user(id),
    [GSI1.partition]: keys.allUsersIndex(),
    [GSI1.sort]: padId(id),
    id,
    username,
    name,
    status: 0,
    lastStatus: 1,
  }),
  /** `usernameKey`: the key form of the username (users.ts). */
  credentials: (usernameKey: string, userId: number, passwordHash: string): CredentialsItem => ({ ...keys.credentials(usernameKey), userId, passwordHash }),
  session: (token: string, userId: number, expiresAt: number, ttl: number): SessionItem => ({
    ...keys.session(token),
    [GSI1.partition]: keys.sessionsOfUserIndex(userId),
    [GSI1.sort]: String(expiresAt).padStart(15, '0'),
    userId,
    expiresAt,
    [TTL_ATTRIBUTE]: ttl,
  }),
  server: (id: number, name: string, ownerId: number, avatar: string | undefined): ServerItem => ({ ...keys.server(id), id, name, ownerId, avatar }),
  /** A new server's roles (no version yet), or an edit's: `version` given, with the ids a role assignment checks. */
  roles: (serverId: number, roles: Role[], version?: number): RolesItem => ({
    ...keys.roles(serverId),
    roles,
    ...(version !== undefined ? { roleIds: roles.map((r) => r.id), version } : {}),
  }),
  member: (serverId: number, userId: number, roles: number[], joined: string): MemberItem => ({
    ...keys.member(serverId, userId),
    [GSI1.partition]: keys.membershipsOfUserIndex(userId),
    [GSI1.sort]: keys.membershipIndexSort(serverId),
    serverId,
    userId,
    roles,
    joined,
  }),
  invite: (id: string, serverId: number, expires: string, created: string, ttl: number | undefined): InviteItem => ({
    ...keys.invite(id),
    [GSI1.partition]: keys.invitesOfServerIndex(serverId),
    [GSI1.sort]: created,
    id,
    serverId,
    expires,
    [TTL_ATTRIBUTE]: ttl,
  }),
  blocks: (blockerId: number, blockedId: number): BlockItem => ({ ...keys.blocks(blockerId, blockedId), blockedId }),
  blockedBy: (blockedId: number, blockerId: number): BlockedByItem => ({ ...keys.blockedBy(blockedId, blockerId), blockerId }),
  /** `userId`'s view of `otherId`: the item names the other user. */
  friend: (userId: number, otherId: number, state: FriendState): FriendItem => ({ ...keys.friend(userId, otherId), userId: otherId, state }),
  dmPair: (userId: number, otherId: number, textId: number, voiceId: number): DmPairItem => ({ ...keys.dmPair(userId, otherId), otherId, textId, voiceId }),
  channel: (channel: Channel): ChannelItem => ({ ...keys.channel(channel.id), ...channel }),
  channelOrder: (serverId: number, order: number[], version: number): ChannelOrderItem => ({ ...keys.channelOrder(serverId), order, version }),
  /** `edited` starts as `sent`; `notified` is stored only when the post notified somebody. */
  message: (
    message: Omit<Message, 'author_id' | 'edited'> & { authorId: number; channelId: number; serverId: number | undefined; notified?: Map<number, number> },
  ): MessageItem => ({
    ...keys.message(message.channelId, message.id),
    id: message.id,
    authorId: message.authorId,
    sent: message.sent,
    edited: message.sent,
    text: message.text,
    attachments: message.attachments,
    mentions: message.mentions,
    channelId: message.channelId,
    serverId: message.serverId,
    ...(message.notified && message.notified.size > 0 ? { notified: Object.fromEntries(message.notified) } : {}),
  }),
  messagePointer: (messageId: number, channelId: number): MessagePointerItem => ({ ...keys.messagePointer(messageId), channelId }),
  /** `values`: the key-value map as JSON text. */
  preferences: (userId: number, values: string, version: number): PreferencesItem => ({ ...keys.preferences(userId), values, version }),
  ban: (ban: Ban, ttl: number | undefined): BanItem => ({ ...keys.ban(ban.serverId, ban.id), ...ban, [TTL_ATTRIBUTE]: ttl }),
  bannedUser: (ban: Ban, ttl: number | undefined): BannedUserItem => ({ ...keys.bannedUser(ban.serverId, ban.userId), banId: ban.id, expires: ban.expires, [TTL_ATTRIBUTE]: ttl }),
  adminVoiceState: (serverId: number, userId: number, state: { mute: boolean; deaf: boolean }): AdminVoiceStateItem => ({
    ...keys.adminVoiceState(serverId, userId),
    serverId,
    userId,
    mute: state.mute,
    deaf: state.deaf,
  }),
  emoji: (serverId: number, emoji: Emoji): EmojiItem => ({ ...keys.emoji(serverId, emoji.id), ...emoji }),
  emojiName: (serverId: number, name: string, emojiId: number): EmojiNameItem => ({ ...keys.emojiName(serverId, name), emojiId }),
  /** `at`: the upload time in ms, which orders a user's uploads oldest first. */
  upload: (userId: number, at: number, name: string, size: number): UploadItem => ({ ...keys.upload(userId, at, name), name, size }),
  voiceState: (
    state: VoiceStateFields & { userId: number; channelId: number; serverId?: number },
    node: string,
    ttl: number,
  ): VoiceStateItem => ({
    ...keys.voiceState(state.channelId, state.userId),
    [GSI1.partition]: keys.allVoiceStatesIndex(),
    ...voiceExpiry(ttl),
    userId: state.userId,
    channelId: state.channelId,
    serverId: state.serverId,
    joined: state.joined,
    mute: state.mute,
    deaf: state.deaf,
    video: state.video,
    node,
  }),
  userVoice: (userId: number, channelId: number, serverId: number | undefined, node: string, ttl: number): UserVoiceItem => ({
    ...keys.userVoice(userId),
    channelId,
    serverId,
    node,
    ...voiceExpiry(ttl),
  }),
  connection: (connection: ConnectionFields, connectedAt: number, ttl: number, origin: { session?: string; sourceIp?: string } = {}): ConnectionItem => ({
    ...(origin.session !== undefined ? { session: origin.session } : {}),
    ...(origin.sourceIp !== undefined ? { sourceIp: origin.sourceIp } : {}),
    ...(connection.sessionExpiresAt !== undefined ? { sessionExpiresAt: connection.sessionExpiresAt } : {}),
    ...connectionProtocol(connection),
    ...keys.connection(connection.userId, connection.connectionId),
    [GSI1.partition]: keys.itemsOfConnectionIndex(connection.connectionId),
    [GSI1.sort]: 'USER',
    userId: connection.userId,
    connectionId: connection.connectionId,
    connectedAt,
    [TTL_ATTRIBUTE]: ttl,
  }),
  /** Indexed by expiry: "is anybody online" is one Query for the first one not yet expired. */
  connectionOwner: (connectionId: string, userId: number, ttl: number): ConnectionOwnerItem => ({
    ...keys.connectionOwner(connectionId),
    [GSI1.partition]: keys.allConnectionsIndex(),
    [GSI1.sort]: `${padId(ttl)}#${connectionId}`,
    userId,
    [TTL_ATTRIBUTE]: ttl,
  }),
  subscription: (serverId: number, connection: ConnectionFields, ttl: number): SubscriptionItem => ({
    ...keys.subscription(serverId, connection.userId, connection.connectionId),
    [GSI1.partition]: keys.itemsOfConnectionIndex(connection.connectionId),
    [GSI1.sort]: keys.subscriptionIndexSort(serverId),
    userId: connection.userId,
    connectionId: connection.connectionId,
    ...(connection.sessionExpiresAt !== undefined ? { sessionExpiresAt: connection.sessionExpiresAt } : {}),
    ...connectionProtocol(connection),
    serverId,
    [TTL_ATTRIBUTE]: ttl,
  }),
  /** Indexed by expiry, like the connection owner items. */
  engineSession: (connectionId: string, sid: string, connectedAt: number, ttl: number): EngineSessionItem => ({
    ...keys.engineSession(connectionId),
    [GSI1.partition]: keys.allEngineSessionsIndex(),
    [GSI1.sort]: `${padId(ttl)}#${connectionId}`,
    connectionId,
    sid,
    connectedAt,
    [TTL_ATTRIBUTE]: ttl,
  }),
  /** One slot of a connection cap's partition, found again through its connection (`SLOT#<partition>`). */
  connectionSlot: (partition: string, index: number, connectionId: string, claimedAt: number, ttl: number): ConnectionSlotItem => ({
    ...keys.connectionSlot(partition, index),
    [GSI1.partition]: keys.itemsOfConnectionIndex(connectionId),
    [GSI1.sort]: `${prefixes.slotOfConnection}${partition}`,
    connectionId,
    claimedAt,
    [TTL_ATTRIBUTE]: ttl,
  }),
};

/** A voice state's expiry and its place in the index (by expiry, so the sweeper finds expired ones in one Query). */
export function voiceExpiry(ttl: number): { [TTL_ATTRIBUTE]: number; [GSI1.sort]: string } {
  return { [TTL_ATTRIBUTE]: ttl, [GSI1.sort]: keys.voiceStateIndexSort(ttl) };
}
