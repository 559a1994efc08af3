import { Perm, type PermIndex, type Role } from '../../lambdas/domain/permissions';
import { PNG } from './images';
import type { TestUser } from './system';

/**
 * Every REST operation the app serves, with how to call it against the authorization fixture and who
 * may do it (test/authorization.test.ts; docs/upstream.md, "REST conventions" with our decisions).
 */

/** What a request is answered with: the status, and the exact text when it matters. */
export interface Outcome {
  status: number;
  text?: string;
}

export interface Request {
  url: string;
  json?: unknown;
  /** Multipart form; Buffers are sent as files. */
  form?: Record<string, string | Buffer>;
}

/** The ids the authorization test builds once. */
export interface Fixture {
  owner: TestUser;
  /** A member with nothing but the default role (which allows only CREATE_MESSAGES and JOIN_VC). */
  member: TestUser;
  /** A registered user who never joined the server. */
  outsider: TestUser;
  /** A former member, banned (ban in force, `never` expires). */
  banned: TestUser;
  /** The owner's DM partner. */
  peer: TestUser;
  /** Members the owner's successful calls act upon, so those calls do not disturb the rest of the fixture. */
  victims: { kick: TestUser; ban: TestUser; role: TestUser };
  serverId: number;
  /** The server's roles, highest first: `staff`, then the default role. */
  roles: Role[];
  staffRoleId: number;
  channels: { text: number; voice: number; privateText: number; privateVoice: number; victim: number; dmText: number; dmVoice: number };
  messages: { text: number; private: number; dm: number; victim: number };
  invite: string;
  victimInvite: string;
  banId: number;
  emojiId: number;
  victimEmojiId: number;
  files: { userAvatar: string; serverAvatar: string; emoji: string; upload: string };
  /** A session of the owner whose expiry has passed but whose item is still in the table. */
  expiredToken: string;
  /** For each permission a REST operation needs: a member whose role allows every permission but that one (denied). */
  lacking: Map<PermIndex, TestUser>;
  /** A member whose role allows every permission (but who is neither the owner nor an author). */
  admin: TestUser;
  /** The owner of another server, with a role of his own there. */
  rival: TestUser;
  rivalServerId: number;
  rivalRoleId: number;
}

/** The ids a request addresses: the fixture's public ones, a private channel's, a DM's, or ids that do not exist. */
export interface Target {
  sid: number;
  /** A text channel. */
  cid: number;
  /** A voice channel. */
  vcid: number;
  mid: number;
}
export type TargetKind = 'public' | 'private' | 'dm' | 'missing';

export const MISSING_ID = 999999999;

export function targetOf(f: Fixture, kind: TargetKind): Target {
  switch (kind) {
    case 'public':
      return { sid: f.serverId, cid: f.channels.text, vcid: f.channels.voice, mid: f.messages.text };
    case 'private':
      return { sid: f.serverId, cid: f.channels.privateText, vcid: f.channels.privateVoice, mid: f.messages.private };
    case 'dm':
      return { sid: f.serverId, cid: f.channels.dmText, vcid: f.channels.dmVoice, mid: f.messages.dm };
    case 'missing':
      return { sid: MISSING_ID, cid: MISSING_ID, vcid: MISSING_ID, mid: MISSING_ID };
  }
}

/** Who proves that the request is well formed by getting through, and with what. */
export type Caller = 'anonymous' | 'owner' | 'member' | 'outsider' | 'rival';

export interface Operation {
  method: string;
  /** As the app registers it, `{name}` for parameters (lambdas/rest/api-doc.ts servedRoutes). */
  path: string;
  /** public: no session needed (a session is ignored); optional: served without one, checked when given. */
  access: 'public' | 'optional' | 'session';
  /**
   * What the operation is about: `user` (the caller's own account, no server), `server` (needs membership
   * of {sid}), `channel` (needs to see {cid}), `message` (needs to see the message's channel).
   */
  scope: 'user' | 'server' | 'channel' | 'message';
  /** For server, channel and message operations: may every member do it, or what does a plain member get? */
  member?: 'allowed' | Outcome;
  request: (f: Fixture, t: Target) => Request;
  /** The control: this caller's request goes through (run after all refusals, in table order). */
  ok: { as: Caller; expect: Outcome; request?: (f: Fixture) => Request };
  /**
   * What the operation needs beyond membership or sight of the channel: a permission (a member lacking
   * just that one is refused with `No permission`), or being the owner or the author (even a member
   * with every permission gets the same refusal as a plain member).
   */
  needs?: PermIndex | 'owner' | 'author';
  /** Answers that differ from what access and scope imply. */
  also?: Partial<Record<'member' | 'banned' | 'outsider', Outcome>>;
  /**
   * Further refusals with requests of their own: mostly ids of one server used through another (refused
   * as not found, never acted upon).
   */
  extra?: Array<{ as: 'rival' | 'owner' | 'admin'; request: (f: Fixture) => Request; expect: Outcome }>;
}

export const TEXT = {
  invalidToken: 'Invalid token',
  expired: 'Expired or invalid token',
  notMember: 'User is not a member of the server',
  noPermission: 'No permission',
  noChannel: 'Channel does not exist',
  noMessage: 'Message does not exist',
  noInvite: 'Invite does not exist',
  noBan: 'Ban does not exist',
  noEmoji: 'Emoji does not exist',
  noRole: 'Role does not exist',
} as const;

const NO_PERMISSION: Outcome = { status: 403, text: TEXT.noPermission };
const PAGE = 'start_id=0&count=50&order=1';
const NEWEST = 'start_id=2147483647&count=50';
const FUTURE = encodeURIComponent('2099-01-01T00:00:00Z');
let unique = 0;
const fresh = (prefix: string) => `${prefix}${++unique}x${process.pid}`;

export const OPERATIONS: Operation[] = [
  // Account
  {
    method: 'POST', path: '/register', access: 'public', scope: 'user',
    request: () => ({ url: '/register', json: { username: fresh('authz'), displayname: 'Newcomer', password: 'password1' } }),
    ok: { as: 'anonymous', expect: { status: 200, text: 'Registered' } },
  },
  {
    method: 'POST', path: '/auth', access: 'public', scope: 'user',
    request: (f) => ({ url: '/auth', json: { username: f.peer.username, password: 'password1' } }),
    ok: { as: 'anonymous', expect: { status: 200 } },
  },
  {
    method: 'PUT', path: '/register', access: 'session', scope: 'user',
    request: () => ({ url: '/register', form: { displayname: 'Renamed' } }),
    ok: { as: 'member', expect: { status: 200, text: 'Changed' } },
  },
  {
    method: 'GET', path: '/users/{uid}', access: 'public', scope: 'user',
    request: (f) => ({ url: `/users/${f.owner.id}` }),
    ok: { as: 'anonymous', expect: { status: 200 } },
  },
  {
    method: 'GET', path: '/users', access: 'optional', scope: 'user',
    request: () => ({ url: `/users?${PAGE}` }),
    ok: { as: 'anonymous', expect: { status: 200 } },
  },
  {
    method: 'PUT', path: '/user_status', access: 'session', scope: 'user',
    request: () => ({ url: '/user_status?status=2' }),
    ok: { as: 'member', expect: { status: 200, text: 'Changed' } },
  },
  {
    method: 'GET', path: '/params', access: 'public', scope: 'user',
    request: () => ({ url: '/params' }),
    ok: { as: 'anonymous', expect: { status: 200 } },
  },

  // Servers and members
  {
    method: 'GET', path: '/servers', access: 'session', scope: 'user',
    request: () => ({ url: '/servers' }),
    ok: { as: 'member', expect: { status: 200 } },
  },
  {
    method: 'POST', path: '/servers', access: 'session', scope: 'user',
    request: () => ({ url: '/servers', form: { name: 'another server' } }),
    ok: { as: 'member', expect: { status: 200 } },
  },
  {
    method: 'GET', path: '/servers/{sid}', access: 'session', scope: 'server', member: 'allowed',
    request: (_f, t) => ({ url: `/servers/${t.sid}` }),
    ok: { as: 'member', expect: { status: 200 } },
  },
  {
    method: 'PUT', path: '/servers/{sid}', access: 'session', scope: 'server', member: NO_PERMISSION,
    extra: [
      { as: 'rival', request: (f) => ({ url: `/servers/${f.rivalServerId}`, form: { owner_id: String(f.member.id) } }), expect: { status: 404, text: TEXT.notMember } },
      // CHANGE_SERVER is not enough to hand the server over.
      { as: 'admin', request: (f) => ({ url: `/servers/${f.serverId}`, form: { owner_id: String(f.admin.id) } }), expect: { status: 403, text: 'Only the owner can transfer ownership' } },
    ],
    needs: Perm.CHANGE_SERVER,
    request: (_f, t) => ({ url: `/servers/${t.sid}`, form: { name: 'taken over' } }),
    ok: { as: 'owner', expect: { status: 200, text: 'Changed' } },
  },
  {
    method: 'DELETE', path: '/servers/{sid}', access: 'session', scope: 'server', member: { status: 403, text: 'Only the owner can delete the server' },
    needs: 'owner',
    request: (_f, t) => ({ url: `/servers/${t.sid}` }),
    ok: { as: 'owner', expect: { status: 200, text: 'Deleted' } },
  },
  {
    method: 'GET', path: '/servers/{sid}/users', access: 'session', scope: 'server', member: 'allowed',
    request: (_f, t) => ({ url: `/servers/${t.sid}/users?${PAGE}` }),
    ok: { as: 'member', expect: { status: 200 } },
  },
  {
    method: 'GET', path: '/servers/{sid}/users/{uid}', access: 'session', scope: 'server', member: 'allowed',
    extra: [{ as: 'rival', request: (f) => ({ url: `/servers/${f.rivalServerId}/users/${f.owner.id}` }), expect: { status: 404, text: TEXT.notMember } }],
    request: (f, t) => ({ url: `/servers/${t.sid}/users/${f.owner.id}` }),
    ok: { as: 'member', expect: { status: 200 } },
  },

  // Invites
  {
    method: 'GET', path: '/servers/{sid}/invites', access: 'session', scope: 'server', member: NO_PERMISSION,
    needs: Perm.MANAGE_INVITES,
    request: (_f, t) => ({ url: `/servers/${t.sid}/invites` }),
    ok: { as: 'owner', expect: { status: 200 } },
  },
  {
    method: 'POST', path: '/servers/{sid}/invites', access: 'session', scope: 'server', member: NO_PERMISSION,
    needs: Perm.MANAGE_INVITES,
    request: (_f, t) => ({ url: `/servers/${t.sid}/invites?expires=never` }),
    ok: { as: 'owner', expect: { status: 200 } },
  },
  {
    method: 'GET', path: '/servers/{sid}/invites/{iid}', access: 'session', scope: 'server', member: NO_PERMISSION,
    extra: [{ as: 'rival', request: (f) => ({ url: `/servers/${f.rivalServerId}/invites/${f.invite}` }), expect: { status: 404, text: TEXT.noInvite } }],
    needs: Perm.MANAGE_INVITES,
    request: (f, t) => ({ url: `/servers/${t.sid}/invites/${f.invite}` }),
    ok: { as: 'owner', expect: { status: 200 } },
  },
  {
    method: 'PUT', path: '/servers/{sid}/invites/{iid}', access: 'session', scope: 'server', member: NO_PERMISSION,
    extra: [{ as: 'rival', request: (f) => ({ url: `/servers/${f.rivalServerId}/invites/${f.invite}?expires=${FUTURE}` }), expect: { status: 404, text: TEXT.noInvite } }],
    needs: Perm.MANAGE_INVITES,
    request: (f, t) => ({ url: `/servers/${t.sid}/invites/${f.invite}?expires=${FUTURE}` }),
    ok: { as: 'owner', expect: { status: 200, text: 'Changed' } },
  },
  {
    method: 'DELETE', path: '/servers/{sid}/invites/{iid}', access: 'session', scope: 'server', member: NO_PERMISSION,
    extra: [{ as: 'rival', request: (f) => ({ url: `/servers/${f.rivalServerId}/invites/${f.invite}` }), expect: { status: 404, text: TEXT.noInvite } }],
    needs: Perm.MANAGE_INVITES,
    request: (f, t) => ({ url: `/servers/${t.sid}/invites/${f.invite}` }),
    ok: { as: 'owner', expect: { status: 200, text: 'Deleted' }, request: (f) => ({ url: `/servers/${f.serverId}/invites/${f.victimInvite}` }) },
  },
  {
    method: 'GET', path: '/server_invites/{iid}', access: 'public', scope: 'user',
    request: (f) => ({ url: `/server_invites/${f.invite}` }),
    ok: { as: 'anonymous', expect: { status: 200 } },
  },
  {
    method: 'POST', path: '/server_invites/{iid}', access: 'session', scope: 'user',
    request: (f) => ({ url: `/server_invites/${f.invite}` }),
    also: {
      banned: { status: 403, text: 'User is banned from the server' },
      member: { status: 202, text: 'User is already a member of the server' },
    },
    ok: { as: 'outsider', expect: { status: 200, text: 'Joined' } },
  },

  // Channels
  {
    method: 'GET', path: '/servers/{sid}/channels', access: 'session', scope: 'server', member: 'allowed',
    request: (_f, t) => ({ url: `/servers/${t.sid}/channels` }),
    ok: { as: 'member', expect: { status: 200 } },
  },
  {
    method: 'POST', path: '/servers/{sid}/channels', access: 'session', scope: 'server', member: NO_PERMISSION,
    needs: Perm.MANAGE_CHANNELS,
    request: (_f, t) => ({ url: `/servers/${t.sid}/channels`, json: { name: 'intruder', type: 0 } }),
    ok: { as: 'owner', expect: { status: 200 } },
  },
  {
    method: 'GET', path: '/channels/{cid}', access: 'session', scope: 'channel', member: 'allowed',
    request: (_f, t) => ({ url: `/channels/${t.cid}` }),
    ok: { as: 'member', expect: { status: 200 } },
  },
  {
    method: 'PUT', path: '/channels/{cid}', access: 'session', scope: 'channel', member: NO_PERMISSION,
    needs: Perm.MANAGE_CHANNELS,
    request: (_f, t) => ({ url: `/channels/${t.cid}`, json: { name: 'renamed' } }),
    ok: { as: 'owner', expect: { status: 200, text: 'Changed' } },
  },
  {
    method: 'DELETE', path: '/channels/{cid}', access: 'session', scope: 'channel', member: NO_PERMISSION,
    needs: Perm.MANAGE_CHANNELS,
    request: (_f, t) => ({ url: `/channels/${t.cid}` }),
    ok: { as: 'owner', expect: { status: 200, text: 'Deleted' }, request: (f) => ({ url: `/channels/${f.channels.victim}` }) },
  },
  {
    method: 'POST', path: '/channels/{cid}/roles/{rid}', access: 'session', scope: 'channel', member: NO_PERMISSION,
    extra: [{ as: 'owner', request: (f) => ({ url: `/channels/${f.channels.text}/roles/${f.rivalRoleId}`, json: { perms1: 2 } }), expect: { status: 404, text: TEXT.noRole } }],
    needs: Perm.MANAGE_CHANNELS,
    request: (f, t) => ({ url: `/channels/${t.cid}/roles/${f.staffRoleId}`, json: { perms1: 2 } }),
    ok: { as: 'owner', expect: { status: 200, text: 'Changed' } },
  },
  {
    method: 'DELETE', path: '/channels/{cid}/roles/{rid}', access: 'session', scope: 'channel', member: NO_PERMISSION,
    needs: Perm.MANAGE_CHANNELS,
    request: (f, t) => ({ url: `/channels/${t.cid}/roles/${f.staffRoleId}` }),
    ok: { as: 'owner', expect: { status: 200, text: 'Removed' } },
  },

  // Messages and notifications
  {
    method: 'GET', path: '/channels/{cid}/messages', access: 'session', scope: 'channel', member: 'allowed',
    request: (_f, t) => ({ url: `/channels/${t.cid}/messages?${NEWEST}` }),
    ok: { as: 'member', expect: { status: 200 } },
  },
  {
    method: 'POST', path: '/channels/{cid}/messages', access: 'session', scope: 'channel', member: 'allowed',
    needs: Perm.CREATE_MESSAGES,
    request: (_f, t) => ({ url: `/channels/${t.cid}/messages`, json: { text: 'intrusion' } }),
    ok: { as: 'member', expect: { status: 200 } },
  },
  {
    method: 'POST', path: '/channels/{cid}/messages_search', access: 'session', scope: 'channel', member: 'allowed',
    request: (_f, t) => ({ url: `/channels/${t.cid}/messages_search?${NEWEST}`, json: { content: 'secret' } }),
    ok: { as: 'member', expect: { status: 200 } },
  },
  {
    method: 'GET', path: '/messages/{mid}', access: 'session', scope: 'message', member: 'allowed',
    request: (_f, t) => ({ url: `/messages/${t.mid}` }),
    ok: { as: 'member', expect: { status: 200 } },
  },
  {
    method: 'PUT', path: '/messages/{mid}', access: 'session', scope: 'message', member: { status: 403, text: 'Only the author can edit a message' },
    needs: 'author',
    request: (_f, t) => ({ url: `/messages/${t.mid}`, json: { text: 'forged' } }),
    ok: { as: 'owner', expect: { status: 200, text: 'Changed' } },
  },
  {
    method: 'DELETE', path: '/messages/{mid}', access: 'session', scope: 'message', member: NO_PERMISSION,
    needs: Perm.DELETE_MESSAGES,
    request: (_f, t) => ({ url: `/messages/${t.mid}` }),
    ok: { as: 'owner', expect: { status: 200, text: 'Deleted' }, request: (f) => ({ url: `/messages/${f.messages.victim}` }) },
  },
  {
    method: 'GET', path: '/notifications', access: 'session', scope: 'user',
    request: () => ({ url: '/notifications' }),
    ok: { as: 'member', expect: { status: 200 } },
  },
  {
    method: 'DELETE', path: '/notifications/channels/{cid}', access: 'session', scope: 'channel', member: 'allowed',
    request: (_f, t) => ({ url: `/notifications/channels/${t.cid}` }),
    ok: { as: 'member', expect: { status: 200, text: 'Cleared' } },
  },

  // Roles
  {
    method: 'GET', path: '/servers/{sid}/roles', access: 'session', scope: 'server', member: 'allowed',
    request: (_f, t) => ({ url: `/servers/${t.sid}/roles` }),
    ok: { as: 'member', expect: { status: 200 } },
  },
  {
    method: 'PUT', path: '/servers/{sid}/roles', access: 'session', scope: 'server', member: NO_PERMISSION,
    needs: Perm.MANAGE_ROLES,
    request: (f, t) => ({ url: `/servers/${t.sid}/roles`, json: f.roles }),
    ok: { as: 'owner', expect: { status: 200, text: '' } },
  },
  {
    method: 'POST', path: '/servers/{sid}/users/{uid}/roles/{rid}', access: 'session', scope: 'server', member: NO_PERMISSION,
    extra: [{ as: 'rival', request: (f) => ({ url: `/servers/${f.rivalServerId}/users/${f.rival.id}/roles/${f.staffRoleId}` }), expect: { status: 404, text: TEXT.noRole } }],
    needs: Perm.MANAGE_ROLES,
    request: (f, t) => ({ url: `/servers/${t.sid}/users/${f.victims.role.id}/roles/${f.staffRoleId}` }),
    ok: { as: 'owner', expect: { status: 200, text: 'Assigned' } },
  },
  {
    method: 'DELETE', path: '/servers/{sid}/users/{uid}/roles/{rid}', access: 'session', scope: 'server', member: NO_PERMISSION,
    extra: [{ as: 'rival', request: (f) => ({ url: `/servers/${f.rivalServerId}/users/${f.rival.id}/roles/${f.staffRoleId}` }), expect: { status: 404, text: TEXT.noRole } }],
    needs: Perm.MANAGE_ROLES,
    request: (f, t) => ({ url: `/servers/${t.sid}/users/${f.victims.role.id}/roles/${f.staffRoleId}` }),
    ok: { as: 'owner', expect: { status: 200, text: 'Removed' } },
  },

  // Kick and bans
  {
    method: 'DELETE', path: '/servers/{sid}/users/{uid}', access: 'session', scope: 'server', member: NO_PERMISSION,
    extra: [{ as: 'rival', request: (f) => ({ url: `/servers/${f.rivalServerId}/users/${f.member.id}` }), expect: { status: 404, text: TEXT.notMember } }],
    needs: Perm.KICK_MEMBERS,
    request: (f, t) => ({ url: `/servers/${t.sid}/users/${f.victims.kick.id}` }),
    ok: { as: 'owner', expect: { status: 200, text: 'Kicked' } },
  },
  {
    method: 'GET', path: '/servers/{sid}/bans', access: 'session', scope: 'server', member: NO_PERMISSION,
    needs: Perm.BAN_MEMBERS,
    request: (_f, t) => ({ url: `/servers/${t.sid}/bans?${PAGE}` }),
    ok: { as: 'owner', expect: { status: 200 } },
  },
  {
    method: 'POST', path: '/servers/{sid}/bans/{uid}', access: 'session', scope: 'server', member: NO_PERMISSION,
    extra: [{ as: 'rival', request: (f) => ({ url: `/servers/${f.rivalServerId}/bans/${f.member.id}?expires=never` }), expect: { status: 404, text: TEXT.notMember } }],
    needs: Perm.BAN_MEMBERS,
    request: (f, t) => ({ url: `/servers/${t.sid}/bans/${f.victims.ban.id}?expires=never` }),
    ok: { as: 'owner', expect: { status: 200, text: 'Banned' } },
  },
  {
    method: 'PUT', path: '/servers/{sid}/bans/{bid}', access: 'session', scope: 'server', member: NO_PERMISSION,
    extra: [{ as: 'rival', request: (f) => ({ url: `/servers/${f.rivalServerId}/bans/${f.banId}?expires=${FUTURE}` }), expect: { status: 404, text: TEXT.noBan } }],
    needs: Perm.BAN_MEMBERS,
    request: (f, t) => ({ url: `/servers/${t.sid}/bans/${f.banId}?expires=${FUTURE}` }),
    ok: { as: 'owner', expect: { status: 200, text: 'Changed' } },
  },
  {
    method: 'DELETE', path: '/servers/{sid}/bans/{bid}', access: 'session', scope: 'server', member: NO_PERMISSION,
    extra: [{ as: 'rival', request: (f) => ({ url: `/servers/${f.rivalServerId}/bans/${f.banId}` }), expect: { status: 404, text: TEXT.noBan } }],
    needs: Perm.BAN_MEMBERS,
    request: (f, t) => ({ url: `/servers/${t.sid}/bans/${f.banId}` }),
    ok: { as: 'owner', expect: { status: 200, text: 'Unbanned' } },
  },

  // Friends, blocks, DMs
  {
    method: 'GET', path: '/friends', access: 'session', scope: 'user',
    request: () => ({ url: '/friends' }),
    ok: { as: 'member', expect: { status: 200 } },
  },
  {
    method: 'GET', path: '/friend_requests', access: 'session', scope: 'user',
    request: () => ({ url: '/friend_requests?incoming=0' }),
    ok: { as: 'member', expect: { status: 200 } },
  },
  {
    method: 'POST', path: '/friends/{uid}', access: 'session', scope: 'user',
    request: (f) => ({ url: `/friends/${f.peer.id}` }),
    ok: { as: 'member', expect: { status: 200, text: 'Friend request was sent' } },
  },
  {
    method: 'DELETE', path: '/friends/{uid}', access: 'session', scope: 'user',
    request: (f) => ({ url: `/friends/${f.peer.id}` }),
    ok: { as: 'member', expect: { status: 200, text: 'Cancelled friend request' } },
  },
  {
    method: 'GET', path: '/blocked_users', access: 'session', scope: 'user',
    request: () => ({ url: '/blocked_users' }),
    ok: { as: 'member', expect: { status: 200 } },
  },
  {
    method: 'POST', path: '/blocked_users/{uid}', access: 'session', scope: 'user',
    request: (f) => ({ url: `/blocked_users/${f.peer.id}` }),
    ok: { as: 'member', expect: { status: 200 } },
  },
  {
    method: 'DELETE', path: '/blocked_users/{uid}', access: 'session', scope: 'user',
    request: (f) => ({ url: `/blocked_users/${f.peer.id}` }),
    ok: { as: 'member', expect: { status: 200, text: 'User was unblocked' } },
  },
  {
    method: 'GET', path: '/dms', access: 'session', scope: 'user',
    request: () => ({ url: `/dms?${NEWEST}` }),
    ok: { as: 'member', expect: { status: 200 } },
  },
  {
    method: 'POST', path: '/dms/{uid}', access: 'session', scope: 'user',
    request: (f) => ({ url: `/dms/${f.peer.id}` }),
    ok: { as: 'member', expect: { status: 200 } },
  },

  // Preferences
  {
    method: 'GET', path: '/preferences', access: 'session', scope: 'user',
    request: () => ({ url: '/preferences' }),
    ok: { as: 'member', expect: { status: 200 } },
  },
  {
    method: 'PUT', path: '/preferences', access: 'session', scope: 'user',
    request: () => ({ url: '/preferences', json: { theme: 'dark' } }),
    ok: { as: 'member', expect: { status: 200, text: 'Changed' } },
  },
  {
    method: 'POST', path: '/preferences', access: 'session', scope: 'user',
    request: () => ({ url: '/preferences', json: { theme: 'light' } }),
    ok: { as: 'member', expect: { status: 200, text: 'Replaced' } },
  },

  // Emojis
  {
    method: 'GET', path: '/servers/{sid}/emojis', access: 'session', scope: 'server', member: 'allowed',
    request: (_f, t) => ({ url: `/servers/${t.sid}/emojis` }),
    ok: { as: 'member', expect: { status: 200 } },
  },
  {
    method: 'POST', path: '/servers/{sid}/emojis', access: 'session', scope: 'server', member: NO_PERMISSION,
    needs: Perm.MANAGE_EMOJIS,
    request: (_f, t) => ({ url: `/servers/${t.sid}/emojis`, form: { name: fresh('emoji'), image: PNG } }),
    ok: { as: 'owner', expect: { status: 200, text: 'Created' } },
  },
  {
    method: 'PUT', path: '/servers/{sid}/emojis/{eid}', access: 'session', scope: 'server', member: NO_PERMISSION,
    extra: [{ as: 'rival', request: (f) => ({ url: `/servers/${f.rivalServerId}/emojis/${f.emojiId}`, form: { name: 'stolen' } }), expect: { status: 404, text: TEXT.noEmoji } }],
    needs: Perm.MANAGE_EMOJIS,
    request: (f, t) => ({ url: `/servers/${t.sid}/emojis/${f.emojiId}`, form: { name: fresh('renamed') } }),
    ok: { as: 'owner', expect: { status: 200, text: 'Changed' } },
  },
  {
    method: 'DELETE', path: '/servers/{sid}/emojis/{eid}', access: 'session', scope: 'server', member: NO_PERMISSION,
    extra: [{ as: 'rival', request: (f) => ({ url: `/servers/${f.rivalServerId}/emojis/${f.emojiId}` }), expect: { status: 404, text: TEXT.noEmoji } }],
    needs: Perm.MANAGE_EMOJIS,
    request: (f, t) => ({ url: `/servers/${t.sid}/emojis/${f.emojiId}` }),
    ok: { as: 'owner', expect: { status: 200, text: 'Deleted' }, request: (f) => ({ url: `/servers/${f.serverId}/emojis/${f.victimEmojiId}` }) },
  },

  // Files
  {
    method: 'GET', path: '/files/avatar/user/{f}', access: 'public', scope: 'user',
    request: (f) => ({ url: `/files/avatar/user/${f.files.userAvatar}` }),
    ok: { as: 'anonymous', expect: { status: 200 } },
  },
  {
    method: 'GET', path: '/files/avatar/server/{f}', access: 'public', scope: 'user',
    request: (f) => ({ url: `/files/avatar/server/${f.files.serverAvatar}` }),
    ok: { as: 'anonymous', expect: { status: 200 } },
  },
  {
    method: 'GET', path: '/files/emoji/{f}', access: 'public', scope: 'user',
    request: (f) => ({ url: `/files/emoji/${f.files.emoji}` }),
    ok: { as: 'anonymous', expect: { status: 200 } },
  },
  {
    // Any signed-in user may download an upload (upstream: no membership check).
    method: 'GET', path: '/files/upload/{uid}/{f}', access: 'session', scope: 'user',
    request: (f) => ({ url: `/files/upload/${f.owner.id}/${f.files.upload}` }),
    ok: { as: 'outsider', expect: { status: 200 } },
  },
  {
    method: 'POST', path: '/files/upload', access: 'session', scope: 'user',
    request: () => ({ url: '/files/upload', form: { ext: 'txt', file: Buffer.from('hello') } }),
    ok: { as: 'member', expect: { status: 200 } },
  },
  {
    // Names are per uploader: someone else's file name is not found among the caller's uploads.
    method: 'DELETE', path: '/files/upload/{f}', access: 'session', scope: 'user',
    request: (f) => ({ url: `/files/upload/${f.files.upload}` }),
    also: { member: { status: 404, text: 'File does not exist' }, outsider: { status: 404, text: 'File does not exist' } },
    ok: { as: 'owner', expect: { status: 200, text: 'Deleted' } },
  },

  // Voice
  {
    // Nobody is in voice here: the owner gets past every check and is told so.
    method: 'DELETE', path: '/channels/{cid}/users/{uid}', access: 'session', scope: 'channel', member: NO_PERMISSION,
    needs: Perm.MANAGE_VC,
    request: (f, t) => ({ url: `/channels/${t.vcid}/users/${f.member.id}` }),
    ok: { as: 'owner', expect: { status: 404, text: 'User is not in this voice channel' } },
  },
  {
    // Admin mute (our extension). Nobody is in voice here: the control only stores the member's state.
    method: 'PUT', path: '/channels/{cid}/users/{uid}', access: 'session', scope: 'channel', member: NO_PERMISSION,
    needs: Perm.MANAGE_VC,
    request: (f, t) => ({ url: `/channels/${t.vcid}/users/${f.member.id}?mute=1` }),
    extra: [
      { as: 'owner', request: (f) => ({ url: `/channels/${f.channels.text}/users/${f.member.id}?mute=1` }), expect: { status: 400, text: 'Not a voice channel' } },
      { as: 'owner', request: (f) => ({ url: `/channels/${f.channels.dmVoice}/users/${f.peer.id}?mute=1` }), expect: { status: 400, text: 'Not a server voice channel' } },
      { as: 'owner', request: (f) => ({ url: `/channels/${f.channels.voice}/users/${f.outsider.id}?mute=1` }), expect: { status: 404, text: TEXT.notMember } },
      { as: 'owner', request: (f) => ({ url: `/channels/${f.channels.voice}/users/${f.banned.id}?deaf=1` }), expect: { status: 404, text: TEXT.notMember } },
      { as: 'owner', request: (f) => ({ url: `/channels/${f.channels.voice}/users/${f.member.id}?mute=2` }), expect: { status: 400, text: 'mute is invalid: 2 is not 0 or 1' } },
      { as: 'owner', request: (f) => ({ url: `/channels/${f.channels.voice}/users/${f.member.id}` }), expect: { status: 400, text: "Expected 'mute' or 'deaf' (0 or 1)" } },
    ],
    ok: { as: 'owner', expect: { status: 200, text: 'Changed' } },
  },

  // Logout (our extension). Last in the table: its control ends the rival's session, which nothing after uses.
  {
    method: 'DELETE', path: '/auth', access: 'session', scope: 'user',
    request: () => ({ url: '/auth' }),
    ok: { as: 'rival', expect: { status: 200, text: 'Logged out' } },
  },
];
