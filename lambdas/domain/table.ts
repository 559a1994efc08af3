/**
 * The one table definition shared by the CDK stack, the local runtime and the tests.
 * Single-table design; see docs/data-model.md for every item type and access pattern.
 */
export const KEY = { partition: 'pk', sort: 'sk' } as const;
export const TTL_ATTRIBUTE = 'ttl';

/** The generic secondary index: inverted/alternate access paths (a user's servers, a connection's items, ...). */
export const GSI1 = { name: 'gsi1', partition: 'gsi1pk', sort: 'gsi1sk' } as const;

export interface TableDefinition {
  partitionKey: string;
  sortKey: string;
  ttlAttribute: string;
  globalSecondaryIndexes: Array<{ indexName: string; partitionKey: string; sortKey: string }>;
}

export const TABLE_DEFINITION: TableDefinition = {
  partitionKey: KEY.partition,
  sortKey: KEY.sort,
  ttlAttribute: TTL_ATTRIBUTE,
  globalSecondaryIndexes: [{ indexName: GSI1.name, partitionKey: GSI1.partition, sortKey: GSI1.sort }],
};

/** Partition keys of rate-limit counters; the socket handlers' IAM policy allows updates under it only. */
export const RATE_KEY_PREFIX = 'RATE#';

/** Fixed-width ids keep string sort keys in numeric order. */
export function padId(id: number): string {
  return String(id).padStart(10, '0');
}

/** The partitions items are grouped in: a user's, a server's, a channel's. */
export const partitions = {
  user: (userId: number) => `USER#${userId}`,
  server: (serverId: number) => `SERVER#${serverId}`,
  channel: (channelId: number) => `CHANNEL#${channelId}`,
};

/** Sort key prefixes: what a Query of a partition (or of the index) reads by `begins_with`. */
export const prefixes = {
  connection: 'CONN#',
  member: 'MEMBER#',
  message: 'MSG#',
  readMarker: 'READ#',
  friend: 'FRIEND#',
  dm: 'DM#',
  blocks: 'BLOCKS#',
  blockedBy: 'BLOCKEDBY#',
  upload: 'UPLOAD#',
  emoji: 'EMOJI#',
  ban: 'BAN#',
  voiceState: 'VOICE#',
  /** A connection-cap slot in its cap's partition (connection-caps.ts). */
  connectionSlot: 'CONNSLOT#',
  /** gsi1sk of a connection-cap slot: removed with its connection, conditionally. */
  slotOfConnection: 'SLOT#',
  /** A user's subscriptions in one server's partition: `CONN#<padded user>#`. */
  subscriptionsOfUser: (userId: number) => `CONN#${padId(userId)}#`,
};

/** The highest padded id: the upper bound of an ascending page of ids. */
export const MAX_PADDED_ID = '9999999999';

/**
 * The sort key bounds and direction of a page of `<prefix><padded id>` items starting at `startId`: up to
 * the highest id (`order` 1), or down to 0.
 */
export function idRange(prefix: string, startId: number, order: 0 | 1): { from: string; to: string; descending: boolean } {
  const start = `${prefix}${padId(startId)}`;
  return order === 1 ? { from: start, to: `${prefix}${MAX_PADDED_ID}`, descending: false } : { from: `${prefix}${padId(0)}`, to: start, descending: true };
}

export const keys = {
  counter: (kind: string) => ({ pk: `COUNTER#${kind}`, sk: 'COUNTER' }),
  user: (userId: number) => ({ pk: `USER#${userId}`, sk: 'PROFILE' }),
  allUsersIndex: () => 'USERS',
  credentials: (username: string) => ({ pk: `USERNAME#${username}`, sk: 'CREDENTIALS' }),
  session: (token: string) => ({ pk: `SESSION#${token}`, sk: 'SESSION' }),
  sessionsOfUserIndex: (userId: number) => `SESSIONS#${userId}`,
  server: (serverId: number) => ({ pk: `SERVER#${serverId}`, sk: 'META' }),
  roles: (serverId: number) => ({ pk: `SERVER#${serverId}`, sk: 'ROLES' }),
  member: (serverId: number, userId: number) => ({ pk: `SERVER#${serverId}`, sk: `MEMBER#${padId(userId)}` }),
  membershipsOfUserIndex: (userId: number) => `USER#${userId}`,
  invite: (inviteId: string) => ({ pk: `INVITE#${inviteId}`, sk: 'INVITE' }),
  invitesOfServerIndex: (serverId: number) => `INVITES#${serverId}`,
  blockedBy: (blockedUserId: number, blockerId: number) => ({ pk: `USER#${blockedUserId}`, sk: `BLOCKEDBY#${padId(blockerId)}` }),
  connection: (userId: number, connectionId: string) => ({ pk: `USER#${userId}`, sk: `CONN#${connectionId}` }),
  subscription: (serverId: number, userId: number, connectionId: string) => ({
    pk: `SERVER#${serverId}`,
    sk: `CONN#${padId(userId)}#${connectionId}`,
  }),
  itemsOfConnectionIndex: (connectionId: string) => `CONN#${connectionId}`,
  /** Whose a connection is, read consistently by `$disconnect` (which knows only the connection id). */
  connectionOwner: (connectionId: string) => ({ pk: `CONN#${connectionId}`, sk: 'OWNER' }),
  /** Every connection's owner item, sorted by expiry: "is anybody online" is one Query. */
  allConnectionsIndex: () => 'CONNECTIONS',
  channel: (channelId: number) => ({ pk: `CHANNEL#${channelId}`, sk: 'META' }),
  channelOrder: (serverId: number) => ({ pk: `SERVER#${serverId}`, sk: 'CHANNELS' }),
  message: (channelId: number, messageId: number) => ({ pk: `CHANNEL#${channelId}`, sk: `MSG#${padId(messageId)}` }),
  /** Finds a message's channel from its id alone (`/messages/{mid}`); written with the message. */
  messagePointer: (messageId: number) => ({ pk: `MESSAGE#${messageId}`, sk: 'POINTER' }),
  readMarker: (userId: number, channelId: number) => ({ pk: `USER#${userId}`, sk: `READ#${padId(channelId)}` }),
  ban: (serverId: number, banId: number) => ({ pk: `SERVER#${serverId}`, sk: `BAN#${padId(banId)}` }),
  bannedUser: (serverId: number, userId: number) => ({ pk: `SERVER#${serverId}`, sk: `BANNED#${padId(userId)}` }),
  /** Administrator mute/deafen of a member in the server's voice channels; in the server's partition, so it goes with the server. */
  adminVoiceState: (serverId: number, userId: number) => ({ pk: `SERVER#${serverId}`, sk: `VOICEADMIN#${padId(userId)}` }),
  /** One fixed window of a rate-limit counter; `windowStart` in epoch seconds. */
  rateWindow: (bucket: string, subject: string, windowStart: number) => ({ pk: `${RATE_KEY_PREFIX}${bucket}#${subject}`, sk: `WINDOW#${windowStart}` }),
  /** The media node's lifecycle state (stopped, starting, running, stopping): one item, conditional transitions. */
  mediaNodeLifecycle: () => ({ pk: 'NODE#media', sk: 'LIFECYCLE' }),
  /** The blocker's list: `USER#blocker / BLOCKS#blocked` (the other side of `blockedBy`). */
  blocks: (blockerId: number, blockedId: number) => ({ pk: `USER#${blockerId}`, sk: `BLOCKS#${padId(blockedId)}` }),
  /** One user's view of another (`USER#a / FRIEND#b`), always written with the other side. */
  friend: (userId: number, otherId: number) => ({ pk: `USER#${userId}`, sk: `FRIEND#${padId(otherId)}` }),
  /** A user's DM pair with another user. */
  dmPair: (userId: number, otherId: number) => ({ pk: `USER#${userId}`, sk: `DM#${padId(otherId)}` }),
  preferences: (userId: number) => ({ pk: `USER#${userId}`, sk: 'PREFERENCES' }),
  /** One upload of a user, in upload order (`at` in ms). */
  upload: (userId: number, at: number, name: string) => ({ pk: `USER#${userId}`, sk: `UPLOAD#${at.toString().padStart(15, '0')}#${name}` }),
  emoji: (serverId: number, emojiId: number) => ({ pk: `SERVER#${serverId}`, sk: `EMOJI#${padId(emojiId)}` }),
  /** Reserves an emoji name within its server. */
  emojiName: (serverId: number, name: string) => ({ pk: `SERVER#${serverId}`, sk: `EMOJINAME#${name}` }),
  /** A user's voice state in a channel. */
  voiceState: (channelId: number, userId: number) => ({ pk: `CHANNEL#${channelId}`, sk: `VOICE#${padId(userId)}` }),
  /** Where a user's voice connection lives (one per user), so REST can reach his node from his id alone. */
  userVoice: (userId: number) => ({ pk: `USER#${userId}`, sk: 'VOICE' }),
  /** All voice states, by expiry, so the sweeper finds the ones a dead node left behind in one Query. */
  allVoiceStatesIndex: () => 'VOICESTATES',
  /** A voice state's expiry (epoch s) as the index sorts it. */
  voiceStateIndexSort: (ttl: number) => String(ttl).padStart(12, '0'),
  /** A connection-cap partition: per user, or per source address. */
  slotsOfUser: (userId: number) => `USER#${userId}`,
  slotsOfAddress: (sourceIp: string) => `CONNADDR#${sourceIp}`,
  /** Slot `index` of a connection-cap partition (slotsOfUser, slotsOfAddress). */
  connectionSlot: (partition: string, index: number) => ({ pk: partition, sk: `${prefixes.connectionSlot}${index}` }),
  /** A server's member as the index shows it under the user's memberships. */
  membershipIndexSort: (serverId: number) => `MEMBER#${padId(serverId)}`,
  /** A subscription as the index shows it under its connection. */
  subscriptionIndexSort: (serverId: number) => `SERVER#${padId(serverId)}`,
  /** A workspace-socket connection's engine session (lambdas/protocols/workspace/store.ts). */
  engineSession: (connectionId: string) => ({ pk: `EIO#${connectionId}`, sk: 'SESSION' }),
  /** Every engine session, by expiry: the workspace heartbeat's round is one Query. */
  allEngineSessionsIndex: () => 'EIOSESSIONS',
  /** The session token a session item's key holds. */
  sessionToken: (item: Record<string, unknown>) => String(item.pk).slice('SESSION#'.length),
};
