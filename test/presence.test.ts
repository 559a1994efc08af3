import { TestSystem } from './support/system';

let system: TestSystem;
beforeAll(async () => {
  system = await TestSystem.start();
});
afterAll(() => system.stop());

describe('user_changed on connect, disconnect and PUT /user_status', () => {
  test('members of a shared server see each other come online and go offline; outsiders see nothing', async () => {
    const [alice, bob, outsider] = [await system.user(), await system.user(), await system.user()];
    await system.server(alice, [bob]);
    await system.server(outsider);
    const aliceSocket = await system.connect(alice);
    const outsiderSocket = await system.connect(outsider);

    const bobSocket = await system.connect(bob, { query: 'status=2' });
    expect(await aliceSocket.next('user_changed', (d) => d.id === bob.id)).toEqual({ id: bob.id, status: 2 });

    await bobSocket.close();
    expect(await aliceSocket.next('user_changed', (d) => d.id === bob.id)).toEqual({ id: bob.id, status: 0 });

    await outsiderSocket.expectNothing('user_changed');
    // Bob's connect and disconnect each reached Alice exactly once.
    await aliceSocket.expectNothing('user_changed');
  });

  test('a user with two connections gets every event on both and goes offline only after both close', async () => {
    const [alice, bob] = [await system.user(), await system.user()];
    await system.server(alice, [bob]);
    const bobSocket = await system.connect(bob);
    const alice1 = await system.connect(alice);
    expect(await bobSocket.next('user_changed', (d) => d.id === alice.id)).toEqual({ id: alice.id, status: 1 });
    const alice2 = await system.connect(alice);
    // Already online with the same status: nothing to announce.
    await bobSocket.expectNothing('user_changed');

    const status = await system.rest('PUT', '/user_status?status=3', { as: bob });
    expect(status).toMatchObject({ status: 200, text: 'Changed' });
    expect(await alice1.next('user_changed', (d) => d.id === bob.id)).toEqual({ id: bob.id, status: 3 });
    expect(await alice2.next('user_changed', (d) => d.id === bob.id)).toEqual({ id: bob.id, status: 3 });
    // A user observes himself (he is a member of his own servers), as upstream.
    expect(await bobSocket.next('user_changed', (d) => d.id === bob.id)).toEqual({ id: bob.id, status: 3 });

    await alice1.close();
    await bobSocket.expectNothing('user_changed');
    expect((await system.rest('GET', `/users/${alice.id}`)).json.status).toBe(1);
    await alice2.close();
    expect(await bobSocket.next('user_changed', (d) => d.id === alice.id)).toEqual({ id: alice.id, status: 0 });
    expect((await system.rest('GET', `/users/${alice.id}`)).json.status).toBe(0);
  });

  test('the connecting user\'s other connections hear about it; the opening connection gets its own status once open', async () => {
    const alice = await system.user();
    await system.server(alice);
    const first = await system.connect(alice, { query: 'status=2' });
    const second = await system.connect(alice, { query: 'status=1', welcome: false });
    expect(await first.next('user_changed')).toEqual({ id: alice.id, status: 1 });
    expect(await second.next('user_changed')).toEqual({ id: alice.id, status: 1 });
    await second.expectNothing();
  });

  test('a user without a server or friend still learns his own status on connect', async () => {
    const loner = await system.user();
    const socket = await system.connect(loner, { query: 'status=3', welcome: false });
    expect(await socket.next('user_changed')).toEqual({ id: loner.id, status: 3 });
    await socket.expectNothing();
  });

  test('two devices closing at the same instant: the status comes back at the next connect, not invisible', async () => {
    const [alice, bob] = [await system.user(), await system.user()];
    await system.server(alice, [bob]);
    const watcher = await system.connect(bob);
    for (let round = 0; round < 5; round++) {
      const devices = await Promise.all([system.connect(alice, { query: 'status=2' }), system.connect(alice, { query: 'status=2' })]);
      await Promise.all(devices.map((device) => device.close()));
      await watcher.next('user_changed', (d) => d.id === alice.id && d.status === 0);
      // Without ?status= the status he had when he last went offline comes back.
      const again = await system.connect(alice, { welcome: false });
      expect([round, await again.next('user_changed', (d) => d.id === alice.id)]).toEqual([round, { id: alice.id, status: 2 }]);
      await again.close();
      await watcher.next('user_changed', (d) => d.id === alice.id && d.status === 0);
      watcher.events.length = 0;
    }
  });

  test('PUT /user_status without an open connection keeps the user offline and applies at his next connect', async () => {
    const [alice, bob] = [await system.user(), await system.user()];
    await system.server(alice, [bob]);
    const watcher = await system.connect(bob);
    expect(await system.rest('PUT', '/user_status?status=3', { as: alice })).toMatchObject({ status: 200, text: 'Changed' });
    expect((await system.rest('GET', `/users/${alice.id}`)).json.status).toBe(0);
    await watcher.expectNothing('user_changed');
    await system.connect(alice);
    expect(await watcher.next('user_changed', (d) => d.id === alice.id)).toEqual({ id: alice.id, status: 3 });
  });

  test('without ?status= the status the user had when his last connection closed comes back', async () => {
    const [alice, bob] = [await system.user(), await system.user()];
    await system.server(alice, [bob]);
    const watcher = await system.connect(bob);
    const first = await system.connect(alice, { query: 'status=3' });
    expect(await watcher.next('user_changed', (d) => d.id === alice.id)).toEqual({ id: alice.id, status: 3 });
    await first.close();
    expect(await watcher.next('user_changed', (d) => d.id === alice.id)).toEqual({ id: alice.id, status: 0 });
    await system.connect(alice);
    expect(await watcher.next('user_changed', (d) => d.id === alice.id)).toEqual({ id: alice.id, status: 3 });
  });

  test('PUT /user_status validates its argument and announces only real changes', async () => {
    const [alice, bob] = [await system.user(), await system.user()];
    await system.server(alice, [bob]);
    const watcher = await system.connect(bob);
    await system.connect(alice);
    await watcher.next('user_changed', (d) => d.id === alice.id);
    expect(await system.rest('PUT', '/user_status?status=abc', { as: alice })).toMatchObject({ status: 400 });
    expect(await system.rest('PUT', '/user_status?status=4', { as: alice })).toMatchObject({ status: 403, text: 'status is invalid: 4 is above 3' });
    expect(await system.rest('PUT', '/user_status?status=-1', { as: alice })).toMatchObject({ status: 403, text: 'status is invalid: -1 is below 0' });
    expect(await system.rest('PUT', '/user_status?status=2')).toMatchObject({ status: 400 });
    await system.rest('PUT', '/user_status?status=2', { as: alice });
    expect(await watcher.next('user_changed', (d) => d.id === alice.id)).toEqual({ id: alice.id, status: 2 });
    await system.rest('PUT', '//user_status/', { as: alice, form: { status: '2' } });
    await watcher.expectNothing('user_changed');
  });

  test('a display-name change reaches observers; a password-only change announces nothing', async () => {
    const [alice, bob] = [await system.user(), await system.user()];
    await system.server(alice, [bob]);
    const watcher = await system.connect(bob);
    await system.rest('PUT', '/register', { as: alice, form: { displayname: 'Alice the Great' } });
    expect(await watcher.next('user_changed', (d) => d.id === alice.id)).toEqual({ id: alice.id, name: 'Alice the Great' });
    expect((await system.rest('PUT', '/register', { as: alice, form: { password: 'another-password', current_password: 'password1' } })).status).toBe(200);
    await watcher.expectNothing('user_changed');
  });

  test('ping is a no-op; unknown or malformed input gets an error event and the socket stays open', async () => {
    const alice = await system.user();
    const socket = await system.connect(alice);
    socket.send({ name: 'ping', data: '' });
    await socket.expectNothing();
    socket.send({ name: 'launch_rockets', data: {} });
    expect(await socket.next('error')).toBe("unknown event 'launch_rockets'");
    socket.send('{"name": ');
    expect(await socket.next('error')).toBe('invalid JSON data');
    socket.send({ name: 17 });
    expect(await socket.next('error')).toBe('invalid event: "name" should be a string');
    socket.send('[1,2]');
    expect(await socket.next('error')).toBe('invalid event: expected {"name", "data"}');
    socket.send({ name: '$connect' });
    expect(await socket.next('error')).toBe("unknown event '$connect'");
    expect(socket.socket.readyState).toBe(socket.socket.OPEN);
  });
});
