import { GetCommand } from '@aws-sdk/lib-dynamodb';
import { Perm } from '../lambdas/domain/permissions';
import { keys } from '../lambdas/domain/table';
import { block } from './support/scenario';
import { TestSystem, type TestUser } from './support/system';

let system: TestSystem;
beforeAll(async () => {
  system = await TestSystem.start();
});
afterAll(() => system.stop());

/** Adds roles above the default one and hands them out; returns the role ids by name. */
async function giveRoles(owner: TestUser, serverId: number, holders: Record<string, { perms1: number; users: TestUser[] }>) {
  const [defaultRole] = (await system.rest('GET', `/servers/${serverId}/roles`, { as: owner })).json;
  const wanted = Object.entries(holders).map(([name, { perms1 }], i) => ({ id: -1 - i, name, color: '#336699', perms1 }));
  expect(await system.rest('PUT', `/servers/${serverId}/roles`, { as: owner, json: [...wanted, defaultRole] })).toMatchObject({ status: 200 });
  const ids = new Map<string, number>(
    (await system.rest('GET', `/servers/${serverId}/roles`, { as: owner })).json.map((r: { id: number; name: string }) => [r.name, r.id]),
  );
  for (const [name, { users }] of Object.entries(holders)) {
    for (const user of users) await system.rest('POST', `/servers/${serverId}/users/${user.id}/roles/${ids.get(name)}`, { as: owner });
  }
  return ids;
}

async function setup() {
  const [owner, kicker, peer, banner, target, member, blocker, stranger] = [
    await system.user('Owner'),
    await system.user('Kicker'),
    await system.user('Peer'),
    await system.user('Banner'),
    await system.user('Target'),
    await system.user('Member'),
    await system.user('Blocker'),
    await system.user('Stranger'),
  ];
  const serverId = await system.server(owner, [kicker, peer, banner, target, member, blocker]);
  await system.server(stranger);
  await giveRoles(owner, serverId, {
    kick: { perms1: 4 ** Perm.KICK_MEMBERS, users: [kicker, peer] },
    // BAN_MEMBERS alone no longer kicks (docs/upstream.md, decision 5).
    ban: { perms1: 4 ** Perm.BAN_MEMBERS, users: [banner] },
  });
  return { serverId, owner, kicker, peer, banner, target, member, blocker, stranger };
}

describe('kick', () => {
  test('user_kicked reaches the remaining members (not those who blocked him) and the kicked user, once per connection', async () => {
    const { serverId, owner, kicker, target, member, blocker, stranger } = await setup();
    await block(system, blocker, target);
    const sockets = {
      owner: await system.connect(owner),
      ownerSecond: await system.connect(owner),
      kicker: await system.connect(kicker),
      member: await system.connect(member),
      target: await system.connect(target),
      targetSecond: await system.connect(target),
      blocker: await system.connect(blocker),
      stranger: await system.connect(stranger),
    };
    const receivers = [sockets.owner, sockets.ownerSecond, sockets.kicker, sockets.member, sockets.target, sockets.targetSecond];

    expect(await system.rest('DELETE', `/servers/${serverId}/users/${target.id}/`, { as: kicker })).toMatchObject({ status: 200, text: 'Kicked' });
    for (const socket of receivers) expect(await socket.next('user_kicked')).toEqual({ id: target.id, server_id: serverId });

    // Later events of the server no longer reach him.
    expect(await system.rest('PUT', `/servers/${serverId}`, { as: owner, form: { name: 'after the kick' } })).toMatchObject({ status: 200 });
    expect(await sockets.member.next('server_edited')).toEqual({ id: serverId, name: 'after the kick', owner_id: owner.id });
    await Promise.all([
      ...[...receivers, sockets.blocker, sockets.stranger].map((socket) => socket.expectNothing('user_kicked')),
      sockets.target.expectNothing('server_edited'),
      sockets.targetSecond.expectNothing('server_edited'),
      sockets.stranger.expectNothing('server_edited'),
    ]);
    expect(await system.rest('GET', `/servers/${serverId}`, { as: target })).toMatchObject({ status: 403, text: 'User is not a member of the server' });
    expect(await system.rest('GET', `/servers/${serverId}/users/${target.id}`, { as: owner })).toMatchObject({ status: 404 });
    expect((await system.rest('GET', '/servers', { as: target })).json).toEqual([]);

    // A kick is not a ban: an invite brings him back.
    const invite = await system.rest('POST', `/servers/${serverId}/invites?expires=never`, { as: owner });
    expect(await system.rest('POST', `/server_invites/${invite.text}`, { as: target })).toMatchObject({ status: 200, text: 'Joined' });
  });

  test('refusals, and leaving by kicking oneself', async () => {
    const { serverId, owner, kicker, peer, banner, target, member, stranger } = await setup();
    const kick = (userId: number | string, as: TestUser, server: number | string = serverId) =>
      system.rest('DELETE', `/servers/${server}/users/${userId}`, { as });
    const refusals: Array<[number | string, TestUser, number, string]> = [
      [owner.id, kicker, 403, 'Owner cannot be kicked'],
      [owner.id, owner, 403, 'Owner cannot be kicked'],
      [peer.id, kicker, 403, 'Target user has a role higher or equal to that of user'],
      [target.id, member, 403, 'No permission'],
      [target.id, banner, 403, 'No permission'],
      [stranger.id, kicker, 404, 'User is not a member of the server'],
      [999999, kicker, 404, 'User is not a member of the server'],
      [member.id, stranger, 403, 'User is not a member of the server'],
      ['x', kicker, 400, "Couldn't parse 'uid', got: x"],
    ];
    for (const [userId, as, status, text] of refusals) {
      const response = await kick(userId, as);
      expect({ userId, as: as.name, status: response.status, text: response.text }).toEqual({ userId, as: as.name, status, text });
    }
    expect(await kick(member.id, kicker, 'abc')).toMatchObject({ status: 400, text: "Couldn't parse 'sid', got: abc" });
    expect(await system.rest('DELETE', `/servers/${serverId}/users/${member.id}`)).toMatchObject({ status: 400, text: 'Invalid token' });

    // Any member but the owner may leave (kick himself), without KICK_MEMBERS.
    const ownerSocket = await system.connect(owner);
    expect(await kick(member.id, member)).toMatchObject({ status: 200, text: 'Kicked' });
    expect(await ownerSocket.next('user_kicked')).toEqual({ id: member.id, server_id: serverId });
    expect(await system.rest('GET', `/servers/${serverId}`, { as: member })).toMatchObject({ status: 403, text: 'User is not a member of the server' });

    // The owner outranks everyone; a kicker may leave on his own.
    const kickerSocket = await system.connect(kicker);
    expect(await kick(peer.id, owner)).toMatchObject({ status: 200, text: 'Kicked' });
    expect(await kickerSocket.next('user_kicked')).toEqual({ id: peer.id, server_id: serverId });
    expect(await kick(kicker.id, kicker)).toMatchObject({ status: 200, text: 'Kicked' });
    expect(await kickerSocket.next('user_kicked')).toEqual({ id: kicker.id, server_id: serverId });
    expect(await kick(kicker.id, owner)).toMatchObject({ status: 404, text: 'User is not a member of the server' });
  });
});

describe('admin mute/deafen ends with the membership', () => {
  test('a kick, leaving, a ban and the server\'s deletion remove the stored state; a rejoin starts without one', async () => {
    const { serverId, owner, peer, target, member, banner } = await setup();
    const voice = Number((await system.rest('POST', `/servers/${serverId}/channels`, { as: owner, json: { name: 'voice', type: 1 } })).text);
    const stored = async (userId: number) =>
      (await system.db.doc.send(new GetCommand({ TableName: system.db.table, Key: keys.adminVoiceState(serverId, userId), ConsistentRead: true }))).Item;
    for (const user of [owner, peer, target, member, banner]) {
      expect(await system.rest('PUT', `/channels/${voice}/users/${user.id}?mute=1&deaf=1`, { as: owner })).toMatchObject({ status: 200, text: 'Changed' });
      expect(await stored(user.id)).toMatchObject({ mute: true, deaf: true });
    }

    expect((await system.rest('DELETE', `/servers/${serverId}/users/${target.id}`, { as: owner })).status).toBe(200);
    expect(await stored(target.id)).toBeUndefined();
    expect((await system.rest('DELETE', `/servers/${serverId}/users/${member.id}`, { as: member })).status).toBe(200);
    expect(await stored(member.id)).toBeUndefined();
    expect((await system.rest('POST', `/servers/${serverId}/bans/${banner.id}?expires=never`, { as: owner })).status).toBe(200);
    expect(await stored(banner.id)).toBeUndefined();
    expect(await system.rest('PUT', `/channels/${voice}/users/${target.id}?mute=1`, { as: owner })).toMatchObject({ status: 404, text: 'User is not a member of the server' });
    expect(await stored(target.id)).toBeUndefined();

    // Back by invite: no admin state carried over.
    const invite = (await system.rest('POST', `/servers/${serverId}/invites?expires=never`, { as: owner })).text;
    expect((await system.rest('POST', `/server_invites/${invite}`, { as: target })).status).toBe(200);
    expect(await stored(target.id)).toBeUndefined();
    expect(await system.rest('PUT', `/channels/${voice}/users/${target.id}?deaf=0`, { as: owner })).toMatchObject({ status: 202, text: 'Nothing to change' });

    expect((await system.rest('DELETE', `/servers/${serverId}`, { as: owner })).status).toBe(200);
    expect(await stored(owner.id)).toBeUndefined();
    expect(await stored(peer.id)).toBeUndefined();
  });
});
