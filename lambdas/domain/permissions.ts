import { TEXT } from './errors';

/**
 * ZavodChat's permission model (docs/upstream.md, "Permissions"): `perms1` holds one two-bit pair per permission,
 * 00 = unset (defer to lower roles), 01 = allow, 10 = deny, 11 = invalid.
 */
export const Perm = {
  CREATE_MESSAGES: 0,
  DELETE_MESSAGES: 1,
  CHANGE_SERVER: 2,
  KICK_MEMBERS: 3,
  BAN_MEMBERS: 4,
  MANAGE_CHANNELS: 5,
  MANAGE_INVITES: 6,
  JOIN_VC: 7,
  MANAGE_ROLES: 8,
  MANAGE_VC: 9,
  MANAGE_EMOJIS: 10,
} as const;
export type PermIndex = (typeof Perm)[keyof typeof Perm];
export const PERM_COUNT = 11;

export const PAIR = { UNSET: 0, ALLOW: 1, DENY: 2, INVALID: 3 } as const;

/** Send messages and join voice allowed, everything else denied: the default role of a new server. */
export const PERM1_DEFAULT = 2779817;

export interface Role {
  id: number;
  name: string;
  color: string;
  perms1: number;
}

export function pair(perms1: number, index: number): number {
  return Math.floor(perms1 / 4 ** index) % 4;
}

export function withPair(perms1: number, index: number, value: number): number {
  return perms1 - pair(perms1, index) * 4 ** index + value * 4 ** index;
}

/** Who is asking, in which server: everything a permission decision needs. */
export interface PermissionSubject {
  ownerId: number;
  userId: number;
  /** The server's roles, highest first, default role last. */
  roles: Role[];
  /** Ids of the roles the user holds. */
  userRoles: readonly number[];
}

function holds(subject: PermissionSubject, roleId: number): boolean {
  return subject.userRoles.includes(roleId);
}

/**
 * Effective permission (§5.3): the owner may do everything; otherwise walk the held roles from the
 * highest down, the channel override of a role (if any) beating that role's own pair; first 01/10 wins.
 */
export function hasPermission(
  subject: PermissionSubject,
  perm: PermIndex,
  channelOverrides?: ReadonlyMap<number, number>,
): boolean {
  if (subject.userId === subject.ownerId) return true;
  for (const role of subject.roles) {
    if (!holds(subject, role.id)) continue;
    const override = channelOverrides?.get(role.id);
    const fromOverride = override === undefined ? PAIR.UNSET : pair(override, perm);
    const decided = fromOverride !== PAIR.UNSET ? fromOverride : pair(role.perms1, perm);
    if (decided === PAIR.ALLOW) return true;
    if (decided === PAIR.DENY) return false;
  }
  return false;
}

/** Compiled permissions (§5.3): for every pair the first non-00 value of the held roles; owner = all 01. */
export function compiledPermissions(subject: PermissionSubject): number {
  let compiled = 0;
  for (let i = 0; i < PERM_COUNT; i++) {
    let value: number = subject.userId === subject.ownerId ? PAIR.ALLOW : PAIR.UNSET;
    if (value === PAIR.UNSET) {
      for (const role of subject.roles) {
        if (!holds(subject, role.id)) continue;
        const p = pair(role.perms1, i);
        if (p !== PAIR.UNSET) {
          value = p;
          break;
        }
      }
    }
    compiled = withPair(compiled, i, value);
  }
  return compiled;
}

/** Index of the caller's highest held role in the server's list (Infinity if none). */
export function highestRoleIndex(subject: PermissionSubject): number {
  if (subject.userId === subject.ownerId) return -1;
  const index = subject.roles.findIndex((r) => holds(subject, r.id));
  return index < 0 ? Infinity : index;
}

/**
 * §5.5 check_permission_validity: no 11 pairs, nothing beyond the known pairs, the default role fully
 * specified, and 01 only where it already was 01 or the editor's compiled pair is 01.
 * Returns the refusal text, or undefined when the change is allowed.
 */
export function permissionChangeError(
  previous: number,
  next: number,
  editorCompiled: number,
  isDefaultRole: boolean,
): string | undefined {
  if (!Number.isSafeInteger(next) || next < 0 || next >= 4 ** PERM_COUNT) return TEXT.invalidPermissionBits;
  for (let i = 0; i < PERM_COUNT; i++) {
    const p = pair(next, i);
    if (p === PAIR.INVALID) return TEXT.invalidPermissionBits;
    if (isDefaultRole && p === PAIR.UNSET) return 'Default role should have every permission set';
    if (p === PAIR.ALLOW && pair(previous, i) !== PAIR.ALLOW && pair(editorCompiled, i) !== PAIR.ALLOW) {
      return 'Cannot set permission bit to 1 while not having this permission';
    }
  }
  return undefined;
}

/**
 * §5.5 check_role_lower_than_user: the owner always passes; otherwise, walking from the top, the caller
 * must hold a role before `roleId` is met (with `canBeEqual`, meeting his own held role also passes).
 */
export function isRoleBelowUser(subject: PermissionSubject, roleId: number, canBeEqual = false): boolean {
  if (subject.userId === subject.ownerId) return true;
  for (const role of subject.roles) {
    const held = holds(subject, role.id);
    if (role.id === roleId) return canBeEqual && held;
    if (held) return true;
  }
  return false;
}

/**
 * §5.5 check_user_lower_than_other: the owner passes; the owner as target fails; otherwise the target's
 * highest role must come strictly after the caller's.
 */
export function isUserBelowUser(subject: PermissionSubject, targetUserId: number, targetRoles: readonly number[]): boolean {
  if (subject.userId === subject.ownerId) return true;
  if (targetUserId === subject.ownerId) return false;
  const target: PermissionSubject = { ...subject, userId: targetUserId, userRoles: targetRoles };
  return highestRoleIndex(target) > highestRoleIndex(subject);
}
