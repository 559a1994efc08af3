import { type Cast, cast } from './support/scenario';
import { TestSystem } from './support/system';

let system: TestSystem;
beforeAll(async () => {
  system = await TestSystem.start();
});
afterAll(() => system.stop());

async function createChannel(c: Cast, body: Record<string, unknown>): Promise<number> {
  const created = await system.rest('POST', `/servers/${c.serverId}/channels`, { as: c.owner, json: body });
  expect(created.status).toBe(200);
  return Number(created.text);
}

describe('channel events and their audiences', () => {
  test('channel_created for a public channel reaches every member, not other servers', async () => {
    const c = await cast(system);
    const id = await createChannel(c, { name: 'general', type: 0 });
    const expected = { id, name: 'general', type: 0, wl_users: [], wl_roles: [], server_id: c.serverId };
    for (const socket of [c.sockets.owner, c.sockets.ownerSecond, c.sockets.member, c.sockets.excluded, c.sockets.blocker]) {
      expect(await socket.next('channel_created')).toEqual(expected);
    }
    await c.sockets.stranger.expectNothing('channel_created');
  });

  test('channel_created of a voice channel carries vc_users, when created and when it becomes visible', async () => {
    const c = await cast(system);
    const id = await createChannel(c, { name: 'lounge', type: 1, wl_users: [c.member.id] });
    const created = { id, name: 'lounge', type: 1, wl_users: [c.member.id], wl_roles: [], server_id: c.serverId, vc_users: [] };
    expect(await c.sockets.member.next('channel_created')).toEqual(created);
    expect(await c.sockets.owner.next('channel_created')).toEqual(created);

    // Made public: those who gain it get channel_created with who is in it (nobody); channel_edited has no vc_users.
    await system.rest('PUT', `/channels/${id}`, { as: c.owner, json: { wl_users: [] } });
    const open = { id, name: 'lounge', type: 1, wl_users: [], wl_roles: [], server_id: c.serverId };
    expect(await c.sockets.excluded.next('channel_created')).toEqual({ ...open, vc_users: [] });
    expect(await c.sockets.member.next('channel_edited')).toEqual(open);
  });

  test('a private channel is announced, listed and delivered only to its whitelist and the owner', async () => {
    const c = await cast(system);
    const id = await createChannel(c, { name: 'staff', type: 0, wl_users: [c.member.id, c.stranger.id, 999999] });
    const expected = { id, name: 'staff', type: 0, wl_users: [c.member.id], wl_roles: [], server_id: c.serverId };
    expect(await c.sockets.member.next('channel_created')).toEqual(expected);
    expect(await c.sockets.owner.next('channel_created')).toEqual(expected);
    await c.sockets.excluded.expectNothing('channel_created');
    await c.sockets.stranger.expectNothing('channel_created');

    const listed = (user: typeof c.owner) => system.rest('GET', `/servers/${c.serverId}/channels/`, { as: user }).then((r) => r.json.map((ch: { id: number }) => ch.id));
    expect(await listed(c.member)).toContain(id);
    expect(await listed(c.owner)).toContain(id);
    expect(await listed(c.excluded)).not.toContain(id);
    expect(await system.rest('GET', `/channels/${id}`, { as: c.excluded })).toMatchObject({ status: 404, text: 'Channel does not exist' });
    expect(await system.rest('GET', `/channels/${id}`, { as: c.stranger })).toMatchObject({ status: 404 });

    const posted = await system.rest('POST', `/channels/${id}/messages`, { as: c.member, json: { text: 'for staff only' } });
    expect(posted.status).toBe(200);
    const message = await c.sockets.owner.next('message_created');
    expect(message).toMatchObject({ id: Number(posted.text), text: 'for staff only', channel_id: id, server_id: c.serverId });
    await c.sockets.excluded.expectNothing('message_created');
    expect(await system.rest('GET', `/messages/${posted.text}`, { as: c.excluded })).toMatchObject({ status: 404 });
  });

  test('whitelist changes split the audience into channel_edited / channel_created / channel_deleted', async () => {
    const c = await cast(system);
    const id = await createChannel(c, { name: 'club', type: 0, wl_users: [c.member.id] });
    await c.sockets.member.next('channel_created');
    await c.sockets.owner.next('channel_created');
    await c.sockets.ownerSecond.next('channel_created');

    // member -> excluded: member loses it, excluded gains it, the owner keeps it.
    expect(await system.rest('PUT', `/channels/${id}`, { as: c.owner, json: { wl_users: [c.excluded.id] } })).toMatchObject({ status: 200, text: 'Changed' });
    const now = { id, name: 'club', type: 0, wl_users: [c.excluded.id], wl_roles: [], server_id: c.serverId };
    expect(await c.sockets.owner.next('channel_edited')).toEqual(now);
    expect(await c.sockets.excluded.next('channel_created')).toEqual(now);
    expect(await c.sockets.member.next('channel_deleted')).toEqual({ id, server_id: c.serverId });
    await c.sockets.excluded.expectNothing('channel_edited');
    await c.sockets.member.expectNothing('channel_edited');

    // Made public: everyone who did not see it gets channel_created.
    await system.rest('PUT', `/channels/${id}`, { as: c.owner, json: { wl_users: [], name: 'open club', prev_channel_id: -1 } });
    const open = { id, name: 'open club', type: 0, wl_users: [], wl_roles: [], server_id: c.serverId, prev_channel_id: -1 };
    expect(await c.sockets.member.next('channel_created')).toEqual(open);
    expect(await c.sockets.blocker.next('channel_created')).toEqual(open);
    expect(await c.sockets.excluded.next('channel_edited')).toEqual(open);
    await c.sockets.stranger.expectNothing();
  });

  test('ordering with prev_channel_id, overrides, deletion', async () => {
    const c = await cast(system);
    const a = await createChannel(c, { name: 'a', type: 0 });
    const b = await createChannel(c, { name: 'b', type: 1 });
    const d = await createChannel(c, { name: 'd', type: 0, prev_channel_id: b });
    const order = async () => (await system.rest('GET', `/servers/${c.serverId}/channels`, { as: c.member })).json.map((ch: { id: number }) => ch.id);
    expect(await order()).toEqual([a, d, b]);
    expect(await c.sockets.member.next('channel_created', (ch) => ch.id === d)).toMatchObject({ prev_channel_id: b });
    await system.rest('PUT', `/channels/${a}`, { as: c.owner, json: { prev_channel_id: -1 } });
    expect(await order()).toEqual([d, b, a]);

    const defaultRole = (await system.rest('GET', `/servers/${c.serverId}/users/${c.member.id}`, { as: c.owner })).json.roles[0];
    expect(await system.rest('POST', `/channels/${d}/roles/${defaultRole}`, { as: c.owner, json: { perms1: 2 } })).toMatchObject({ status: 200 });
    const edited = await c.sockets.member.next('channel_edited', (ch) => ch.id === d);
    expect(edited).toEqual({ id: d, name: 'd', type: 0, wl_users: [], wl_roles: [], roles: [{ id: defaultRole, perms1: 2 }], server_id: c.serverId });
    // The override denies sending to the default role.
    expect(await system.rest('POST', `/channels/${d}/messages`, { as: c.member, json: { text: 'hi' } })).toMatchObject({ status: 403, text: 'No permission' });
    expect(await system.rest('POST', `/channels/${a}/messages`, { as: c.member, json: { text: 'hi' } })).toMatchObject({ status: 200 });
    expect(await system.rest('DELETE', `/channels/${d}/roles/${defaultRole}`, { as: c.owner })).toMatchObject({ status: 200 });
    expect(await system.rest('POST', `/channels/${d}/messages`, { as: c.member, json: { text: 'hi' } })).toMatchObject({ status: 200 });

    expect(await system.rest('DELETE', `/channels/${b}`, { as: c.member })).toMatchObject({ status: 403, text: 'No permission' });
    expect(await system.rest('DELETE', `/channels/${b}`, { as: c.owner })).toMatchObject({ status: 200 });
    expect(await c.sockets.member.next('channel_deleted')).toEqual({ id: b, server_id: c.serverId });
    await c.sockets.stranger.expectNothing();
    expect(await order()).toEqual([d, a]);
  });

  test('a kicked member leaves user whitelists: rejoining does not restore a private channel', async () => {
    const c = await cast(system);
    const id = await createChannel(c, { name: 'inner circle', type: 0, wl_users: [c.member.id] });
    expect((await system.rest('GET', `/channels/${id}`, { as: c.member })).status).toBe(200);
    expect(await system.rest('DELETE', `/servers/${c.serverId}/users/${c.member.id}`, { as: c.owner })).toMatchObject({ status: 200 });
    const invite = await system.rest('POST', `/servers/${c.serverId}/invites?expires=never`, { as: c.owner });
    expect((await system.rest('POST', `/server_invites/${invite.text}`, { as: c.member })).status).toBe(200);
    expect((await system.rest('GET', `/channels/${id}`, { as: c.member })).status).toBe(404);
    // He was its only whitelisted user: the channel stays private, held by the owner.
    expect((await system.rest('GET', `/channels/${id}`, { as: c.owner })).json.wl_users).toEqual([c.owner.id]);
    expect((await system.rest('GET', `/channels/${id}`, { as: c.excluded })).status).toBe(404);
  });

  test('bad input: types, missing fields, unknown ids, forbidden actions, limits', async () => {
    const c = await cast(system);
    const post = (json: unknown, as = c.owner) => system.rest('POST', `/servers/${c.serverId}/channels`, { as, json });
    expect(await post({ type: 0 })).toMatchObject({ status: 400 });
    expect(await post({ name: 'x', type: 7 })).toMatchObject({ status: 400 });
    expect(await post({ name: 'x', type: '0' })).toMatchObject({ status: 400 });
    expect(await post({ name: '', type: 0 })).toMatchObject({ status: 400 });
    expect(await post({ name: 'x'.repeat(65), type: 0 })).toMatchObject({ status: 400 });
    expect(await post({ name: 'x', type: 0, wl_users: 'all' })).toMatchObject({ status: 400 });
    expect(await post({ name: 'x', type: 0 }, c.member)).toMatchObject({ status: 403, text: 'No permission' });
    expect(await post({ name: 'x', type: 0 }, c.stranger)).toMatchObject({ status: 403, text: 'User is not a member of the server' });
    expect(await system.rest('POST', `/servers/${c.serverId}/channels`, { as: c.owner, json: '{nope' })).toMatchObject({ status: 400 });
    expect(await system.rest('GET', '/channels/987654', { as: c.owner })).toMatchObject({ status: 404 });
    expect(await system.rest('PUT', '/channels/abc', { as: c.owner, json: {} })).toMatchObject({ status: 400 });
    const id = await createChannel(c, { name: 'x', type: 0 });
    expect(await system.rest('POST', `/channels/${id}/roles/424242`, { as: c.owner, json: { perms1: 1 } })).toMatchObject({ status: 404 });
    const otherServer = await system.server(c.stranger);
    const foreign = Number((await system.rest('POST', `/servers/${otherServer}/channels`, { as: c.stranger, json: { name: 'f', type: 0 } })).text);
    expect(await system.rest('PUT', `/channels/${foreign}`, { as: c.owner, json: { name: 'mine' } })).toMatchObject({ status: 404 });
    for (let i = 1; i < 50; i++) await createChannel(c, { name: `c${i}`, type: 0 });
    expect(await post({ name: 'one too many', type: 0 })).toMatchObject({ status: 403 });
  }, 60_000);
});
