import {
  compiledPermissions,
  hasPermission,
  pair,
  Perm,
  PERM1_DEFAULT,
  permissionChangeError,
  type PermissionSubject,
  type Role,
} from '../../lambdas/domain/permissions';

/** docs/upstream.md, "Permissions": server S owned by O; roles admin > moderator > member > default. */
const roles: Role[] = [
  { id: 2, name: 'admin', color: '#ff0000', perms1: 66816 },
  { id: 3, name: 'moderator', color: '#00ff00', perms1: 262212 },
  { id: 4, name: 'member', color: '#0000ff', perms1: 0 },
  { id: 1, name: 'default', color: '#999999', perms1: 2779817 },
];
const OWNER = 100;
const subject = (userId: number, userRoles: number[]): PermissionSubject => ({ ownerId: OWNER, userId, roles, userRoles });
const alice = subject(1, [3, 1]);
const bob = subject(2, [4, 1]);
const carol = subject(3, [2, 1]);
const owner = subject(OWNER, [1]);
const announcements = new Map([
  [1, 2], // default: send = deny
  [3, 1], // moderator: send = allow
]);

describe('perms1 encoding', () => {
  test('the default role allows sending and joining voice and denies everything else', () => {
    expect(PERM1_DEFAULT).toBe(2779817);
    expect(pair(PERM1_DEFAULT, Perm.CREATE_MESSAGES)).toBe(1);
    expect(pair(PERM1_DEFAULT, Perm.JOIN_VC)).toBe(1);
    for (const perm of [1, 2, 3, 4, 5, 6, 8, 9, 10]) expect(pair(PERM1_DEFAULT, perm)).toBe(2);
  });
});

describe('the worked example of §5.6', () => {
  test('posting in #announcements and elsewhere', () => {
    expect(hasPermission(bob, Perm.CREATE_MESSAGES, announcements)).toBe(false);
    expect(hasPermission(bob, Perm.CREATE_MESSAGES)).toBe(true);
    expect(hasPermission(alice, Perm.CREATE_MESSAGES, announcements)).toBe(true);
    expect(hasPermission(carol, Perm.CREATE_MESSAGES, announcements)).toBe(false);
    expect(hasPermission(owner, Perm.CREATE_MESSAGES, announcements)).toBe(true);
  });

  test('a higher role\'s own decision beats a lower role\'s channel override', () => {
    const sendingAdmin: Role[] = roles.map((r) => (r.id === 2 ? { ...r, perms1: r.perms1 + 1 } : r));
    expect(hasPermission({ ...carol, roles: sendingAdmin }, Perm.CREATE_MESSAGES, announcements)).toBe(true);
  });

  test("Alice's compiled permissions are 2517605", () => {
    expect(compiledPermissions(alice)).toBe(2517605);
  });

  test('server-level checks', () => {
    expect(hasPermission(alice, Perm.BAN_MEMBERS)).toBe(false);
    expect(hasPermission(alice, Perm.KICK_MEMBERS)).toBe(true);
    expect(hasPermission(alice, Perm.MANAGE_VC)).toBe(true);
    expect(hasPermission(carol, Perm.MANAGE_CHANNELS)).toBe(true);
    expect(hasPermission(bob, Perm.MANAGE_CHANNELS)).toBe(false);
    expect(hasPermission(owner, Perm.MANAGE_ROLES)).toBe(true);
    expect(hasPermission(subject(9, []), Perm.CREATE_MESSAGES)).toBe(false);
  });

  test('editing rules: you cannot grant what you lack', () => {
    const carolCompiled = compiledPermissions(carol);
    const member = 0;
    expect(permissionChangeError(member, 1, carolCompiled, false)).toBeUndefined();
    expect(permissionChangeError(member, 1 * 4 ** Perm.MANAGE_INVITES, carolCompiled, false)).toBe(
      'Cannot set permission bit to 1 while not having this permission',
    );
    // Keeping an existing 01 is fine even without having it; denying is always fine.
    expect(permissionChangeError(1 * 4 ** Perm.MANAGE_INVITES, 1 * 4 ** Perm.MANAGE_INVITES, carolCompiled, false)).toBeUndefined();
    expect(permissionChangeError(member, 2 * 4 ** Perm.MANAGE_INVITES, carolCompiled, false)).toBeUndefined();
    expect(permissionChangeError(member, 3, carolCompiled, false)).toBe('Invalid permission bits');
    expect(permissionChangeError(member, 4 ** 11, carolCompiled, false)).toBe('Invalid permission bits');
    expect(permissionChangeError(PERM1_DEFAULT, 0, carolCompiled, true)).toBe('Default role should have every permission set');
  });
});
