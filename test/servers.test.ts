import { TestSystem } from './support/system';

let system: TestSystem;
beforeAll(async () => {
  system = await TestSystem.start();
});
afterAll(() => system.stop());

describe('servers and invites', () => {
  test('joining by invite: user_joined with the seeds\' payload to every member incl. the joiner, nobody else', async () => {
    const [owner, member, joiner, outsider] = [await system.user('Owner'), await system.user('Member'), await system.user('Joiner'), await system.user()];
    const serverId = await system.server(owner, [member]);
    const ownerSocket = await system.connect(owner);
    const memberSocket = await system.connect(member);
    const memberSecond = await system.connect(member);
    const joinerSocket = await system.connect(joiner, { query: 'status=3' });
    const outsiderSocket = await system.connect(outsider);

    const invite = await system.rest('POST', `/servers/${serverId}/invites?expires=never`, { as: owner });
    expect(invite.status).toBe(200);
    expect(await system.rest('GET', `/server_invites/${invite.text}`)).toMatchObject({ status: 200, json: { id: serverId, name: 'test server', owner_id: owner.id } });
    expect(await system.rest('POST', `/server_invites/${invite.text}`, { as: joiner })).toMatchObject({ status: 200, text: 'Joined' });

    const expected = { id: joiner.id, name: 'Joiner', status: 3, server_id: serverId };
    for (const socket of [ownerSocket, memberSocket, memberSecond, joinerSocket]) {
      expect(await socket.next('user_joined')).toEqual(expected);
    }
    await outsiderSocket.expectNothing('user_joined');

    // Joining again is a 202 no-op with no event.
    expect((await system.rest('POST', `/server_invites/${invite.text}`, { as: joiner })).status).toBe(202);
    await ownerSocket.expectNothing('user_joined');

    // From now on the joiner's open connection receives the server's events.
    await system.rest('PUT', `/servers/${serverId}`, { as: owner, form: { name: 'renamed' } });
    expect(await joinerSocket.next('server_edited')).toEqual({ id: serverId, name: 'renamed', owner_id: owner.id });
    await outsiderSocket.expectNothing('server_edited');
  });

  test('invites: listing, preview, expiry, editing, deletion and refusals', async () => {
    const [owner, member, stranger] = [await system.user(), await system.user(), await system.user()];
    const serverId = await system.server(owner, [member]);
    expect(await system.rest('POST', `/servers/${serverId}/invites`, { as: owner })).toMatchObject({ status: 400 });
    expect(await system.rest('POST', `/servers/${serverId}/invites?expires=tomorrow`, { as: owner })).toMatchObject({ status: 400 });
    expect(await system.rest('POST', `/servers/${serverId}/invites?expires=never`, { as: member })).toMatchObject({ status: 403, text: 'No permission' });
    expect(await system.rest('GET', `/servers/${serverId}/invites`, { as: stranger })).toMatchObject({ status: 403, text: 'User is not a member of the server' });

    const past = new Date(Date.now() - 60_000).toISOString();
    const expired = (await system.rest('POST', `/servers/${serverId}/invites?expires=${past}`, { as: owner })).text;
    expect(await system.rest('GET', `/server_invites/${expired}`)).toMatchObject({ status: 403 });
    expect(await system.rest('POST', `/server_invites/${expired}`, { as: stranger })).toMatchObject({ status: 403 });
    // Expired is gone for the managers too: not shown, not revived by a new expiry, not deleted twice.
    for (const method of ['GET', 'PUT', 'DELETE']) {
      const reply = await system.rest(method, `/servers/${serverId}/invites/${expired}?expires=never`, { as: owner });
      expect(reply).toMatchObject({ status: 404, text: 'Invite does not exist' });
    }
    expect(await system.rest('GET', `/server_invites/${expired}`)).toMatchObject({ status: 403 });
    expect(await system.rest('GET', '/server_invites/not-a-uuid')).toMatchObject({ status: 400 });
    expect(await system.rest('GET', '/server_invites/00000000-0000-4000-8000-000000000000')).toMatchObject({ status: 404 });

    const future = new Date(Date.now() + 3_600_000).toISOString();
    const live = (await system.rest('POST', `/servers/${serverId}/invites?expires=${encodeURIComponent('2099-01-01 10:00:00+03')}`, { as: owner })).text;
    const list = await system.rest('GET', `/servers/${serverId}//invites/`, { as: owner });
    // The helper's own `never` invite plus the new one; the expired one is not listed.
    expect(list.json).toHaveLength(2);
    expect(list.json).toContainEqual({ id: live, server_id: serverId, expires: '2099-01-01T07:00:00.000Z' });
    expect(list.json).toContainEqual({ id: expect.any(String), server_id: serverId, expires: 'never' });
    expect(await system.rest('PUT', `/servers/${serverId}/invites/${live}?expires=${future}`, { as: owner })).toMatchObject({ status: 200 });
    expect((await system.rest('GET', `/servers/${serverId}/invites/${live}`, { as: owner })).json).toEqual({ id: live, server_id: serverId, expires: future });
    const otherServer = await system.server(stranger);
    expect(await system.rest('GET', `/servers/${otherServer}/invites/${live}`, { as: stranger })).toMatchObject({ status: 404 });
    expect(await system.rest('DELETE', `/servers/${serverId}/invites/${live}`, { as: owner })).toMatchObject({ status: 200 });
    expect(await system.rest('GET', `/server_invites/${live}`)).toMatchObject({ status: 404 });
  });

  test('server_edited to members, got_server_owner to the new owner only', async () => {
    const [owner, member, outsider] = [await system.user(), await system.user(), await system.user()];
    const serverId = await system.server(owner, [member], 'before');
    const ownerSocket = await system.connect(owner);
    const memberSocket = await system.connect(member);
    const outsiderSocket = await system.connect(outsider);

    expect(await system.rest('PUT', `/servers/${serverId}`, { as: member, form: { name: 'hijacked' } })).toMatchObject({ status: 403, text: 'No permission' });
    expect(await system.rest('PUT', `/servers/${serverId}`, { as: outsider, form: { name: 'x' } })).toMatchObject({ status: 403 });
    expect(await system.rest('PUT', `/servers/${serverId}`, { as: owner, form: { name: 'x'.repeat(65) } })).toMatchObject({ status: 400 });
    expect(await system.rest('PUT', `/servers/${serverId}`, { as: owner, form: { owner_id: String(outsider.id) } })).toMatchObject({ status: 404 });
    expect(await system.rest('PUT', `/servers/${serverId}`, { as: owner, form: { owner_id: String(owner.id) } })).toMatchObject({ status: 202 });
    expect(await system.rest('PUT', `/servers/${serverId}`, { as: owner, form: { name: 'before' } })).toMatchObject({ status: 200 });
    await ownerSocket.expectNothing('server_edited');

    expect(await system.rest('PUT', `/servers/${serverId}`, { as: owner, form: { owner_id: String(member.id) } })).toMatchObject({ status: 200, text: 'Changed' });
    const edited = { id: serverId, name: 'before', owner_id: member.id };
    expect(await ownerSocket.next('server_edited')).toEqual(edited);
    expect(await memberSocket.next('server_edited')).toEqual(edited);
    expect(await memberSocket.next('got_server_owner')).toEqual({ id: serverId });
    await ownerSocket.expectNothing('got_server_owner');
    await outsiderSocket.expectNothing();
    expect((await system.rest('GET', `/servers/${serverId}`, { as: owner })).json).toEqual(edited);
  });

  test('server_deleted reaches every member, then the server is gone', async () => {
    const [owner, member, outsider] = [await system.user(), await system.user(), await system.user()];
    const serverId = await system.server(owner, [member]);
    const memberSocket = await system.connect(member);
    const ownerSocket = await system.connect(owner);
    expect(await memberSocket.next('user_changed', (d) => d.id === owner.id)).toEqual({ id: owner.id, status: 1 });
    const outsiderSocket = await system.connect(outsider);
    expect(await system.rest('DELETE', `/servers/${serverId}`, { as: member })).toMatchObject({ status: 403 });
    expect(await system.rest('DELETE', `/servers/${serverId}`, { as: owner })).toMatchObject({ status: 200 });
    expect(await memberSocket.next('server_deleted')).toEqual({ id: serverId });
    expect(await ownerSocket.next('server_deleted')).toEqual({ id: serverId });
    await outsiderSocket.expectNothing();
    expect(await system.rest('GET', `/servers/${serverId}`, { as: owner })).toMatchObject({ status: 403 });
    expect((await system.rest('GET', '/servers', { as: member })).json).toEqual([]);
    // The deleted server's events no longer reach its former members.
    await system.rest('PUT', '/user_status?status=2', { as: owner });
    await memberSocket.expectNothing('user_changed');
  });

  test('member listing, paging and lookups', async () => {
    const [owner, a, b, outsider] = [await system.user('Owner'), await system.user('Anna'), await system.user('Bert'), await system.user()];
    const serverId = await system.server(owner, [a, b]);
    const all = await system.rest('GET', `/servers/${serverId}/users/?start_id=2147483647&count=50`, { as: a });
    expect(all.json.map((u: { id: number }) => u.id)).toEqual([b.id, a.id, owner.id]);
    expect(all.json[0]).toEqual({ id: b.id, name: 'Bert', status: 0, roles: [expect.any(Number)] });
    const ascending = await system.rest('GET', `/servers/${serverId}/users?start_id=0&count=2&order=1`, { as: a });
    expect(ascending.json.map((u: { id: number }) => u.id)).toEqual([owner.id, a.id]);
    const filtered = await system.rest('GET', `/servers/${serverId}/users?start_id=0&count=50&order=1&displayname=nn`, { as: a });
    expect(filtered.json.map((u: { id: number }) => u.id)).toEqual([a.id]);
    expect(await system.rest('GET', `/servers/${serverId}/users?start_id=0&count=51`, { as: a })).toMatchObject({ status: 403 });
    expect(await system.rest('GET', `/servers/${serverId}/users?start_id=x&count=5`, { as: a })).toMatchObject({ status: 400 });
    expect(await system.rest('GET', `/servers/${serverId}/users?start_id=0&count=5`, { as: outsider })).toMatchObject({ status: 403 });
    expect((await system.rest('GET', `/servers/${serverId}/users/${b.id}`, { as: a })).json).toMatchObject({ id: b.id, name: 'Bert' });
    expect(await system.rest('GET', `/servers/${serverId}/users/${outsider.id}`, { as: a })).toMatchObject({ status: 404 });
    const users = await system.rest('GET', `/users?start_id=0&count=50&order=1&displayname=Bert`);
    expect(users.json).toEqual([{ id: b.id, name: 'Bert', status: 0 }]);
    expect(await system.rest('GET', '/users/999999')).toMatchObject({ status: 404 });
    expect(await system.rest('GET', '/users/abc')).toMatchObject({ status: 400 });
  });

  test('server limits, params and CORS', async () => {
    const owner = await system.user();
    const params = await system.rest('GET', '/params');
    expect(params.json).toMatchObject({ max_servers_owned_per_user: 10, max_get_count: 50, ws_port: expect.any(Number) });
    for (let i = 0; i < 10; i++) await system.server(owner);
    expect(await system.rest('POST', '/servers?name=eleventh', { as: owner })).toMatchObject({ status: 403 });
    expect(await system.rest('POST', '/servers', { as: owner })).toMatchObject({ status: 400 });

    const preflight = await system.rest('OPTIONS', '/servers', { headers: { origin: 'https://localhost:5173' } });
    expect(preflight.status).toBe(200);
    expect(preflight.headers.get('access-control-allow-origin')).toBe('https://localhost:5173');
    expect(preflight.headers.get('access-control-allow-credentials')).toBe('true');
    const foreign = await system.rest('GET', '/params', { headers: { origin: 'https://evil.example' } });
    expect(foreign.headers.get('access-control-allow-origin')).toBeNull();
    expect(await system.rest('GET', '/no/such/route')).toMatchObject({ status: 404 });
  });
});
