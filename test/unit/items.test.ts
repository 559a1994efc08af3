import { build, voiceExpiry } from '../../lambdas/domain/items';
import { keys } from '../../lambdas/domain/table';

/**
 * Pins every item builder's attributes (names and values, `undefined` ones included: toStrictEqual), as the
 * domain wrote them before the builders existed: a field dropped, renamed or added by accident fails here.
 */
describe('item builders', () => {
  test('every builder is pinned below (a new one needs its case here)', () => {
    expect(Object.keys(build).sort()).toEqual(
      [
        'adminVoiceState', 'ban', 'bannedUser', 'blockedBy', 'blocks', 'channel', 'channelOrder', 'connection', 'connectionOwner', 'connectionSlot',
        'credentials', 'dmPair', 'emoji', 'emojiName', 'engineSession', 'friend', 'invite', 'member', 'message', 'messagePointer', 'preferences', 'roles', 'server',
        'session', 'subscription', 'upload', 'user', 'userVoice', 'voiceState',
      ].sort(),
    );
  });

  test('accounts: user, credentials, session', () => {
    expect(build.user(7, 'ann', 'Ann')).toStrictEqual({
      pk: 'USER#7',
      sk: 'PROFILE',
      gsi1pk: 'USERS',
      gsi1sk: '0000000007',
      id: 7,
      username: 'ann',
      name: 'Ann',
      status: 0,
      lastStatus: 1,
    });
    expect(build.credentials('ann', 7, 'hash')).toStrictEqual({ pk: 'USERNAME#ann', sk: 'CREDENTIALS', userId: 7, passwordHash: 'hash' });
    expect(build.session('tok', 7, 1_700_000_000_123, 1_700_000_000)).toStrictEqual({
      pk: 'SESSION#tok',
      sk: 'SESSION',
      gsi1pk: 'SESSIONS#7',
      gsi1sk: '001700000000123',
      userId: 7,
      expiresAt: 1_700_000_000_123,
      ttl: 1_700_000_000,
    });
  });

  test('servers: server, roles (new and edited), member, invite, ban and its marker, emoji and its name', () => {
    expect(build.server(3, 'S', 7, undefined)).toStrictEqual({ pk: 'SERVER#3', sk: 'META', id: 3, name: 'S', ownerId: 7, avatar: undefined });
    const role = { id: 9, name: 'default', color: '#999999', perms1: 1 };
    expect(build.roles(3, [role])).toStrictEqual({ pk: 'SERVER#3', sk: 'ROLES', roles: [role] });
    expect(build.roles(3, [role], 2)).toStrictEqual({ pk: 'SERVER#3', sk: 'ROLES', roles: [role], roleIds: [9], version: 2 });
    expect(build.member(3, 7, [9], '2026-01-01T00:00:00.000Z')).toStrictEqual({
      pk: 'SERVER#3',
      sk: 'MEMBER#0000000007',
      gsi1pk: 'USER#7',
      gsi1sk: 'MEMBER#0000000003',
      serverId: 3,
      userId: 7,
      roles: [9],
      joined: '2026-01-01T00:00:00.000Z',
    });
    expect(build.invite('u-1', 3, 'never', '2026-01-01T00:00:00.000Z', undefined)).toStrictEqual({
      pk: 'INVITE#u-1',
      sk: 'INVITE',
      gsi1pk: 'INVITES#3',
      gsi1sk: '2026-01-01T00:00:00.000Z',
      id: 'u-1',
      serverId: 3,
      expires: 'never',
      ttl: undefined,
    });
    const ban = { id: 4, serverId: 3, userId: 7, expires: '2030-01-01T00:00:00.000Z' };
    expect(build.ban(ban, 1_900_000_000)).toStrictEqual({ pk: 'SERVER#3', sk: 'BAN#0000000004', ...ban, ttl: 1_900_000_000 });
    expect(build.bannedUser(ban, 1_900_000_000)).toStrictEqual({
      pk: 'SERVER#3',
      sk: 'BANNED#0000000007',
      banId: 4,
      expires: '2030-01-01T00:00:00.000Z',
      ttl: 1_900_000_000,
    });
    expect(build.adminVoiceState(3, 7, { mute: true, deaf: false })).toStrictEqual({ pk: 'SERVER#3', sk: 'VOICEADMIN#0000000007', serverId: 3, userId: 7, mute: true, deaf: false });
    expect(build.emoji(3, { id: 5, name: 'e', image: 'e.png' })).toStrictEqual({ pk: 'SERVER#3', sk: 'EMOJI#0000000005', id: 5, name: 'e', image: 'e.png' });
    expect(build.emojiName(3, 'e', 5)).toStrictEqual({ pk: 'SERVER#3', sk: 'EMOJINAME#e', emojiId: 5 });
  });

  test('channels and messages: channel, order, message (with and without notified), pointer', () => {
    const channel = { id: 11, type: 0, name: 'c', serverId: 3, wlUsers: [], wlRoles: [], overrides: {}, lastMessageId: 0 };
    expect(build.channel(channel)).toStrictEqual({ pk: 'CHANNEL#11', sk: 'META', ...channel });
    expect(build.channelOrder(3, [11, 12], 4)).toStrictEqual({ pk: 'SERVER#3', sk: 'CHANNELS', order: [11, 12], version: 4 });
    const message = { id: 20, channelId: 11, serverId: 3, authorId: 7, sent: '2026-01-01T00:00:00.000Z', text: 'hi', attachments: [], mentions: [] };
    const stored = {
      pk: 'CHANNEL#11',
      sk: 'MSG#0000000020',
      id: 20,
      authorId: 7,
      sent: '2026-01-01T00:00:00.000Z',
      edited: '2026-01-01T00:00:00.000Z',
      text: 'hi',
      attachments: [],
      mentions: [],
      channelId: 11,
      serverId: 3,
    };
    expect(build.message(message)).toStrictEqual(stored);
    expect(build.message({ ...message, notified: new Map() })).toStrictEqual(stored);
    expect(build.message({ ...message, notified: new Map([[8, 2]]) })).toStrictEqual({ ...stored, notified: { 8: 2 } });
    expect(build.messagePointer(20, 11)).toStrictEqual({ pk: 'MESSAGE#20', sk: 'POINTER', channelId: 11 });
  });

  test("a user's items: blocks, friends, DM pairs, preferences, uploads", () => {
    expect(build.blocks(7, 8)).toStrictEqual({ pk: 'USER#7', sk: 'BLOCKS#0000000008', blockedId: 8 });
    expect(build.blockedBy(8, 7)).toStrictEqual({ pk: 'USER#8', sk: 'BLOCKEDBY#0000000007', blockerId: 7 });
    expect(build.friend(7, 8, 'outgoing')).toStrictEqual({ pk: 'USER#7', sk: 'FRIEND#0000000008', userId: 8, state: 'outgoing' });
    expect(build.dmPair(7, 8, 30, 31)).toStrictEqual({ pk: 'USER#7', sk: 'DM#0000000008', otherId: 8, textId: 30, voiceId: 31 });
    expect(build.preferences(7, '{"a":"b"}', 2)).toStrictEqual({ pk: 'USER#7', sk: 'PREFERENCES', values: '{"a":"b"}', version: 2 });
    expect(build.upload(7, 1_700_000_000_123, 'f.png', 10)).toStrictEqual({ pk: 'USER#7', sk: 'UPLOAD#001700000000123#f.png', name: 'f.png', size: 10 });
  });

  test('voice: state and location share one expiry, indexed by it', () => {
    const state = { userId: 7, channelId: 11, serverId: 3, joined: '2026-01-01T00:00:00.000Z', mute: 0, deaf: 1, video: 0 };
    expect(build.voiceState(state, 'https://node', 1_700_000_030)).toStrictEqual({
      pk: 'CHANNEL#11',
      sk: 'VOICE#0000000007',
      gsi1pk: 'VOICESTATES',
      ttl: 1_700_000_030,
      gsi1sk: '001700000030',
      ...state,
      node: 'https://node',
    });
    expect(build.voiceState({ ...state, serverId: undefined }, 'n', 1)).toHaveProperty('serverId', undefined);
    expect(build.userVoice(7, 11, undefined, 'https://node', 1_700_000_030)).toStrictEqual({
      pk: 'USER#7',
      sk: 'VOICE',
      channelId: 11,
      serverId: undefined,
      node: 'https://node',
      ttl: 1_700_000_030,
      gsi1sk: '001700000030',
    });
    expect(voiceExpiry(5)).toStrictEqual({ ttl: 5, gsi1sk: '000000000005' });
  });

  test('connections: connection, owner, subscription, cap slot', () => {
    const minimal = { userId: 7, connectionId: 'c1', protocol: 'zavodchat' };
    const minimalItem = {
      protocol: 'zavodchat',
      pk: 'USER#7',
      sk: 'CONN#c1',
      gsi1pk: 'CONN#c1',
      gsi1sk: 'USER',
      userId: 7,
      connectionId: 'c1',
      connectedAt: 1_700_000_000_000,
      ttl: 1_700_008_100,
    };
    expect(build.connection(minimal, 1_700_000_000_000, 1_700_008_100)).toStrictEqual(minimalItem);
    const full = { ...minimal, sessionExpiresAt: 1_800_000_000_000, protocol: 'workspace', scope: 'w1' };
    expect(build.connection(full, 1_700_000_000_000, 1_700_008_100, { session: 'digest', sourceIp: '10.0.0.1' })).toStrictEqual({
      ...minimalItem,
      session: 'digest',
      sourceIp: '10.0.0.1',
      sessionExpiresAt: 1_800_000_000_000,
      protocol: 'workspace',
      scope: 'w1',
    });
    expect(build.connectionOwner('c1', 7, 1_700_008_100)).toStrictEqual({ pk: 'CONN#c1', sk: 'OWNER', gsi1pk: 'CONNECTIONS', gsi1sk: '1700008100#c1', userId: 7, ttl: 1_700_008_100 });
    expect(build.subscription(3, minimal, 1_700_008_100)).toStrictEqual({
      pk: 'SERVER#3',
      sk: 'CONN#0000000007#c1',
      gsi1pk: 'CONN#c1',
      gsi1sk: 'SERVER#0000000003',
      userId: 7,
      connectionId: 'c1',
      protocol: 'zavodchat',
      serverId: 3,
      ttl: 1_700_008_100,
    });
    expect(build.subscription(3, full, 1)).toMatchObject({ sessionExpiresAt: 1_800_000_000_000, protocol: 'workspace', scope: 'w1' });
    expect(build.connectionSlot(keys.slotsOfUser(7), 2, 'c1', 1_700_000_000_000, 1_700_008_100)).toStrictEqual({
      pk: 'USER#7',
      sk: 'CONNSLOT#2',
      gsi1pk: 'CONN#c1',
      gsi1sk: 'SLOT#USER#7',
      connectionId: 'c1',
      claimedAt: 1_700_000_000_000,
      ttl: 1_700_008_100,
    });
    expect(build.engineSession('c1', 'sid1', 1_700_000_000_000, 1_700_008_100)).toStrictEqual({
      pk: 'EIO#c1',
      sk: 'SESSION',
      gsi1pk: 'EIOSESSIONS',
      gsi1sk: '1700008100#c1',
      connectionId: 'c1',
      sid: 'sid1',
      connectedAt: 1_700_000_000_000,
      ttl: 1_700_008_100,
    });
  });
});
