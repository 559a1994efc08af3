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
};
