/**
 * The barrier behind `expectNothing` (test/support/system.ts): it must wait for everything an action caused,
 * so each test here makes an action whose event does arrive and checks that the barrier saw it. A barrier
 * that returned early (no settle, no marker, a marker that overtakes) would let these events through unseen
 * and `expectNothing` would pass where it must fail.
 */
import { TestSystem } from './support/system';

let system: TestSystem;
beforeAll(async () => {
  system = await TestSystem.start();
});
afterAll(() => system.stop());

async function pair() {
  const [alice, bob] = [await system.user(), await system.user()];
  await system.server(alice, [bob]);
  const [aliceSocket, bobSocket] = await system.connectAll(alice, bob);
  return { alice, bob, aliceSocket, bobSocket };
}

describe('the barrier sees what an action caused', () => {
  test('an event a REST handler published is seen, right after its answer', async () => {
    const { alice, bobSocket } = await pair();
    for (let round = 0; round < 5; round++) {
      expect((await system.rest('PUT', `/user_status?status=${2 + (round % 2)}`, { as: alice })).status).toBe(200);
      // The REST answer may be read before the socket's frame: only the barrier makes it certain.
      await expect(bobSocket.expectNothing('user_changed')).rejects.toThrow(/unexpected events: .*"user_changed"/);
      bobSocket.events.length = 0;
    }
  });

  test('an event of a `$disconnect` still running when the client saw its socket close is seen', async () => {
    const { alice, aliceSocket: first, bobSocket } = await pair();
    let aliceSocket = first;
    for (const marker of ['frame', 'pong', 'frame', 'pong'] as const) {
      // Her last connection: its `$disconnect` announces her offline, possibly after close() has resolved here.
      await aliceSocket.close();
      const seen = (await bobSocket.barrier({ marker })).filter((e) => e.name === 'user_changed').map((e) => e.data);
      expect([marker, seen]).toEqual([marker, [{ id: alice.id, status: 0 }]]);
      // Online again for the next round; Bob forgets that announcement.
      [aliceSocket] = await system.connectAll(alice);
      await bobSocket.barrier();
      bobSocket.events.length = 0;
    }
  });

  test('the answer to a frame sent just before is seen, though frames are handled concurrently', async () => {
    const { aliceSocket } = await pair();
    for (let round = 0; round < 5; round++) {
      aliceSocket.send({ name: `not-a-route-${round}` });
      await expect(aliceSocket.expectNothing('error')).rejects.toThrow(`unknown event 'not-a-route-${round}'`);
      aliceSocket.events.length = 0;
    }
    // The marker's own answer is consumed: nothing is left behind.
    await aliceSocket.expectNothing();
    expect(aliceSocket.events).toEqual([]);
  });
});
