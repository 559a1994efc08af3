import { TestSystem, type TestUser } from './support/system';

let system: TestSystem;
beforeAll(async () => {
  system = await TestSystem.start();
});
afterAll(() => system.stop());


async function post(as: TestUser, channelId: number, text: string): Promise<number> {
  const response = await system.rest('POST', `/channels/${channelId}/messages`, { as, json: { text } });
  expect(response.status).toBe(200);
  return Number(response.text);
}

const ISO = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;

describe('POST /dms/{uid}', () => {
  test('creates the text and voice channel pair on first use and returns the same pair to both users ever after', async () => {
    const [alice, bob, carol] = [await system.user(), await system.user(), await system.user()];
    const opened = await system.rest('POST', `/dms/${bob.id}`, { as: alice });
    expect(opened.status).toBe(200);
    const [textId, voiceId] = opened.json;
    expect(Number.isInteger(textId) && Number.isInteger(voiceId) && textId !== voiceId).toBe(true);
    expect((await system.rest('POST', `/dms/${bob.id}`, { as: alice })).json).toEqual([textId, voiceId]);
    expect((await system.rest('POST', `//dms/${alice.id}/`, { as: bob })).json).toEqual([textId, voiceId]);

    expect((await system.rest('GET', `/channels/${textId}`, { as: alice })).json).toEqual({ id: textId, type: 0, wl_users: [], wl_roles: [], other_user_id: bob.id });
    expect((await system.rest('GET', `/channels/${textId}`, { as: bob })).json).toEqual({ id: textId, type: 0, wl_users: [], wl_roles: [], other_user_id: alice.id });
    // A voice channel also carries its `vc_users` (voice state, not this test's subject).
    const voice = (await system.rest('GET', `/channels/${voiceId}`, { as: bob })).json;
    expect(voice).toMatchObject({ id: voiceId, type: 1, wl_users: [], wl_roles: [], other_user_id: alice.id });
    expect('name' in voice || 'server_id' in voice).toBe(false);
    expect(await system.rest('GET', `/channels/${textId}`, { as: carol })).toMatchObject({ status: 404, text: 'Channel does not exist' });
    expect(await system.rest('POST', `/channels/${textId}/messages`, { as: carol, json: { text: 'hi' } })).toMatchObject({ status: 404 });
    // DM channels are not server channels: they cannot be edited or deleted.
    expect(await system.rest('PUT', `/channels/${textId}`, { as: alice, json: { name: 'x' } })).toMatchObject({ status: 403 });
    expect(await system.rest('DELETE', `/channels/${textId}`, { as: alice })).toMatchObject({ status: 403 });
  });

  test('two users opening the same DM at once get one pair', async () => {
    const [alice, bob] = [await system.user(), await system.user()];
    const results = await Promise.all([
      system.rest('POST', `/dms/${bob.id}`, { as: alice }),
      system.rest('POST', `/dms/${alice.id}`, { as: bob }),
      system.rest('POST', `/dms/${bob.id}`, { as: alice }),
    ]);
    expect(results.map((r) => r.status)).toEqual([200, 200, 200]);
    expect(results[1].json).toEqual(results[0].json);
    expect(results[2].json).toEqual(results[0].json);
  });

  test('bad input: self, unknown user, malformed id, no session', async () => {
    const alice = await system.user();
    expect(await system.rest('POST', `/dms/${alice.id}`, { as: alice })).toMatchObject({ status: 400, text: 'Cannot open a DM with yourself' });
    expect(await system.rest('POST', '/dms/99999999', { as: alice })).toMatchObject({ status: 404, text: 'User does not exist' });
    expect(await system.rest('POST', '/dms/me', { as: alice })).toMatchObject({ status: 400, text: "Couldn't parse 'uid', got: me" });
    expect(await system.rest('POST', `/dms/${alice.id}`)).toMatchObject({ status: 400, text: 'Invalid token' });
    expect(await system.rest('GET', '/dms?start_id=0&count=1')).toMatchObject({ status: 400, text: 'Invalid token' });
  });
});

describe('DM messages', () => {
  test('message_created without server_id reaches both participants on every connection, nobody else', async () => {
    const [alice, bob, carol] = [await system.user(), await system.user(), await system.user()];
    const [textId] = (await system.rest('POST', `/dms/${bob.id}`, { as: alice })).json;
    const [alice1, alice2, bob1, bob2, carolSocket] = await system.connectAll(alice, alice, bob, bob, carol);

    const id = await post(alice, textId, 'hello @u' + bob.id);
    const created = await bob1.next('message_created');
    expect(created).toEqual({
      id,
      author_id: alice.id,
      sent: expect.stringMatching(ISO),
      edited: created.sent,
      text: `hello @u${bob.id}`,
      attachments: [],
      mentions: [],
      channel_id: textId,
    });
    for (const socket of [alice1, alice2, bob2]) expect(await socket.next('message_created')).toEqual(created);

    expect((await system.rest('PUT', `/messages/${id}`, { as: alice, json: { text: 'edited' } })).status).toBe(200);
    const edited = { ...created, text: 'edited', edited: expect.stringMatching(ISO) };
    for (const socket of [alice1, alice2, bob1, bob2]) expect(await socket.next('message_edited')).toEqual(edited);
    expect(await system.rest('DELETE', `/messages/${id}`, { as: bob })).toMatchObject({ status: 403, text: 'No permission' });
    expect((await system.rest('DELETE', `/messages/${id}`, { as: alice })).status).toBe(200);
    for (const socket of [alice1, alice2, bob1, bob2]) expect(await socket.next('message_deleted')).toEqual({ id, channel_id: textId });
    await Promise.all([alice1, alice2, bob1, bob2, carolSocket].map((s) => s.expectNothing()));
  });

  test('unread DM messages count in GET /notifications and GET /dms until the channel is marked read', async () => {
    const [alice, bob] = [await system.user(), await system.user()];
    const [textId] = (await system.rest('POST', `/dms/${bob.id}`, { as: alice })).json;
    await post(alice, textId, 'one');
    await post(alice, textId, 'two');
    expect((await system.rest('GET', '/notifications', { as: bob })).json).toEqual({ dm_notifications: 2 });
    expect((await system.rest('GET', '/notifications', { as: alice })).json).toEqual({ dm_notifications: 0 });
    expect((await system.rest('GET', '/dms?start_id=2147483647&count=10', { as: bob })).json[0].notifications).toBe(2);
    expect((await system.rest('GET', `/channels/${textId}`, { as: bob })).json.notifications).toBe(2);
    expect('notifications' in (await system.rest('GET', '/dms?start_id=2147483647&count=10', { as: alice })).json[0]).toBe(false);

    expect(await system.rest('DELETE', `/notifications/channels/${textId}`, { as: bob })).toMatchObject({ status: 200 });
    expect((await system.rest('GET', '/notifications', { as: bob })).json).toEqual({ dm_notifications: 0 });
    expect('notifications' in (await system.rest('GET', '/dms?start_id=2147483647&count=10', { as: bob })).json[0]).toBe(false);
    // Replying marks the DM read for the author and counts for the other side.
    await post(bob, textId, 'three');
    expect((await system.rest('GET', '/notifications', { as: bob })).json).toEqual({ dm_notifications: 0 });
    expect((await system.rest('GET', '/notifications', { as: alice })).json).toEqual({ dm_notifications: 1 });

    // A deleted unread message no longer counts; one deleted after it was read takes nothing from later ones.
    const four = await post(bob, textId, 'four');
    expect((await system.rest('GET', '/notifications', { as: alice })).json).toEqual({ dm_notifications: 2 });
    expect((await system.rest('DELETE', `/messages/${four}`, { as: bob })).status).toBe(200);
    expect((await system.rest('GET', '/notifications', { as: alice })).json).toEqual({ dm_notifications: 1 });
    expect(await system.rest('DELETE', `/notifications/channels/${textId}`, { as: alice })).toMatchObject({ status: 200 });
    const five = await post(bob, textId, 'five');
    await post(bob, textId, 'six');
    expect(await system.rest('DELETE', `/notifications/channels/${textId}`, { as: alice })).toMatchObject({ status: 200 });
    await post(bob, textId, 'seven');
    expect((await system.rest('DELETE', `/messages/${five}`, { as: bob })).status).toBe(200);
    expect((await system.rest('GET', '/notifications', { as: alice })).json).toEqual({ dm_notifications: 1 });
  });
});

describe('GET /dms', () => {
  test('DM text channels with messages, newest conversation first, with the other user, the last message and paging by its id', async () => {
    const [alice, bob, carol, dave, eve] = [await system.user(), await system.user(), await system.user(), await system.user(), await system.user()];
    const open = async (other: TestUser) => (await system.rest('POST', `/dms/${other.id}`, { as: alice })).json[0] as number;
    const [withBob, withCarol, withDave] = [await open(bob), await open(carol), await open(dave)];
    await open(eve); // never written to: not listed
    const first = await post(alice, withBob, 'to bob');
    const second = await post(carol, withCarol, 'from carol');
    const third = await post(dave, withDave, 'from dave');
    const last = await post(bob, withBob, 'bob again');

    const list = async (query: string, as: TestUser = alice) => {
      const response = await system.rest('GET', `/dms?${query}`, { as });
      expect(response.status).toBe(200);
      return response.json;
    };
    const all = await list('start_id=2147483647&count=50');
    expect(all.map((e: { id: number }) => e.id)).toEqual([withBob, withDave, withCarol]);
    expect(all[0]).toEqual({
      id: withBob,
      type: 0,
      wl_users: [],
      wl_roles: [],
      user_id: bob.id,
      last_message: { id: last, author_id: bob.id, sent: expect.stringMatching(ISO), edited: expect.stringMatching(ISO), text: 'bob again', attachments: [], mentions: [] },
      notifications: 1,
    });
    expect(all[1]).toMatchObject({ id: withDave, user_id: dave.id, last_message: { id: third }, notifications: 1 });
    expect(all[2]).toMatchObject({ id: withCarol, user_id: carol.id, last_message: { id: second } });

    const ids = async (query: string) => (await list(query)).map((e: { id: number }) => e.id);
    expect(await ids('start_id=2147483647&count=2')).toEqual([withBob, withDave]);
    expect(await ids(`start_id=${third}&count=50`)).toEqual([withDave, withCarol]);
    expect(await ids(`start_id=${third}&count=50&order=1`)).toEqual([withDave, withBob]);
    expect(await ids('start_id=0&count=50&order=1')).toEqual([withCarol, withDave, withBob]);
    expect(await ids(`start_id=${first}&count=50`)).toEqual([]);
    expect(await ids('start_id=2147483647&count=0')).toEqual([]);
    expect((await list('start_id=2147483647&count=50', bob)).map((e: { user_id: number }) => e.user_id)).toEqual([alice.id]);
    expect(await list('start_id=2147483647&count=50', eve)).toEqual([]);

    // Deleting the newest message shows the one before it and places the conversation by it (it was
    // Bob's unread message: nothing is unread there any more); one emptied of messages drops out.
    expect((await system.rest('DELETE', `/messages/${last}`, { as: bob })).status).toBe(200);
    const afterDelete = await list('start_id=2147483647&count=50');
    expect(afterDelete.map((e: { id: number }) => e.id)).toEqual([withDave, withCarol, withBob]);
    expect(afterDelete[2]).toMatchObject({ id: withBob, last_message: { id: first, text: 'to bob' } });
    expect(afterDelete[2].notifications).toBeUndefined();
    expect(await ids(`start_id=${first}&count=50`)).toEqual([withBob]);
    expect((await system.rest('DELETE', `/messages/${second}`, { as: carol })).status).toBe(200);
    expect(await ids('start_id=2147483647&count=50')).toEqual([withDave, withBob]);
  });

  test('bad paging arguments', async () => {
    const alice = await system.user();
    expect(await system.rest('GET', '/dms', { as: alice })).toMatchObject({ status: 400, text: "Couldn't parse 'start_id', got: nothing" });
    expect(await system.rest('GET', '/dms?start_id=0', { as: alice })).toMatchObject({ status: 400, text: "Couldn't parse 'count', got: nothing" });
    expect(await system.rest('GET', '/dms?start_id=0&count=51', { as: alice })).toMatchObject({ status: 403, text: 'count is invalid: 51 is above 50' });
    expect(await system.rest('GET', '/dms?start_id=-1&count=1', { as: alice })).toMatchObject({ status: 403 });
    expect(await system.rest('GET', '/dms?start_id=0&count=1&order=2', { as: alice })).toMatchObject({ status: 403 });
  });
});
