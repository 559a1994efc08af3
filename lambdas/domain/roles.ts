import { removeRolesFromChannels } from './channels';
import { allOf, attr, type Db, element, ex, isConditionFailure, nextId } from './db';
import { badRequest, forbidden, notFound, TEXT } from './errors';
import { compiledPermissions, isRoleBelowUser, isUserBelowUser, permissionChangeError, type PermissionSubject, type Role } from './permissions';
import { membersOfServer } from './servers';
import { keys } from './table';
import { build } from './items';
import { MAX_NAME_LENGTH } from './users';

export const ROLE_NOT_FOUND = TEXT.roleNotFound;
export const ROLE_IS_DEFAULT = 'The role is default';
const ROLE_NOT_BELOW_USER = 'The role is higher or equal to that of user';
const TOP_IS_OWNERS = 'Only the server owner can edit the highest role';
const TARGET_IS_OWNER = 'The other user is the owner';
const TARGET_NOT_BELOW_USER = 'Target user has a role higher or equal to that of user';

const COLOR = /^#[0-9a-fA-F]{6}$/;
/** Optimistic writes that lost a race re-read and try again this many times. */
const MAX_ATTEMPTS = 5;

/** §5.5 check_user_lower_than_other as a refusal: the target must rank strictly below the editor. */
export function requireUserBelow(editor: PermissionSubject, targetId: number, targetRoles: readonly number[]): void {
  if (isUserBelowUser(editor, targetId, targetRoles)) return;
  throw forbidden(targetId === editor.ownerId ? TARGET_IS_OWNER : TARGET_NOT_BELOW_USER);
}

/** §5.5 check_role_lower_than_user as a refusal. */
export function requireRoleBelow(editor: PermissionSubject, roleId: number): void {
  if (!isRoleBelowUser(editor, roleId)) throw forbidden(ROLE_NOT_BELOW_USER);
}

/**
 * Reads the body of `PUT /servers/{sid}/roles`: an array of `{id, name, color, perms1}`, highest first.
 * Colours are stored lower-case.
 */
export function parseRoleList(body: unknown): Role[] {
  if (!Array.isArray(body)) throw badRequest('Content should be a JSON array');
  return body.map((entry: unknown) => {
    if (typeof entry !== 'object' || entry === null || Array.isArray(entry)) throw badRequest('Invalid role JSON: role is not an object');
    const { id, name, color, perms1 } = entry as Record<string, unknown>;
    if (!Number.isSafeInteger(id)) throw badRequest('Invalid role JSON: id is not an integer');
    if (typeof name !== 'string') throw badRequest('Invalid role JSON: name is not a string');
    if (typeof color !== 'string') throw badRequest('Invalid role JSON: color is not a string');
    if (!Number.isSafeInteger(perms1) || (perms1 as number) < 0) throw badRequest('Invalid role JSON: perms1 is not an unsigned integer');
    if (name.length === 0) throw badRequest('Empty role name');
    if (name.length > MAX_NAME_LENGTH) throw badRequest('Role name is too long');
    if (!COLOR.test(color)) throw badRequest(`Invalid role color: '${color}'`);
    return { id: id as number, name, color: color.toLowerCase(), perms1: perms1 as number };
  });
}

function refusePermissionChange(previous: number, next: number, editorCompiled: number, isDefault: boolean): void {
  const error = permissionChangeError(previous, next, editorCompiled, isDefault);
  if (error !== undefined) throw error === TEXT.invalidPermissionBits ? badRequest(error) : forbidden(error);
}

interface RoleListPlan {
  /** The resulting list in request order; new roles still carry their negative request ids. */
  roles: Role[];
  deleted: number[];
  changed: boolean;
}

/**
 * Checks a whole desired role list against the current one (§5.5, §6.5) and says what changes.
 * A role counts as moved when it does not already follow the existing roles placed before it — the
 * upstream reconciliation, which moves as few roles as it needs to. Moved and new roles are placed
 * directly under the nearest existing role above them in the request, which must be at most the
 * editor's highest role; the top is the owner's alone.
 */
function planRoleList(editor: PermissionSubject, current: readonly Role[], desired: readonly Role[], maxRoles: number): RoleListPlan {
  if (desired.length > maxRoles) throw forbidden(`Server has more than ${maxRoles} roles`);
  const byId = new Map(current.map((role) => [role.id, role]));
  const seen = new Set<number>();
  for (const { id } of desired) {
    if (seen.has(id)) throw badRequest(`Duplicate role id ${id}`);
    seen.add(id);
    if (id >= 0 && !byId.has(id)) throw badRequest(`Role ${id} does not belong to the server`);
  }
  const defaultRole = current[current.length - 1];
  // The default role can be neither deleted nor moved, and nothing may be placed below it.
  if (desired[desired.length - 1]?.id !== defaultRole.id) throw badRequest(ROLE_IS_DEFAULT);

  const deleted = current.filter((role) => !seen.has(role.id)).map((role) => role.id);
  for (const id of deleted) requireRoleBelow(editor, id);

  const compiled = compiledPermissions(editor);
  const isOwner = editor.userId === editor.ownerId;
  const requirePlacementUnder = (aboveId: number | undefined) => {
    if (aboveId === undefined) {
      if (!isOwner) throw forbidden(TOP_IS_OWNERS);
    } else if (!isRoleBelowUser(editor, aboveId, true)) {
      throw forbidden(ROLE_NOT_BELOW_USER);
    }
  };

  // Existing roles in their order as the reconciliation proceeds; the first `placed` already match the request.
  const working = current.filter((role) => seen.has(role.id)).map((role) => role.id);
  let placed = 0;
  let existingAbove: number | undefined;
  let changed = deleted.length > 0;
  for (const role of desired) {
    if (role.id < 0) {
      requirePlacementUnder(existingAbove);
      refusePermissionChange(0, role.perms1, compiled, false);
      changed = true;
      continue;
    }
    const previous = byId.get(role.id)!;
    const contentChanged = previous.name !== role.name || previous.color !== role.color || previous.perms1 !== role.perms1;
    const moved = working[placed] !== role.id;
    if (contentChanged || moved) {
      requireRoleBelow(editor, role.id);
      changed = true;
    }
    if (previous.perms1 !== role.perms1) refusePermissionChange(previous.perms1, role.perms1, compiled, role.id === defaultRole.id);
    if (moved) {
      requirePlacementUnder(existingAbove);
      working.splice(working.indexOf(role.id), 1);
      working.splice(placed, 0, role.id);
    }
    placed++;
    existingAbove = role.id;
  }
  return { roles: [...desired], deleted, changed };
}

interface StoredRoles {
  roles: Role[];
  /** Absent until the list is first replaced (a new server has only its default role). */
  version?: number;
}

async function readRoles(db: Db, serverId: number): Promise<StoredRoles> {
  const item = await db.get(keys.roles(serverId), { consistent: true });
  if (!item) throw notFound(TEXT.serverNotFound);
  const roles = ((item.roles as Role[]) ?? []).map((r) => ({ id: Number(r.id), name: r.name, color: r.color, perms1: Number(r.perms1) }));
  return { roles, version: item.version === undefined ? undefined : Number(item.version) };
}

async function writeRoles(db: Db, serverId: number, roles: Role[], version: number | undefined): Promise<void> {
  await db.put(
    // `roleIds` lets a role assignment check, in its own transaction, that the role still exists:
    // condition expressions cannot look inside the list of role maps.
    build.roles(serverId, roles, (version ?? 0) + 1),
    { if: version === undefined ? ex`attribute_exists(pk) AND attribute_not_exists(version)` : ex`version = ${version}` },
  );
}

/**
 * `PUT /servers/{sid}/roles`: validates the desired list against the current one, writes it (new roles
 * get real ids) with a version check, then drops deleted roles from members and channels.
 * Returns the new list, or undefined when the request changed nothing.
 */
export async function replaceRoles(
  db: Db,
  serverId: number,
  editor: PermissionSubject,
  desired: readonly Role[],
  maxRoles: number,
): Promise<Role[] | undefined> {
  for (let attempt = 1; ; attempt++) {
    const stored = await readRoles(db, serverId);
    const plan = planRoleList({ ...editor, roles: stored.roles }, stored.roles, desired, maxRoles);
    if (!plan.changed) return undefined;
    const ids = await Promise.all(plan.roles.map((role) => (role.id < 0 ? nextId(db, 'role') : role.id)));
    const roles = plan.roles.map((role, i) => ({ ...role, id: ids[i] }));
    try {
      await writeRoles(db, serverId, roles, stored.version);
    } catch (error) {
      // Someone else replaced the list meanwhile: decide again on the list as it is now.
      if (isConditionFailure(error) && attempt < MAX_ATTEMPTS) continue;
      throw error;
    }
    await removeRolesFromMembers(db, serverId, plan.deleted);
    await removeRolesFromChannels(db, serverId, plan.deleted);
    return roles;
  }
}

async function removeRolesFromMembers(db: Db, serverId: number, roleIds: readonly number[]): Promise<void> {
  if (roleIds.length === 0) return;
  const members = await membersOfServer(db, serverId);
  await Promise.all(
    [...members]
      .filter(([, roles]) => roles.some((id) => roleIds.includes(id)))
      .map(([userId, roles]) => withoutRoles(db, serverId, userId, roleIds, roles)),
  );
}

async function memberRoles(db: Db, serverId: number, userId: number): Promise<number[] | undefined> {
  const item = await db.get(keys.member(serverId, userId), { consistent: true });
  return item ? ((item.roles as number[]) ?? []).map(Number) : undefined;
}

export type RoleRemoval = 'removed' | 'absent' | 'not-member';

/**
 * Removes roles from one member's list by position, each position conditioned on still holding that
 * role, so a concurrent assignment of another role is never lost; a lost race re-reads and retries.
 */
async function withoutRoles(
  db: Db,
  serverId: number,
  userId: number,
  roleIds: readonly number[],
  known?: readonly number[],
): Promise<RoleRemoval> {
  let roles = known;
  for (let attempt = 1; ; attempt++) {
    roles ??= await memberRoles(db, serverId, userId);
    if (roles === undefined) return 'not-member';
    const held = roles.flatMap((id, index) => (roleIds.includes(id) ? [{ id, index }] : []));
    if (held.length === 0) return 'absent';
    try {
      await db.update(
        keys.member(serverId, userId),
        { remove: held.map(({ index }) => element('roles', index)) },
        { if: allOf(...held.map(({ id, index }) => ex`${element('roles', index)} = ${id}`)) },
      );
      return 'removed';
    } catch (error) {
      if (!isConditionFailure(error) || attempt >= MAX_ATTEMPTS) throw error;
      roles = undefined;
    }
  }
}

/** Takes one role from a member (`DELETE /servers/{sid}/users/{uid}/roles/{rid}`). */
export function removeRoleFromMember(db: Db, serverId: number, userId: number, roleId: number): Promise<RoleRemoval> {
  return withoutRoles(db, serverId, userId, [roleId]);
}

export type RoleAssignment = 'assigned' | 'already' | 'not-member' | 'no-role';

/**
 * Gives a member a role (`POST /servers/{sid}/users/{uid}/roles/{rid}`), in one transaction with the
 * check that the role still exists, so it cannot outlive a concurrent deletion of the role.
 */
export async function assignRole(db: Db, serverId: number, userId: number, roleId: number): Promise<RoleAssignment> {
  try {
    const roles = attr('roles');
    await db.transact([
      // Without `roleIds` the list was never replaced and holds only the default role.
      { check: keys.roles(serverId), if: ex`attribute_not_exists(roleIds) OR contains(roleIds, ${roleId})` },
      { update: keys.member(serverId, userId), changes: { set: { roles: ex`list_append(${roles}, ${[roleId]})` } }, if: ex`attribute_exists(pk) AND NOT contains(${roles}, ${roleId})` },
    ]);
    return 'assigned';
  } catch (error) {
    if (!isConditionFailure(error)) throw error;
  }
  const [roles, stored] = await Promise.all([memberRoles(db, serverId, userId), readRoles(db, serverId)]);
  if (!stored.roles.some((role) => role.id === roleId)) return 'no-role';
  return roles === undefined ? 'not-member' : 'already';
}
