import { batchWrite } from '../lambdas/domain/db';
import { keys } from '../lambdas/domain/table';
import { TestSystem, type TestUser } from './support/system';

let system: TestSystem;
beforeAll(async () => {
  system = await TestSystem.start();
});
afterAll(() => system.stop());


async function befriend(a: TestUser, b: TestUser): Promise<void> {
  expect((await system.rest('POST', `/friends/${b.id}`, { as: a })).status).toBe(200);
  expect((await system.rest('POST', `/friends/${a.id}`, { as: b })).status).toBe(200);
}

describe('blocking and unblocking', () => {
  test('block returns the blocked user, lists him, is idempotent (202), and unblock undoes it', async () => {
    const [alice, bob, carol] = [await system.user('Alice'), await system.user('Bob'), await system.user('Carol')];
    await system.connect(bob, { query: 'status=2' });

    const blocked = await system.rest('POST', `//blocked_users/${bob.id}`, { as: alice });
    expect(blocked.status).toBe(200);
    expect(blocked.json).toEqual({ id: bob.id, name: 'Bob', status: 2 });
    expect(await system.rest('POST', `/blocked_users/${bob.id}`, { as: alice })).toMatchObject({ status: 202, text: 'User is already blocked' });
    expect((await system.rest('POST', `/blocked_users/${carol.id}`, { as: alice })).json).toEqual({ id: carol.id, name: 'Carol', status: 0 });
    expect((await system.rest('GET', '/blocked_users', { as: alice })).json).toEqual([
      { id: bob.id, name: 'Bob', status: 2 },
      { id: carol.id, name: 'Carol', status: 0 },
    ]);
    expect((await system.rest('GET', '/blocked_users', { as: bob })).json).toEqual([]);

    expect(await system.rest('DELETE', `//blocked_users/${bob.id}`, { as: alice })).toMatchObject({ status: 200, text: 'User was unblocked' });
    expect(await system.rest('DELETE', `/blocked_users/${bob.id}`, { as: alice })).toMatchObject({ status: 202, text: 'User was not blocked' });
    expect(await system.rest('DELETE', `/blocked_users/${alice.id}`, { as: bob })).toMatchObject({ status: 202, text: 'User was not blocked' });
    expect((await system.rest('GET', '/blocked_users', { as: alice })).json).toEqual([{ id: carol.id, name: 'Carol', status: 0 }]);
  });

  test('bad input: self, unknown users, malformed ids, no session', async () => {
    const alice = await system.user();
    expect(await system.rest('POST', `/blocked_users/${alice.id}`, { as: alice })).toMatchObject({ status: 400, text: 'Cannot block yourself' });
    expect(await system.rest('POST', '/blocked_users/99999999', { as: alice })).toMatchObject({ status: 404, text: 'User does not exist' });
    expect(await system.rest('POST', '/blocked_users/x1', { as: alice })).toMatchObject({ status: 400, text: "Couldn't parse 'uid', got: x1" });
    expect(await system.rest('DELETE', '/blocked_users/x1', { as: alice })).toMatchObject({ status: 400, text: "Couldn't parse 'uid', got: x1" });
    expect(await system.rest('DELETE', '/blocked_users/99999999', { as: alice })).toMatchObject({ status: 202, text: 'User was not blocked' });
    for (const [method, path] of [['GET', '/blocked_users'], ['POST', `/blocked_users/${alice.id}`], ['DELETE', `/blocked_users/${alice.id}`]]) {
      expect(await system.rest(method, path)).toMatchObject({ status: 400, text: 'Invalid token' });
    }
    expect((await system.rest('GET', '/blocked_users', { as: alice })).json).toEqual([]);
  });

  test('blocking ends a friendship (friend_removed) or a request either way (friend_request_denied), told to the blocked user only', async () => {
    const [alice, friend, asker, asked, plain, third] = [
      await system.user(),
      await system.user(),
      await system.user(),
      await system.user(),
      await system.user(),
      await system.user(),
    ];
    await befriend(alice, friend);
    await system.rest('POST', `/friends/${alice.id}`, { as: asker });
    await system.rest('POST', `/friends/${asked.id}`, { as: alice });
    const [alice1, alice2, friend1, friend2, askerSocket, askedSocket, plainSocket, thirdSocket] = await system.connectAll(
      alice,
      alice,
      friend,
      friend,
      asker,
      asked,
      plain,
      third,
    );

    expect((await system.rest('POST', `/blocked_users/${friend.id}`, { as: alice })).status).toBe(200);
    expect(await friend1.next('friend_removed')).toEqual({ id: alice.id });
    expect(await friend2.next('friend_removed')).toEqual({ id: alice.id });
    expect((await system.rest('POST', `/blocked_users/${asker.id}`, { as: alice })).status).toBe(200);
    expect(await askerSocket.next('friend_request_denied')).toEqual({ id: alice.id });
    expect((await system.rest('POST', `/blocked_users/${asked.id}`, { as: alice })).status).toBe(200);
    expect(await askedSocket.next('friend_request_denied')).toEqual({ id: alice.id });
    // No relation, nothing to tell.
    expect((await system.rest('POST', `/blocked_users/${plain.id}`, { as: alice })).status).toBe(200);

    // Both sides of every relation are gone.
    expect((await system.rest('GET', '/friends', { as: alice })).json).toEqual([]);
    expect((await system.rest('GET', '/friend_requests', { as: alice })).json).toEqual([]);
    expect((await system.rest('GET', '/friend_requests?incoming=0', { as: alice })).json).toEqual([]);
    expect((await system.rest('GET', '/friends', { as: friend })).json).toEqual([]);
    expect((await system.rest('GET', '/friend_requests?incoming=0', { as: asker })).json).toEqual([]);
    expect((await system.rest('GET', '/friend_requests', { as: asked })).json).toEqual([]);
    await Promise.all([alice1, alice2, friend1, friend2, askerSocket, askedSocket, plainSocket, thirdSocket].map((s) => s.expectNothing()));

    // After unblocking, the two start from nothing: a new request is needed.
    expect((await system.rest('DELETE', `/blocked_users/${friend.id}`, { as: alice })).status).toBe(200);
    expect(await system.rest('POST', `/friends/${friend.id}`, { as: alice })).toMatchObject({ status: 200, text: 'Friend request was sent' });
  });

  test('max_blocked_per_user (200)', async () => {
    const [alice, extra] = [await system.user(), await system.user()];
    const first = 2_000_000;
    const targets = Array.from({ length: 200 }, (_, i) => first + i);
    // Users that only need to exist: profile items written directly, far faster than registering.
    await batchWrite(system.db, targets.map((id) => ({ put: { ...keys.user(id), id, name: `seeded${id}`, username: `seeded${id}`, status: 0 } })));
    for (const target of targets) expect((await system.rest('POST', `/blocked_users/${target}`, { as: alice })).status).toBe(200);
    expect(await system.rest('POST', `/blocked_users/${extra.id}`, { as: alice })).toMatchObject({ status: 403, text: 'Cannot block more than 200 users' });
    // Already blocked is still a no-op, not a limit error.
    expect(await system.rest('POST', `/blocked_users/${targets[0]}`, { as: alice })).toMatchObject({ status: 202 });
    expect((await system.rest('GET', '/blocked_users', { as: alice })).json).toHaveLength(200);
    expect((await system.rest('DELETE', `/blocked_users/${targets[0]}`, { as: alice })).status).toBe(200);
    expect((await system.rest('POST', `/blocked_users/${extra.id}`, { as: alice })).status).toBe(200);
  }, 90_000);
});

describe('what a block hides (docs/upstream.md, decision 12)', () => {
  test('a blocker receives no events authored by the blocked user, in a server channel and in a DM; others still do', async () => {
    const [blocker, blocked, member] = [await system.user(), await system.user(), await system.user()];
    const serverId = await system.server(blocker, [blocked, member]);
    const channelId = Number((await system.rest('POST', `/servers/${serverId}/channels`, { as: blocker, json: { name: 'chat', type: 0 } })).text);
    const [dmId] = (await system.rest('POST', `/dms/${blocker.id}`, { as: blocked })).json;
    expect((await system.rest('POST', `/blocked_users/${blocked.id}`, { as: blocker })).status).toBe(200);
    const [blockerSocket, blockedSocket, memberSocket] = await system.connectAll(blocker, blocked, member);

    const posted = Number((await system.rest('POST', `/channels/${channelId}/messages`, { as: blocked, json: { text: 'in the server' } })).text);
    expect((await memberSocket.next('message_created')).id).toBe(posted);
    expect((await blockedSocket.next('message_created')).id).toBe(posted);
    const inDm = Number((await system.rest('POST', `/channels/${dmId}/messages`, { as: blocked, json: { text: 'in the DM' } })).text);
    expect(await blockedSocket.next('message_created')).toMatchObject({ id: inDm, channel_id: dmId });
    expect((await system.rest('PUT', `/messages/${inDm}`, { as: blocked, json: { text: 'edited' } })).status).toBe(200);
    expect(await blockedSocket.next('message_edited')).toMatchObject({ id: inDm, text: 'edited' });
    expect((await system.rest('PUT', '/user_status?status=2', { as: blocked })).status).toBe(200);
    expect(await memberSocket.next('user_changed')).toEqual({ id: blocked.id, status: 2 });
    await blockerSocket.expectNothing();

    // The blocker's own messages still reach the blocked user.
    const reply = Number((await system.rest('POST', `/channels/${dmId}/messages`, { as: blocker, json: { text: 'reply' } })).text);
    expect((await blockedSocket.next('message_created')).id).toBe(reply);
    expect((await blockerSocket.next('message_created')).id).toBe(reply);

    // History hides the blocked author too; unblocking restores delivery.
    const history = (await system.rest('GET', `/channels/${dmId}/messages?start_id=2147483647&count=10`, { as: blocker })).json;
    expect(history.map((m: { id: number }) => m.id)).toEqual([reply]);
    expect((await system.rest('DELETE', `/blocked_users/${blocked.id}`, { as: blocker })).status).toBe(200);
    await system.rest('POST', `/channels/${dmId}/messages`, { as: blocked, json: { text: 'again' } });
    expect(await blockerSocket.next('message_created')).toMatchObject({ text: 'again', channel_id: dmId });
  });

  test('a blocked user raises no counters: no dm_notifications, not the last_message of GET /dms, no @u mention notifications', async () => {
    const [blocker, blocked] = [await system.user(), await system.user()];
    const serverId = await system.server(blocker, [blocked]);
    const channelId = Number((await system.rest('POST', `/servers/${serverId}/channels`, { as: blocker, json: { name: 'quiet', type: 0 } })).text);
    const [dmId] = (await system.rest('POST', `/dms/${blocker.id}`, { as: blocked })).json;
    const mine = Number((await system.rest('POST', `/channels/${dmId}/messages`, { as: blocker, json: { text: 'before the block' } })).text);
    expect((await system.rest('POST', `/blocked_users/${blocked.id}`, { as: blocker })).status).toBe(200);

    expect((await system.rest('POST', `/channels/${dmId}/messages`, { as: blocked, json: { text: 'unwanted' } })).status).toBe(200);
    expect((await system.rest('POST', `/channels/${channelId}/messages`, { as: blocked, json: { text: `hey @u${blocker.id}` } })).status).toBe(200);

    expect((await system.rest('GET', '/notifications', { as: blocker })).json).toEqual({ dm_notifications: 0 });
    const dms = (await system.rest('GET', '/dms?start_id=2147483647&count=10', { as: blocker })).json;
    expect(dms).toHaveLength(1);
    expect(dms[0].last_message).toMatchObject({ id: mine, text: 'before the block' });
    expect('notifications' in dms[0]).toBe(false);
    const channels = (await system.rest('GET', `/servers/${serverId}/channels`, { as: blocker })).json;
    expect(channels.find((c: { id: number }) => c.id === channelId).notifications ?? 0).toBe(0);
    // The blocked user's side is unchanged: the blocker's messages count for him.
    expect((await system.rest('GET', '/notifications', { as: blocked })).json).toEqual({ dm_notifications: 0 });
    await system.rest('POST', `/channels/${dmId}/messages`, { as: blocker, json: { text: 'still talking' } });
    expect((await system.rest('GET', '/notifications', { as: blocked })).json).toEqual({ dm_notifications: 1 });
  });

  test('GET /users and GET /servers/{sid}/users hide users the caller blocked', async () => {
    const [alice, bob, carol] = [await system.user('Hide Alice'), await system.user('Hide Bob'), await system.user('Hide Carol')];
    const serverId = await system.server(alice, [bob, carol]);
    expect((await system.rest('POST', `/blocked_users/${bob.id}`, { as: alice })).status).toBe(200);
    const names = async (path: string, as?: TestUser) => (await system.rest('GET', path, { as })).json.map((u: { id: number }) => u.id);
    expect(await names('/users?start_id=2147483647&count=50&displayname=Hide', alice)).toEqual([carol.id, alice.id]);
    expect(await names('/users?start_id=2147483647&count=50&displayname=Hide', carol)).toEqual([carol.id, bob.id, alice.id]);
    expect(await names('/users?start_id=2147483647&count=50&displayname=Hide')).toEqual([carol.id, bob.id, alice.id]);
    expect(await names(`/servers/${serverId}/users?start_id=0&count=50&order=1`, alice)).toEqual([alice.id, carol.id]);
    expect(await names(`/servers/${serverId}/users?start_id=0&count=50&order=1`, bob)).toEqual([alice.id, bob.id, carol.id]);
    expect((await system.rest('DELETE', `/blocked_users/${bob.id}`, { as: alice })).status).toBe(200);
    expect(await names(`/servers/${serverId}/users?start_id=0&count=50&order=1`, alice)).toEqual([alice.id, bob.id, carol.id]);
  });
});
