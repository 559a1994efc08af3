import { batchWrite } from '../lambdas/domain/db';
import { keys } from '../lambdas/domain/table';
import { TestSystem } from './support/system';

let system: TestSystem;
beforeAll(async () => {
  system = await TestSystem.start();
});
afterAll(() => system.stop());


/** Users that only need to exist (limit tests): profile items written directly, far faster than registering. */
let seeded = 0;
async function seedUsers(count: number): Promise<number[]> {
  const first = 1_000_000 * ++seeded;
  const userIds = Array.from({ length: count }, (_, i) => first + i);
  await batchWrite(system.db, userIds.map((id) => ({ put: { ...keys.user(id), id, name: `seeded${id}`, username: `seeded${id}`, status: 0, lastStatus: 1, connections: 0 } })));
  return userIds;
}

const body = (response: { json: any }) => response.json;

describe('friend requests and friendships', () => {
  test('request, accept, list, unfriend: exact texts, payloads, and only the other party hears (on every connection)', async () => {
    const [alice, bob, carol] = [await system.user('Alice'), await system.user('Bob'), await system.user('Carol')];
    const [aliceSocket, bob1, bob2, carolSocket] = await system.connectAll(alice, bob, bob, carol);

    expect(await system.rest('POST', `/friends/${bob.id}`, { as: alice })).toMatchObject({ status: 200, text: 'Friend request was sent' });
    expect(await bob1.next('friend_request_received')).toEqual({ id: alice.id });
    expect(await bob2.next('friend_request_received')).toEqual({ id: alice.id });
    expect(await system.rest('POST', `/friends/${bob.id}`, { as: alice })).toMatchObject({ status: 202, text: 'Friend request was already sent' });

    expect(body(await system.rest('GET', '/friend_requests', { as: bob }))).toEqual([alice.id]);
    expect(body(await system.rest('GET', '/friend_requests?incoming=1', { as: bob }))).toEqual([alice.id]);
    expect(body(await system.rest('GET', '/friend_requests?incoming=0', { as: bob }))).toEqual([]);
    expect(body(await system.rest('GET', '/friend_requests?incoming=0', { as: alice }))).toEqual([bob.id]);
    expect(body(await system.rest('GET', '/friend_requests', { as: alice }))).toEqual([]);
    expect(body(await system.rest('GET', '/friends', { as: alice }))).toEqual([]);

    expect(await system.rest('POST', `//friends/${alice.id}/`, { as: bob })).toMatchObject({ status: 200, text: 'Friend request was accepted' });
    expect(await aliceSocket.next('friend_request_accepted')).toEqual({ id: bob.id });
    expect(await system.rest('POST', `/friends/${bob.id}`, { as: alice })).toMatchObject({ status: 202, text: 'User is already a friend' });
    expect(await system.rest('POST', `/friends/${alice.id}`, { as: bob })).toMatchObject({ status: 202, text: 'User is already a friend' });

    expect(body(await system.rest('GET', '/friends', { as: alice }))).toEqual([{ id: bob.id }]);
    expect(body(await system.rest('GET', '/friends', { as: bob }))).toEqual([{ id: alice.id }]);
    expect(body(await system.rest('GET', '/friend_requests', { as: bob }))).toEqual([]);
    expect(body(await system.rest('GET', '/friend_requests?incoming=0', { as: alice }))).toEqual([]);

    // Once the DM pair exists, a friend entry names its voice channel (for DM calls).
    const [, voiceId] = (await system.rest('POST', `/dms/${bob.id}`, { as: alice })).json;
    expect(body(await system.rest('GET', '/friends', { as: alice }))).toEqual([{ id: bob.id, vc_channel_id: voiceId, vc_users: [] }]);
    expect(body(await system.rest('GET', '/friends', { as: bob }))).toEqual([{ id: alice.id, vc_channel_id: voiceId, vc_users: [] }]);

    expect(await system.rest('DELETE', `//friends/${bob.id}`, { as: alice })).toMatchObject({ status: 200, text: 'Removed from friends' });
    expect(await bob1.next('friend_removed')).toEqual({ id: alice.id });
    expect(await bob2.next('friend_removed')).toEqual({ id: alice.id });
    expect(body(await system.rest('GET', '/friends', { as: alice }))).toEqual([]);
    expect(body(await system.rest('GET', '/friends', { as: bob }))).toEqual([]);

    // Nobody else heard anything, and neither party heard his own actions.
    await Promise.all([aliceSocket.expectNothing(), bob1.expectNothing(), bob2.expectNothing(), carolSocket.expectNothing()]);
  });

  test('cancelling one\'s own request and denying another\'s', async () => {
    const [alice, bob, carol] = [await system.user(), await system.user(), await system.user()];
    const [aliceSocket, bobSocket, carolSocket] = await system.connectAll(alice, bob, carol);

    await system.rest('POST', `/friends/${bob.id}`, { as: alice });
    await bobSocket.next('friend_request_received');
    expect(await system.rest('DELETE', `/friends/${bob.id}`, { as: alice })).toMatchObject({ status: 200, text: 'Cancelled friend request' });
    expect(await bobSocket.next('friend_request_cancelled')).toEqual({ id: alice.id });
    expect(body(await system.rest('GET', '/friend_requests', { as: bob }))).toEqual([]);
    expect(body(await system.rest('GET', '/friend_requests?incoming=0', { as: alice }))).toEqual([]);

    await system.rest('POST', `/friends/${bob.id}`, { as: alice });
    await bobSocket.next('friend_request_received');
    expect(await system.rest('DELETE', `/friends/${alice.id}`, { as: bob })).toMatchObject({ status: 200, text: 'Denied friend request' });
    expect(await aliceSocket.next('friend_request_denied')).toEqual({ id: bob.id });
    expect(body(await system.rest('GET', '/friend_requests?incoming=0', { as: alice }))).toEqual([]);

    // Nothing left to end.
    expect(await system.rest('DELETE', `/friends/${alice.id}`, { as: bob })).toMatchObject({ status: 403, text: 'User is not a friend' });
    expect(await system.rest('DELETE', `/friends/${bob.id}`, { as: alice })).toMatchObject({ status: 403, text: 'User is not a friend' });
    await Promise.all([aliceSocket.expectNothing(), bobSocket.expectNothing(), carolSocket.expectNothing()]);

    // A request can be sent again after it was cancelled or denied.
    expect(await system.rest('POST', `/friends/${alice.id}`, { as: bob })).toMatchObject({ status: 200, text: 'Friend request was sent' });
    expect(await aliceSocket.next('friend_request_received')).toEqual({ id: bob.id });
  });

  test('bad input: self, unknown users, malformed ids and arguments, no session, blocks either way', async () => {
    const [alice, bob, carol] = [await system.user(), await system.user(), await system.user()];
    const [aliceSocket, bobSocket, carolSocket] = await system.connectAll(alice, bob, carol);
    expect(await system.rest('POST', `/friends/${alice.id}`, { as: alice })).toMatchObject({ status: 400, text: 'Cannot send a friend request to yourself' });
    expect(await system.rest('POST', '/friends/99999999', { as: alice })).toMatchObject({ status: 404, text: 'User does not exist' });
    expect(await system.rest('POST', '/friends/-1', { as: alice })).toMatchObject({ status: 404, text: 'User does not exist' });
    expect(await system.rest('POST', '/friends/abc', { as: alice })).toMatchObject({ status: 400, text: "Couldn't parse 'uid', got: abc" });
    expect(await system.rest('DELETE', '/friends/abc', { as: alice })).toMatchObject({ status: 400 });
    expect(await system.rest('DELETE', '/friends/99999999', { as: alice })).toMatchObject({ status: 403, text: 'User is not a friend' });
    expect(await system.rest('GET', '/friend_requests?incoming=yes', { as: alice })).toMatchObject({ status: 400, text: "Couldn't parse 'incoming', got: yes" });
    for (const [method, path] of [['GET', '/friends'], ['GET', '/friend_requests'], ['POST', `/friends/${bob.id}`], ['DELETE', `/friends/${bob.id}`]]) {
      expect(await system.rest(method, path)).toMatchObject({ status: 400, text: 'Invalid token' });
      expect(await system.rest(method, path, { headers: { cookie: 'zavodchat_token=00000000-0000-4000-8000-000000000000' } })).toMatchObject({
        status: 401,
        text: 'Expired or invalid token',
      });
    }

    expect(await system.rest('POST', `/blocked_users/${alice.id}`, { as: bob })).toMatchObject({ status: 200 });
    expect(await system.rest('POST', `/friends/${bob.id}`, { as: alice })).toMatchObject({ status: 403, text: 'This user blocked you' });
    expect(await system.rest('POST', `/friends/${alice.id}`, { as: bob })).toMatchObject({ status: 403, text: 'You blocked this user' });
    expect(await system.rest('DELETE', `/blocked_users/${alice.id}`, { as: bob })).toMatchObject({ status: 200 });
    expect(await system.rest('POST', `/friends/${bob.id}`, { as: alice })).toMatchObject({ status: 200, text: 'Friend request was sent' });
    expect(await bobSocket.next('friend_request_received')).toEqual({ id: alice.id });

    // Refused requests announced nothing.
    await Promise.all([aliceSocket.expectNothing(), bobSocket.expectNothing(), carolSocket.expectNothing()]);
  });

  test('max_friends_per_user (200) counts friends and requests either way; accepting needs no room; ending one makes room', async () => {
    const [alice, asker, extra] = [await system.user(), await system.user(), await system.user()];
    const targets = await seedUsers(199);
    // One incoming request and 199 outgoing ones: 200 relations.
    expect(await system.rest('POST', `/friends/${alice.id}`, { as: asker })).toMatchObject({ status: 200 });
    for (const target of targets) expect((await system.rest('POST', `/friends/${target}`, { as: alice })).status).toBe(200);
    expect(await system.rest('POST', `/friends/${extra.id}`, { as: alice })).toMatchObject({
      status: 403,
      text: 'Cannot have more than 200 friends and friend requests',
    });
    expect(body(await system.rest('GET', '/friend_requests?incoming=0', { as: alice }))).toHaveLength(199);
    // Accepting turns a request into a friendship without adding a relation.
    expect(await system.rest('POST', `/friends/${asker.id}`, { as: alice })).toMatchObject({ status: 200, text: 'Friend request was accepted' });
    // Only the sender's count is limited: the full user can still be asked.
    expect(await system.rest('POST', `/friends/${alice.id}`, { as: extra })).toMatchObject({ status: 200, text: 'Friend request was sent' });
    expect(await system.rest('DELETE', `/friends/${extra.id}`, { as: alice })).toMatchObject({ status: 200, text: 'Denied friend request' });
    expect(await system.rest('DELETE', `/friends/${targets[0]}`, { as: alice })).toMatchObject({ status: 200, text: 'Cancelled friend request' });
    expect(await system.rest('POST', `/friends/${extra.id}`, { as: alice })).toMatchObject({ status: 200, text: 'Friend request was sent' });
  }, 90_000);
});

describe('user_changed reaches friends and pending requests (AUD-OBS), once per connection', () => {
  test('a friend without a shared server, both sides of pending requests and a friend who is also a co-member each get it once; a stranger does not', async () => {
    const [subject, friend, asked, asker, coMember, stranger] = [
      await system.user(),
      await system.user(),
      await system.user(),
      await system.user(),
      await system.user(),
      await system.user(),
    ];
    await system.server(subject, [coMember]);
    await system.server(stranger);
    await system.rest('POST', `/friends/${friend.id}`, { as: subject });
    await system.rest('POST', `/friends/${subject.id}`, { as: friend });
    await system.rest('POST', `/friends/${asked.id}`, { as: subject });
    await system.rest('POST', `/friends/${subject.id}`, { as: asker });
    await system.rest('POST', `/friends/${coMember.id}`, { as: subject });
    await system.rest('POST', `/friends/${subject.id}`, { as: coMember });
    // The subject is online: a status set without an open connection waits for his next connect.
    await system.connect(subject);
    const [friend1, friend2, askedSocket, askerSocket, coMemberSocket, strangerSocket] = await system.connectAll(friend, friend, asked, asker, coMember, stranger);

    expect(await system.rest('PUT', '/user_status?status=2', { as: subject })).toMatchObject({ status: 200 });
    const expected = { id: subject.id, status: 2 };
    for (const socket of [friend1, friend2, askedSocket, askerSocket, coMemberSocket]) expect(await socket.next('user_changed')).toEqual(expected);
    await Promise.all([friend1, friend2, askedSocket, askerSocket, coMemberSocket, strangerSocket].map((s) => s.expectNothing('user_changed')));

    // Ended relations stop it; a friend who blocks the subject (which ends the friendship) too.
    await system.rest('DELETE', `/friends/${friend.id}`, { as: subject });
    await system.rest('DELETE', `/friends/${subject.id}`, { as: asked });
    await system.rest('POST', `/blocked_users/${subject.id}`, { as: asker });
    expect(await system.rest('PUT', '/user_status?status=3', { as: subject })).toMatchObject({ status: 200 });
    expect(await coMemberSocket.next('user_changed')).toEqual({ id: subject.id, status: 3 });
    await Promise.all([friend1, friend2, askedSocket, askerSocket, coMemberSocket, strangerSocket].map((s) => s.expectNothing('user_changed')));
  });
});
