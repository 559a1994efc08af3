import { Perm, PERM1_DEFAULT } from '../lambdas/domain/permissions';
import { block } from './support/scenario';
import { type SocketClient, TestSystem, type TestUser } from './support/system';

let system: TestSystem;
beforeAll(async () => {
  system = await TestSystem.start();
});
afterAll(() => system.stop());

interface RoleJson {
  id: number;
  name: string;
  color: string;
  perms1: number;
}

/** perms1 with the given permissions set to 01 (allow) and everything else 00. */
const allow = (...perms: number[]) => perms.reduce((sum, p) => sum + 4 ** p, 0);

async function roles(serverId: number, as: TestUser): Promise<RoleJson[]> {
  const response = await system.rest('GET', `/servers/${serverId}/roles`, { as });
  expect(response.status).toBe(200);
  return response.json;
}

/** The §5.6 worked example: admin > moderator > member > default, held by Carol, Alice and Bob. */
async function workedExample() {
  const [owner, carol, alice, bob] = [await system.user('O'), await system.user('Carol'), await system.user('Alice'), await system.user('Bob')];
  const serverId = await system.server(owner, [carol, alice, bob]);
  const [defaultRole] = await roles(serverId, owner);
  const put = await system.rest('PUT', `/servers/${serverId}/roles`, {
    as: owner,
    json: [
      { id: -1, name: 'admin', color: '#aa0000', perms1: 66816 },
      { id: -2, name: 'moderator', color: '#00aa00', perms1: 262212 },
      { id: -3, name: 'member', color: '#0000aa', perms1: 0 },
      defaultRole,
    ],
  });
  expect(put).toMatchObject({ status: 200, text: '' });
  const list = await roles(serverId, owner);
  const [admin, moderator, member] = list;
  for (const [user, role] of [[carol, admin], [alice, moderator], [bob, member]] as const) {
    expect(await system.rest('POST', `/servers/${serverId}/users/${user.id}/roles/${role.id}`, { as: owner })).toMatchObject({ status: 200, text: 'Assigned' });
  }
  return { serverId, owner, carol, alice, bob, list, admin, moderator, member, defaultRole };
}

describe('roles', () => {
  test('PUT roles creates, edits, moves and deletes; roles_updated carries the whole list to every member', async () => {
    const [owner, member, blocker, stranger] = [await system.user(), await system.user(), await system.user(), await system.user()];
    const serverId = await system.server(owner, [member, blocker]);
    await system.server(stranger);
    await block(system, blocker, owner);
    const sockets = {
      owner: await system.connect(owner),
      ownerSecond: await system.connect(owner),
      member: await system.connect(member),
      blocker: await system.connect(blocker),
      stranger: await system.connect(stranger),
    };
    const receivers = [sockets.owner, sockets.ownerSecond, sockets.member, sockets.blocker];

    const initial = await roles(serverId, member);
    expect(initial).toEqual([{ id: expect.any(Number), name: 'default', color: '#999999', perms1: PERM1_DEFAULT }]);
    const defaultRole = initial[0];

    const created = await system.rest('PUT', `/servers/${serverId}/roles/`, {
      as: owner,
      json: [
        { id: -1, name: 'admin', color: '#FF0000', perms1: 66816 },
        { id: -2, name: 'moderator', color: '#00ff00', perms1: 262212 },
        { id: -5, name: 'member', color: '#0000Ff', perms1: 0 },
        defaultRole,
      ],
    });
    expect(created).toMatchObject({ status: 200, text: '' });
    const list = await roles(serverId, member);
    expect(list).toEqual([
      { id: expect.any(Number), name: 'admin', color: '#ff0000', perms1: 66816 },
      { id: expect.any(Number), name: 'moderator', color: '#00ff00', perms1: 262212 },
      { id: expect.any(Number), name: 'member', color: '#0000ff', perms1: 0 },
      defaultRole,
    ]);
    expect(new Set(list.map((r) => r.id)).size).toBe(4);
    expect(list.every((r) => r.id > 0)).toBe(true);
    // No block filter on roles_updated: the member who blocked the actor gets it too.
    for (const socket of receivers) expect(await socket.next('roles_updated')).toEqual({ server_id: serverId, roles: list });

    // Resending the current list changes nothing and announces nothing.
    expect(await system.rest('PUT', `/servers/${serverId}/roles`, { as: owner, json: list })).toMatchObject({ status: 200, text: '' });
    await Promise.all([sockets.owner.expectNothing('roles_updated'), sockets.stranger.expectNothing('roles_updated')]);

    // Delete `member` (held by a member and whitelisted on a channel), move `moderator` to the top, rename `admin`.
    const [admin, moderator, memberRole] = list;
    await system.rest('POST', `/servers/${serverId}/users/${member.id}/roles/${memberRole.id}`, { as: owner });
    const channel = await system.rest('POST', `/servers/${serverId}/channels`, {
      as: owner,
      json: { name: 'staff', type: 0, wl_roles: [memberRole.id, moderator.id], wl_users: [member.id] },
    });
    expect(channel.status).toBe(200);
    for (const socket of receivers) await socket.next('role_assigned');
    const edited = [moderator, { ...admin, name: 'administrator' }, defaultRole];
    expect(await system.rest('PUT', `/servers/${serverId}/roles`, { as: owner, json: edited })).toMatchObject({ status: 200 });
    expect(await roles(serverId, owner)).toEqual(edited);
    for (const socket of receivers) expect(await socket.next('roles_updated')).toEqual({ server_id: serverId, roles: edited });
    expect((await system.rest('GET', `/servers/${serverId}/users/${member.id}`, { as: owner })).json.roles).toEqual([defaultRole.id]);
    expect((await system.rest('GET', `/channels/${channel.text}`, { as: owner })).json).toMatchObject({ wl_roles: [moderator.id], wl_users: [member.id] });
    // A deleted role can no longer be assigned.
    expect(await system.rest('POST', `/servers/${serverId}/users/${member.id}/roles/${memberRole.id}`, { as: owner })).toMatchObject({
      status: 404,
      text: 'Role does not exist',
    });
    await sockets.stranger.expectNothing();
  });

  test('PUT roles refuses malformed and impossible lists', async () => {
    const [owner, member, outsider] = [await system.user(), await system.user(), await system.user()];
    const serverId = await system.server(owner, [member]);
    const otherServer = await system.server(outsider);
    const [defaultRole] = await roles(serverId, owner);
    const [foreignRole] = await roles(otherServer, outsider);
    const newRole = { id: -1, name: 'new', color: '#123456', perms1: 0 };
    const put = (json: unknown, as: TestUser = owner) => system.rest('PUT', `/servers/${serverId}/roles`, { as, json });
    const cases: Array<[unknown, number, string]> = [
      ['not json', 400, "Couldn't parse JSON body"],
      [{ roles: [] }, 400, 'Content should be a JSON array'],
      [[7, defaultRole], 400, 'Invalid role JSON: role is not an object'],
      [[{ ...newRole, id: '-1' }, defaultRole], 400, 'Invalid role JSON: id is not an integer'],
      [[{ ...newRole, id: -1.5 }, defaultRole], 400, 'Invalid role JSON: id is not an integer'],
      [[{ ...newRole, name: 5 }, defaultRole], 400, 'Invalid role JSON: name is not a string'],
      [[{ ...newRole, color: 0x123456 }, defaultRole], 400, 'Invalid role JSON: color is not a string'],
      [[{ ...newRole, perms1: '0' }, defaultRole], 400, 'Invalid role JSON: perms1 is not an unsigned integer'],
      [[{ ...newRole, perms1: -1 }, defaultRole], 400, 'Invalid role JSON: perms1 is not an unsigned integer'],
      [[{ id: -1, name: 'x', color: '#123456' }, defaultRole], 400, 'Invalid role JSON: perms1 is not an unsigned integer'],
      [[{ ...newRole, name: '' }, defaultRole], 400, 'Empty role name'],
      [[{ ...newRole, name: 'x'.repeat(65) }, defaultRole], 400, 'Role name is too long'],
      [[{ ...newRole, color: 'red' }, defaultRole], 400, "Invalid role color: 'red'"],
      [[{ ...newRole, color: '#12345' }, defaultRole], 400, "Invalid role color: '#12345'"],
      [[newRole, { ...newRole, name: 'again' }, defaultRole], 400, 'Duplicate role id -1'],
      [[{ ...newRole, id: 999999 }, defaultRole], 400, 'Role 999999 does not belong to the server'],
      [[foreignRole, defaultRole], 400, `Role ${foreignRole.id} does not belong to the server`],
      [[newRole], 400, 'The role is default'],
      [[], 400, 'The role is default'],
      [[defaultRole, newRole], 400, 'The role is default'],
      [[{ ...newRole, perms1: 3 }, defaultRole], 400, 'Invalid permission bits'],
      [[{ ...newRole, perms1: 4 ** 11 }, defaultRole], 400, 'Invalid permission bits'],
      [[{ ...defaultRole, perms1: PERM1_DEFAULT - 1 }], 403, 'Default role should have every permission set'],
      [[...Array.from({ length: 50 }, (_, i) => ({ ...newRole, id: -1 - i })), defaultRole], 403, 'Server has more than 50 roles'],
    ];
    for (const [input, status, text] of cases) {
      const response = await put(input);
      expect({ input, status: response.status, text: response.text }).toEqual({ input, status, text });
    }
    expect(await put([newRole, defaultRole], member)).toMatchObject({ status: 403, text: 'No permission' });
    expect(await put([newRole, defaultRole], outsider)).toMatchObject({ status: 403, text: 'User is not a member of the server' });
    expect(await system.rest('PUT', `/servers/abc/roles`, { as: owner, json: [] })).toMatchObject({ status: 400 });
    expect(await system.rest('GET', `/servers/${serverId}/roles`, { as: outsider })).toMatchObject({ status: 403, text: 'User is not a member of the server' });
    expect(await system.rest('GET', `/servers/${serverId}/roles`)).toMatchObject({ status: 400, text: 'Invalid token' });
    // Exactly the limit is fine; nothing above was written.
    expect(await roles(serverId, owner)).toEqual([defaultRole]);
    const fifty = [...Array.from({ length: 49 }, (_, i) => ({ ...newRole, id: -1 - i })), defaultRole];
    expect(await put(fifty)).toMatchObject({ status: 200 });
    expect(await roles(serverId, owner)).toHaveLength(50);
  });

  test('§5.6 worked example: what Carol (admin) may change in the hierarchy', async () => {
    const { serverId, owner, carol, alice, list, admin, moderator, member, defaultRole } = await workedExample();
    const put = (json: unknown, as: TestUser = carol) => system.rest('PUT', `/servers/${serverId}/roles`, { as, json });
    const withMember = (changed: RoleJson) => [admin, moderator, changed, defaultRole];

    // Grant send=01 to `member`: below admin, and Carol has send=01 through the default role.
    expect(await put(withMember({ ...member, perms1: allow(Perm.CREATE_MESSAGES) }))).toMatchObject({ status: 200 });
    const granted = { ...member, perms1: allow(Perm.CREATE_MESSAGES) };
    // manage_invites=01: Carol's compiled pair is 10 and member's previous pair is 00.
    expect(await put(withMember({ ...granted, perms1: granted.perms1 + allow(Perm.MANAGE_INVITES) }))).toMatchObject({
      status: 403,
      text: 'Cannot set permission bit to 1 while not having this permission',
    });
    // Denying and unsetting are always allowed.
    expect(await put(withMember({ ...granted, perms1: 2 * 4 ** Perm.MANAGE_INVITES }))).toMatchObject({ status: 200 });
    const current = [admin, moderator, { ...granted, perms1: 2 * 4 ** Perm.MANAGE_INVITES }, defaultRole];
    expect(await roles(serverId, carol)).toEqual(current);

    const notBelow = { status: 403, text: 'The role is higher or equal to that of user' };
    const ownersOnly = { status: 403, text: 'Only the server owner can edit the highest role' };
    // Her own role: neither edited nor deleted.
    expect(await put([{ ...admin, name: 'boss' }, ...current.slice(1)])).toMatchObject(notBelow);
    expect(await put(current.slice(1))).toMatchObject(notBelow);
    // Nothing above her highest role, and the top is the owner's.
    const fresh = { id: -1, name: 'fresh', color: '#abcdef', perms1: 0 };
    expect(await put([fresh, ...current])).toMatchObject(ownersOnly);
    expect(await put([current[2], admin, moderator, defaultRole])).toMatchObject(ownersOnly);
    // Directly under her highest role is allowed, for new and moved roles alike.
    expect(await put([admin, fresh, current[2], moderator, defaultRole])).toMatchObject({ status: 200 });
    const afterCarol = await roles(serverId, carol);
    expect(afterCarol.map((r) => r.name)).toEqual(['admin', 'fresh', 'member', 'moderator', 'default']);

    // The owner puts a role above admin; Carol cannot put anything between it and admin.
    expect(await put([{ ...fresh, name: 'top' }, ...afterCarol], owner)).toMatchObject({ status: 200 });
    const withTop = await roles(serverId, owner);
    expect(await put([withTop[0], { ...fresh, name: 'wedge' }, ...withTop.slice(1)])).toMatchObject(notBelow);
    expect(await put([withTop[0], withTop[3], ...withTop.slice(1, 3), ...withTop.slice(4)])).toMatchObject(notBelow);
    // Deleting a role below her is fine; deleting the one above her is not.
    expect(await put(withTop.slice(1))).toMatchObject(notBelow);
    expect(await put(withTop.filter((r) => r.name !== 'fresh'))).toMatchObject({ status: 200 });

    // Alice (moderator) has no MANAGE_ROLES at all.
    const final = await roles(serverId, owner);
    const withFreshMember = [...final.slice(0, -1), { ...fresh, name: 'by alice' }, final[final.length - 1]];
    expect(await put(withFreshMember, alice)).toMatchObject({ status: 403, text: 'No permission' });
    // Given MANAGE_ROLES through the default role, a member who holds nothing else still ranks at the bottom.
    const plain = await system.user();
    const invite = await system.rest('POST', `/servers/${serverId}/invites?expires=never`, { as: owner });
    await system.rest('POST', `/server_invites/${invite.text}`, { as: plain });
    const managingDefault = { ...defaultRole, perms1: defaultRole.perms1 - 2 * 4 ** Perm.MANAGE_ROLES + allow(Perm.MANAGE_ROLES) };
    expect(await put([...final.slice(0, -1), managingDefault], owner)).toMatchObject({ status: 200 });
    expect(await put(withFreshMember.slice(0, -1).concat(managingDefault), plain)).toMatchObject(notBelow);
    expect(await put([...final.slice(0, -1), { ...managingDefault, name: 'everyone' }], plain)).toMatchObject(notBelow);
    expect(await put(final.slice(1, -1).concat(managingDefault), plain)).toMatchObject(notBelow);
    expect(list.map((r) => r.name)).toEqual(['admin', 'moderator', 'member', 'default']);
  });

  test('role_assigned and role_disallowed: payload, audience and refusals', async () => {
    const { serverId, owner, carol, alice, bob, admin, moderator, member, defaultRole } = await workedExample();
    const [blocker, stranger] = [await system.user(), await system.user()];
    const invite = await system.rest('POST', `/servers/${serverId}/invites?expires=never`, { as: owner });
    await system.rest('POST', `/server_invites/${invite.text}`, { as: blocker });
    await system.server(stranger);
    await block(system, blocker, bob);
    const sockets: Record<string, SocketClient> = {
      carol: await system.connect(carol),
      carolSecond: await system.connect(carol),
      bob: await system.connect(bob),
      alice: await system.connect(alice),
      blocker: await system.connect(blocker),
      stranger: await system.connect(stranger),
    };
    const channel = await system.rest('POST', `/servers/${serverId}/channels`, { as: owner, json: { name: 'wl', type: 0, wl_users: [bob.id] } });

    // Carol gives Bob the moderator role: everyone but the member who blocked Bob hears it.
    const path = `/servers/${serverId}/users/${bob.id}/roles/${moderator.id}`;
    expect(await system.rest('POST', path, { as: carol })).toMatchObject({ status: 200, text: 'Assigned' });
    const assigned = { server_id: serverId, user_id: bob.id, role_id: moderator.id };
    for (const name of ['carol', 'carolSecond', 'bob', 'alice']) expect(await sockets[name].next('role_assigned')).toEqual(assigned);
    expect((await system.rest('GET', `/servers/${serverId}/users/${bob.id}`, { as: carol })).json.roles.sort()).toEqual(
      [defaultRole.id, member.id, moderator.id].sort(),
    );
    expect(await system.rest('POST', path, { as: carol })).toMatchObject({ status: 202, text: 'User already has that role' });

    expect(await system.rest('DELETE', path, { as: carol })).toMatchObject({ status: 200, text: 'Removed' });
    for (const name of ['carol', 'carolSecond', 'bob', 'alice']) expect(await sockets[name].next('role_disallowed')).toEqual(assigned);
    expect(await system.rest('DELETE', path, { as: carol })).toMatchObject({ status: 202, text: 'User does not have that role' });
    await Promise.all([
      sockets.blocker.expectNothing('role_assigned'),
      sockets.blocker.expectNothing('role_disallowed'),
      sockets.stranger.expectNothing(),
      sockets.carol.expectNothing('role_assigned'),
    ]);
    // Removing a role never strips the user from channel whitelists (decision 9 of docs/upstream.md).
    expect((await system.rest('GET', `/channels/${channel.text}`, { as: owner })).json.wl_users).toEqual([bob.id]);

    const otherServer = await system.server(stranger);
    const [foreignRole] = await roles(otherServer, stranger);
    const refusals: Array<[string, string, TestUser, number, string]> = [
      ['POST', `/servers/${serverId}/users/${bob.id}/roles/999999`, carol, 404, 'Role does not exist'],
      ['POST', `/servers/${serverId}/users/${bob.id}/roles/${foreignRole.id}`, carol, 404, 'Role does not exist'],
      ['POST', `/servers/${serverId}/users/${stranger.id}/roles/${member.id}`, carol, 404, 'User is not a member of the server'],
      ['DELETE', `/servers/${serverId}/users/${stranger.id}/roles/${member.id}`, carol, 404, 'User is not a member of the server'],
      ['POST', `/servers/${serverId}/users/${bob.id}/roles/${member.id}`, stranger, 403, 'User is not a member of the server'],
      ['POST', `/servers/${serverId}/users/${bob.id}/roles/${moderator.id}`, alice, 403, 'No permission'],
      ['POST', `/servers/${serverId}/users/${bob.id}/roles/${admin.id}`, carol, 403, 'The role is higher or equal to that of user'],
      ['POST', `/servers/${serverId}/users/${owner.id}/roles/${member.id}`, carol, 403, 'The other user is the owner'],
      ['DELETE', `/servers/${serverId}/users/${bob.id}/roles/${defaultRole.id}`, owner, 400, 'The role is default'],
      ['DELETE', `/servers/${serverId}/users/${bob.id}/roles/${defaultRole.id}`, carol, 400, 'The role is default'],
      ['POST', `/servers/${serverId}/users/${bob.id}/roles/abc`, carol, 400, "Couldn't parse 'rid', got: abc"],
      ['POST', `/servers/${serverId}/users/x/roles/${member.id}`, carol, 400, "Couldn't parse 'uid', got: x"],
    ];
    for (const [method, url, as, status, text] of refusals) {
      expect({ method, url, ...(await system.rest(method, url, { as })) }).toMatchObject({ method, url, status, text });
    }
    // Another admin is not below Carol; she may still edit her own roles.
    const carol2 = await system.user();
    await system.rest('POST', `/server_invites/${invite.text}`, { as: carol2 });
    await system.rest('POST', `/servers/${serverId}/users/${carol2.id}/roles/${admin.id}`, { as: owner });
    expect(await system.rest('POST', `/servers/${serverId}/users/${carol2.id}/roles/${member.id}`, { as: carol })).toMatchObject({
      status: 403,
      text: 'Target user has a role higher or equal to that of user',
    });
    expect(await system.rest('POST', `/servers/${serverId}/users/${carol.id}/roles/${member.id}`, { as: carol })).toMatchObject({ status: 200 });
    expect(await sockets.carol.next('role_assigned', (d) => d.user_id === carol.id)).toEqual({ server_id: serverId, user_id: carol.id, role_id: member.id });
  });
});
