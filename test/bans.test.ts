import { Perm } from '../lambdas/domain/permissions';
import { block } from './support/scenario';
import { type SocketClient, TestSystem, type TestUser } from './support/system';

let system: TestSystem;
beforeAll(async () => {
  system = await TestSystem.start();
});
afterAll(() => system.stop());

/** A server where `moderator` and `peer` hold a role allowing BAN_MEMBERS, plus an invite to (re)join it. */
async function setup(members: TestUser[]) {
  const [owner, moderator, peer] = [await system.user('Owner'), await system.user('Moderator'), await system.user('Peer')];
  const serverId = await system.server(owner, [moderator, peer, ...members]);
  const [defaultRole] = (await system.rest('GET', `/servers/${serverId}/roles`, { as: owner })).json;
  const banRole = { id: -1, name: 'bans', color: '#aa0000', perms1: 4 ** Perm.BAN_MEMBERS };
  expect(await system.rest('PUT', `/servers/${serverId}/roles`, { as: owner, json: [banRole, defaultRole] })).toMatchObject({ status: 200 });
  const [{ id: banRoleId }] = (await system.rest('GET', `/servers/${serverId}/roles`, { as: owner })).json;
  for (const user of [moderator, peer]) await system.rest('POST', `/servers/${serverId}/users/${user.id}/roles/${banRoleId}`, { as: owner });
  const invite = (await system.rest('POST', `/servers/${serverId}/invites?expires=never`, { as: owner })).text;
  const join = (user: TestUser) => system.rest('POST', `/server_invites/${invite}`, { as: user });
  return { serverId, owner, moderator, peer, join };
}

describe('bans', () => {
  test('user_banned, ban_changed and user_unbanned: payloads and audiences; a banned user cannot rejoin until unbanned', async () => {
    const [target, member, blocker, stranger] = [await system.user('Target'), await system.user('Member'), await system.user('Blocker'), await system.user()];
    const { serverId, owner, moderator, join } = await setup([target, member, blocker]);
    await system.server(stranger);
    // None of these events is block-filtered: a member who blocked both the banned user and the actor still hears them.
    await block(system, blocker, target);
    await block(system, blocker, moderator);
    const sockets: Record<string, SocketClient> = {
      moderator: await system.connect(moderator),
      moderatorSecond: await system.connect(moderator),
      owner: await system.connect(owner),
      member: await system.connect(member),
      blocker: await system.connect(blocker),
      target: await system.connect(target),
      targetSecond: await system.connect(target),
      stranger: await system.connect(stranger),
    };
    const members = ['moderator', 'moderatorSecond', 'owner', 'member', 'blocker'];
    const quietAbout = (names: string[], event: string) => names.map((name) => sockets[name].expectNothing(event));

    expect(await system.rest('POST', `/servers/${serverId}/bans/${target.id}?expires=never`, { as: moderator })).toMatchObject({ status: 200, text: 'Banned' });
    const banned = await sockets.owner.next('user_banned');
    expect(banned).toEqual({ id: expect.any(Number), user: { id: target.id, name: 'Target', status: 1 }, expires: 'never', server_id: serverId });
    const banId: number = banned.id;
    for (const name of [...members.filter((n) => n !== 'owner'), 'target', 'targetSecond']) expect(await sockets[name].next('user_banned')).toEqual(banned);

    expect(await system.rest('PUT', `/servers/${serverId}`, { as: owner, form: { name: 'after the ban' } })).toMatchObject({ status: 200 });
    await sockets.member.next('server_edited');
    await Promise.all([
      ...quietAbout([...members, 'target', 'targetSecond', 'stranger'], 'user_banned'),
      ...quietAbout(['target', 'targetSecond', 'stranger'], 'server_edited'),
    ]);
    expect((await system.rest('GET', '/servers', { as: target })).json).toEqual([]);
    expect(await system.rest('GET', `/servers/${serverId}/bans?start_id=0&count=50&order=1`, { as: moderator })).toMatchObject({
      status: 200,
      json: [{ id: banId, user: { id: target.id, name: 'Target', status: 1 }, expires: 'never' }],
    });
    expect(await join(target)).toMatchObject({ status: 403, text: 'User is banned from the server' });
    expect(await system.rest('POST', `/servers/${serverId}/bans/${target.id}?expires=never`, { as: moderator })).toMatchObject({ status: 202, text: 'Already banned' });

    // The expiry is normalized to ISO UTC, on the wire and in the list; an unchanged expiry announces nothing.
    const expires = encodeURIComponent('2099-01-01 10:00:00+03');
    expect(await system.rest('PUT', `/servers/${serverId}/bans/${banId}?expires=${expires}`, { as: moderator })).toMatchObject({ status: 200, text: 'Changed' });
    const changed = { id: banId, server_id: serverId, expires: '2099-01-01T07:00:00.000Z' };
    for (const name of members) expect(await sockets[name].next('ban_changed')).toEqual(changed);
    expect(await system.rest('PUT', `/servers/${serverId}/bans/${banId}`, { as: moderator, form: { expires: '2099-01-01T07:00:00Z' } })).toMatchObject({
      status: 200,
      text: 'Changed',
    });
    expect((await system.rest('GET', `/servers/${serverId}/bans?start_id=2147483647&count=5`, { as: owner })).json).toEqual([
      { id: banId, user: { id: target.id, name: 'Target', status: 1 }, expires: '2099-01-01T07:00:00.000Z' },
    ]);

    expect(await system.rest('DELETE', `/servers/${serverId}/bans/${banId}`, { as: moderator })).toMatchObject({ status: 200, text: 'Unbanned' });
    for (const name of members) expect(await sockets[name].next('user_unbanned')).toEqual({ id: banId, server_id: serverId });
    await Promise.all([
      ...quietAbout([...members, 'target', 'targetSecond', 'stranger'], 'ban_changed'),
      ...quietAbout([...members, 'target', 'targetSecond', 'stranger'], 'user_unbanned'),
    ]);
    expect(await system.rest('DELETE', `/servers/${serverId}/bans/${banId}`, { as: moderator })).toMatchObject({ status: 404, text: 'Ban does not exist' });
    expect(await system.rest('PUT', `/servers/${serverId}/bans/${banId}?expires=never`, { as: moderator })).toMatchObject({ status: 404, text: 'Ban does not exist' });
    expect((await system.rest('GET', `/servers/${serverId}/bans?start_id=0&count=50`, { as: owner })).json).toEqual([]);
    expect(await join(target)).toMatchObject({ status: 200, text: 'Joined' });
  });

  test('an expired ban counts as lifted: rejoining works, it is not listed, and the user can be banned again', async () => {
    const target = await system.user('Target');
    const { serverId, moderator, join } = await setup([target]);
    const expiry = new Date(Date.now() + 1500).toISOString();
    expect(await system.rest('POST', `/servers/${serverId}/bans/${target.id}`, { as: moderator, form: { expires: expiry } })).toMatchObject({ status: 200 });
    const [{ id: banId, expires }] = (await system.rest('GET', `/servers/${serverId}/bans?start_id=0&count=50&order=1`, { as: moderator })).json;
    expect(expires).toBe(expiry);
    expect(await join(target)).toMatchObject({ status: 403, text: 'User is banned from the server' });

    await new Promise((resolve) => setTimeout(resolve, Date.parse(expiry) - Date.now() + 50));
    expect((await system.rest('GET', `/servers/${serverId}/bans?start_id=0&count=50&order=1`, { as: moderator })).json).toEqual([]);
    expect(await system.rest('PUT', `/servers/${serverId}/bans/${banId}?expires=never`, { as: moderator })).toMatchObject({ status: 404, text: 'Ban does not exist' });
    expect(await system.rest('DELETE', `/servers/${serverId}/bans/${banId}`, { as: moderator })).toMatchObject({ status: 404, text: 'Ban does not exist' });
    expect(await join(target)).toMatchObject({ status: 200, text: 'Joined' });

    // The expired ban's leftovers do not stand in the way of a new ban.
    expect(await system.rest('POST', `/servers/${serverId}/bans/${target.id}?expires=never`, { as: moderator })).toMatchObject({ status: 200, text: 'Banned' });
    const [{ id: newBanId }] = (await system.rest('GET', `/servers/${serverId}/bans?start_id=0&count=50&order=1`, { as: moderator })).json;
    expect(newBanId).toBeGreaterThan(banId);
    expect(await join(target)).toMatchObject({ status: 403, text: 'User is banned from the server' });
  });

  test('refusals and paging', async () => {
    const [a, b, c, member, stranger, strangersMember] = [
      await system.user('A'),
      await system.user('B'),
      await system.user('C'),
      await system.user('Member'),
      await system.user('Stranger'),
      await system.user(),
    ];
    const { serverId, owner, moderator, peer } = await setup([a, b, c, member]);
    const otherServer = await system.server(stranger, [strangersMember]);
    expect(await system.rest('POST', `/servers/${otherServer}/bans/${strangersMember.id}?expires=never`, { as: stranger })).toMatchObject({ status: 200 });
    const [{ id: foreignBanId }] = (await system.rest('GET', `/servers/${otherServer}/bans?start_id=0&count=1&order=1`, { as: stranger })).json;

    const refusals: Array<[string, string, TestUser, number, string]> = [
      ['POST', `/servers/${serverId}/bans/${a.id}?expires=never`, member, 403, 'No permission'],
      ['POST', `/servers/${serverId}/bans/${a.id}?expires=never`, stranger, 403, 'User is not a member of the server'],
      ['POST', `/servers/${serverId}/bans/${a.id}`, moderator, 400, "Couldn't parse 'expires', got: nothing"],
      ['POST', `/servers/${serverId}/bans/${a.id}?expires=tomorrow`, moderator, 400, "Couldn't parse 'expires', got: tomorrow"],
      ['POST', `/servers/${serverId}/bans/${stranger.id}?expires=never`, moderator, 404, 'User is not a member of the server'],
      ['POST', `/servers/${serverId}/bans/999999?expires=never`, moderator, 404, 'User is not a member of the server'],
      ['POST', `/servers/${serverId}/bans/${owner.id}?expires=never`, moderator, 403, 'Owner cannot be banned'],
      ['POST', `/servers/${serverId}/bans/${owner.id}?expires=never`, owner, 403, 'Owner cannot be banned'],
      ['POST', `/servers/${serverId}/bans/${moderator.id}?expires=never`, moderator, 403, 'Target user has a role higher or equal to that of user'],
      ['POST', `/servers/${serverId}/bans/${peer.id}?expires=never`, moderator, 403, 'Target user has a role higher or equal to that of user'],
      ['POST', `/servers/${serverId}/bans/x?expires=never`, moderator, 400, "Couldn't parse 'uid', got: x"],
      ['PUT', `/servers/${serverId}/bans/999999?expires=never`, moderator, 404, 'Ban does not exist'],
      ['PUT', `/servers/${serverId}/bans/${foreignBanId}?expires=never`, moderator, 404, 'Ban does not exist'],
      ['PUT', `/servers/${serverId}/bans/x?expires=never`, moderator, 400, "Couldn't parse 'bid', got: x"],
      ['PUT', `/servers/${serverId}/bans/${foreignBanId}?expires=never`, member, 403, 'No permission'],
      ['DELETE', `/servers/${serverId}/bans/999999`, moderator, 404, 'Ban does not exist'],
      ['DELETE', `/servers/${serverId}/bans/${foreignBanId}`, moderator, 404, 'Ban does not exist'],
      ['DELETE', `/servers/${serverId}/bans/${foreignBanId}`, member, 403, 'No permission'],
      ['GET', `/servers/${serverId}/bans?start_id=0&count=5`, member, 403, 'No permission'],
      ['GET', `/servers/${serverId}/bans?start_id=0&count=5`, stranger, 403, 'User is not a member of the server'],
      ['GET', `/servers/${serverId}/bans?count=5`, moderator, 400, "Couldn't parse 'start_id', got: nothing"],
      ['GET', `/servers/${serverId}/bans?start_id=0&count=51`, moderator, 403, 'count is invalid: 51 is above 50'],
    ];
    for (const [method, url, as, status, text] of refusals) {
      const response = await system.rest(method, url, { as });
      expect({ method, url, status: response.status, text: response.text }).toEqual({ method, url, status, text });
    }
    // The foreign ban is still in force.
    expect((await system.rest('GET', `/servers/${otherServer}/bans?start_id=0&count=5&order=1`, { as: stranger })).json).toHaveLength(1);

    for (const user of [a, b, c]) expect(await system.rest('POST', `/servers/${serverId}/bans/${user.id}?expires=never`, { as: owner })).toMatchObject({ status: 200 });
    const ids = async (query: string) =>
      (await system.rest('GET', `/servers/${serverId}/bans?${query}`, { as: moderator })).json.map((ban: { user: { id: number } }) => ban.user.id);
    expect(await ids('start_id=2147483647&count=2')).toEqual([c.id, b.id]);
    expect(await ids('start_id=0&count=50&order=1')).toEqual([a.id, b.id, c.id]);
    const [{ id: bBanId }] = (await system.rest('GET', `/servers/${serverId}/bans?start_id=2147483647&count=2&order=0`, { as: moderator })).json.slice(1);
    expect(await ids(`start_id=${bBanId}&count=50`)).toEqual([b.id, a.id]);
    expect(await ids(`start_id=${bBanId}&count=50&order=1`)).toEqual([b.id, c.id]);
    expect(await ids('start_id=0&count=0')).toEqual([]);
  });
});
