/**
 * The pure rules behind who receives an event: channel visibility (canSeeChannel), the audience of a
 * channel's events (channelAudience and its member filter), and the role-order rules (who may act on which role or member).
 */
import { channelAudience } from '../../lambdas/domain/access';
import { type Channel, canSeeChannel, isPublic } from '../../lambdas/domain/channels';
import type { MemberFilter } from '../../lambdas/domain/fanout';
import {
  highestRoleIndex,
  isRoleBelowUser,
  isUserBelowUser,
  pair,
  Perm,
  PERM1_DEFAULT,
  type PermissionSubject,
  type Role,
  withPair,
} from '../../lambdas/domain/permissions';

const OWNER = 100;
const allow = (perm: number) => 1 * 4 ** perm;
const deny = (perm: number) => 2 * 4 ** perm;
/** Highest first, default last: a "staff" role that may manage channels, a plain "member" role. */
const roles: Role[] = [
  { id: 2, name: 'staff', color: '#f00', perms1: allow(Perm.MANAGE_CHANNELS) },
  { id: 3, name: 'member', color: '#0f0', perms1: 0 },
  { id: 1, name: 'default', color: '#999', perms1: PERM1_DEFAULT },
];
const server = { server: { id: 9, name: 's', owner_id: OWNER }, roles };
const subject = (userId: number, userRoles: number[]): PermissionSubject => ({ ownerId: OWNER, userId, roles, userRoles });
const channel = (overrides: Partial<Channel> = {}): Channel => ({ id: 50, type: 0, serverId: 9, wlUsers: [], wlRoles: [], overrides: {}, lastMessageId: 0, ...overrides });

describe('channel visibility', () => {
  test('a channel without whitelists is public: every member sees it', () => {
    expect(isPublic(channel())).toBe(true);
    expect(canSeeChannel(subject(7, [1]), channel())).toBe(true);
    expect(canSeeChannel(subject(7, []), channel())).toBe(true);
  });

  test('a private channel: whitelisted users, holders of a whitelisted role, the owner and channel managers', () => {
    const staffOnly = channel({ wlUsers: [7], wlRoles: [3] });
    expect(isPublic(staffOnly)).toBe(false);
    expect(canSeeChannel(subject(7, [1]), staffOnly)).toBe(true);
    expect(canSeeChannel(subject(8, [3, 1]), staffOnly)).toBe(true);
    expect(canSeeChannel(subject(OWNER, [1]), staffOnly)).toBe(true);
    expect(canSeeChannel(subject(9, [2, 1]), staffOnly)).toBe(true);
    expect(canSeeChannel(subject(10, [1]), staffOnly)).toBe(false);
    // Only a whitelist of users (no roles) makes it private too.
    expect(canSeeChannel(subject(10, [1]), channel({ wlUsers: [7] }))).toBe(false);
  });

  test('MANAGE_CHANNELS is decided by the highest role that says something: a higher deny hides the channel', () => {
    const denyingRoles: Role[] = [{ id: 4, name: 'muted', color: '#000', perms1: deny(Perm.MANAGE_CHANNELS) }, ...roles];
    const hidden = channel({ wlUsers: [7] });
    expect(canSeeChannel({ ownerId: OWNER, userId: 9, roles: denyingRoles, userRoles: [4, 2, 1] }, hidden)).toBe(false);
    expect(canSeeChannel({ ownerId: OWNER, userId: 9, roles: denyingRoles, userRoles: [2, 1] }, hidden)).toBe(true);
  });
});

describe('the audience of a channel\'s events', () => {
  function filterOf(target: ReturnType<typeof channelAudience>): MemberFilter {
    if (target.kind !== 'server' || !target.include) throw new Error(`expected a filtered server audience, got ${JSON.stringify(target)}`);
    return target.include;
  }

  test('a server channel: the server\'s members, filtered by visibility, minus blockers of the actor', () => {
    const target = channelAudience(channel({ wlRoles: [3] }), server, 7);
    expect(target).toMatchObject({ kind: 'server', serverId: 9, actor: 7 });
    const include = filterOf(target);
    expect(include(8, [3, 1])).toBe(true);
    expect(include(10, [1])).toBe(false);
    expect(include(OWNER, [1])).toBe(true);
    expect(include(11, [2, 1])).toBe(true);
    // A public channel lets every member in.
    expect(filterOf(channelAudience(channel(), server))(10, [])).toBe(true);
  });

  test('the filter decides from the roles it is given, as stored now, not from who was asked before', () => {
    const include = filterOf(channelAudience(channel({ wlRoles: [3] }), server));
    expect(include(8, [1])).toBe(false);
    expect(include(8, [3, 1])).toBe(true);
  });

  test('a DM channel: its two participants, minus blockers of the actor; no server to ask', () => {
    const dm: Channel = { id: 60, type: 0, participants: [4, 5], wlUsers: [], wlRoles: [], overrides: {}, lastMessageId: 0 };
    expect(channelAudience(dm, undefined, 4)).toEqual({ kind: 'users', userIds: [4, 5], actor: 4 });
    expect(channelAudience(dm, server, 4)).toEqual({ kind: 'users', userIds: [4, 5], actor: 4 });
    // A DM channel without participants (a broken item) reaches nobody rather than everybody.
    expect(channelAudience({ ...dm, participants: undefined }, undefined)).toEqual({ kind: 'users', userIds: [], actor: undefined });
  });
});

describe('role order: who may act on which role or member', () => {
  test('the highest held role, the owner above all, nobody below all', () => {
    expect(highestRoleIndex(subject(OWNER, []))).toBe(-1);
    expect(highestRoleIndex(subject(7, [3, 1]))).toBe(1);
    expect(highestRoleIndex(subject(7, [1, 2]))).toBe(0);
    expect(highestRoleIndex(subject(7, []))).toBe(Infinity);
    // A role id the server does not have counts for nothing.
    expect(highestRoleIndex(subject(7, [42]))).toBe(Infinity);
  });

  test('a role is below a user when he holds a higher one; his own role only with canBeEqual', () => {
    const member = subject(7, [3, 1]);
    expect(isRoleBelowUser(member, 1)).toBe(true);
    expect(isRoleBelowUser(member, 3)).toBe(false);
    expect(isRoleBelowUser(member, 3, true)).toBe(true);
    expect(isRoleBelowUser(member, 2)).toBe(false);
    expect(isRoleBelowUser(member, 2, true)).toBe(false);
    expect(isRoleBelowUser(subject(OWNER, []), 2)).toBe(true);
    // Holding nothing: not even the lowest role is below him, nor an unknown one.
    expect(isRoleBelowUser(subject(7, []), 1)).toBe(false);
    expect(isRoleBelowUser(member, 42)).toBe(true);
  });

  test('a user is below another when his highest role comes strictly later; the owner is below nobody', () => {
    const staff = subject(9, [2, 1]);
    expect(isUserBelowUser(staff, 7, [3, 1])).toBe(true);
    expect(isUserBelowUser(staff, 8, [2, 1])).toBe(false);
    expect(isUserBelowUser(subject(7, [3, 1]), 9, [2, 1])).toBe(false);
    expect(isUserBelowUser(staff, OWNER, [])).toBe(false);
    expect(isUserBelowUser(subject(OWNER, []), 9, [2, 1])).toBe(true);
    expect(isUserBelowUser(staff, 7, [])).toBe(true);
  });

  test('pairs: reading and writing one permission leaves the others alone', () => {
    const value = withPair(withPair(PERM1_DEFAULT, Perm.MANAGE_ROLES, 1), Perm.CREATE_MESSAGES, 2);
    expect(pair(value, Perm.MANAGE_ROLES)).toBe(1);
    expect(pair(value, Perm.CREATE_MESSAGES)).toBe(2);
    for (let i = 0; i < 11; i++) if (i !== Perm.MANAGE_ROLES && i !== Perm.CREATE_MESSAGES) expect(pair(value, i)).toBe(pair(PERM1_DEFAULT, i));
    expect(withPair(value, Perm.MANAGE_ROLES, pair(PERM1_DEFAULT, Perm.MANAGE_ROLES))).toBe(withPair(PERM1_DEFAULT, Perm.CREATE_MESSAGES, 2));
  });
});
