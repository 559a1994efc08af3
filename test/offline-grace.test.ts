import { pendingOfflineChecks } from '../lambdas/runtime';
import { TestSystem } from './support/system';

/*
 * The offline grace (docs/data-model.md, "Connections and presence"): a user whose last connection went is
 * announced offline only once PRESENCE_OFFLINE_GRACE_MS has passed without a new one, so a reconnect within
 * it (a page reload, a network blip, a reconnect storm) announces nothing at all.
 */

/** Long enough for a close and a reopen on a busy machine; each test that lets it run out waits this long. */
const GRACE_MS = 2500;

let system: TestSystem;
beforeAll(async () => {
  system = await TestSystem.start({ env: { PRESENCE_OFFLINE_GRACE_MS: String(GRACE_MS) } });
});
afterAll(() => system.stop());
// Each test starts with no grace running (a previous test's last close has one).
beforeEach(() => system.settle());

/** Every `user_changed` about `userId` among the events recorded so far. */
const changesOf = (events: Array<{ name: string; data: unknown }>, userId: number) =>
  events.filter((e) => e.name === 'user_changed' && (e.data as { id: number }).id === userId).map((e) => e.data);

async function pair() {
  const [alice, bob] = [await system.user(), await system.user()];
  await system.server(alice, [bob]);
  const watcher = await system.connect(bob);
  return { alice, bob, watcher };
}

/** Closes the socket and waits until its `$disconnect` has run (and started the grace), not for the grace. */
async function closeAndWaitForDisconnect(socket: Awaited<ReturnType<typeof system.connect>>): Promise<number> {
  const before = pendingOfflineChecks(system.runtime.context);
  const closedAt = Date.now();
  await socket.close();
  await system.settle(10_000, { offlineGrace: false });
  expect(pendingOfflineChecks(system.runtime.context)).toBe(before + 1);
  return closedAt;
}

test('a user whose only socket closes and reopens within the grace: observers hear nothing at all, and his status stays', async () => {
  const { alice, watcher } = await pair();
  const first = await system.connect(alice, { query: 'status=2' });
  expect(await watcher.next('user_changed', (d) => d.id === alice.id)).toEqual({ id: alice.id, status: 2 });

  const closedAt = await closeAndWaitForDisconnect(first);
  // Within the grace he is still shown with his status.
  expect((await system.rest('GET', `/users/${alice.id}`)).json.status).toBe(2);
  // Reopened without ?status=: the status he had comes back, so nothing changed that anybody could see.
  const again = await system.connect(alice);
  expect(Date.now() - closedAt).toBeLessThan(GRACE_MS);

  // The barrier waits for the grace to run out: its check finds him connected and does nothing.
  expect(changesOf(await watcher.barrier(), alice.id)).toEqual([]);
  expect(pendingOfflineChecks(system.runtime.context)).toBe(0);
  expect((await system.rest('GET', `/users/${alice.id}`)).json.status).toBe(2);
  await again.close();
}, 30_000);

test('a user who stays away: exactly one user_changed {status: 0}, once the grace has passed', async () => {
  const { alice, watcher } = await pair();
  const socket = await system.connect(alice);
  expect(await watcher.next('user_changed', (d) => d.id === alice.id)).toEqual({ id: alice.id, status: 1 });

  const closedAt = await closeAndWaitForDisconnect(socket);
  expect(await watcher.next('user_changed', (d) => d.id === alice.id, GRACE_MS + 10_000)).toEqual({ id: alice.id, status: 0 });
  // Not before the grace (timers fire no earlier than asked; a margin for the clock's granularity).
  expect(Date.now() - closedAt).toBeGreaterThanOrEqual(GRACE_MS - 50);
  expect(changesOf(await watcher.barrier(), alice.id)).toEqual([]);
  expect((await system.rest('GET', `/users/${alice.id}`)).json.status).toBe(0);

  // His status comes back at the next connect, announced once.
  await system.connect(alice);
  expect(await watcher.next('user_changed', (d) => d.id === alice.id)).toEqual({ id: alice.id, status: 1 });
}, 30_000);

test('a status set during the grace is kept for the next connect; the offline still comes after the grace', async () => {
  const { alice, watcher } = await pair();
  const socket = await system.connect(alice);
  await watcher.next('user_changed', (d) => d.id === alice.id);

  await closeAndWaitForDisconnect(socket);
  // No open connection: nothing to announce, the status waits for his next connect.
  expect(await system.rest('PUT', '/user_status?status=3', { as: alice })).toMatchObject({ status: 200 });
  expect(changesOf(await watcher.barrier(), alice.id)).toEqual([{ id: alice.id, status: 0 }]);
  watcher.events.length = 0;
  await system.connect(alice);
  expect(await watcher.next('user_changed', (d) => d.id === alice.id)).toEqual({ id: alice.id, status: 3 });
}, 30_000);

test('several devices: the grace starts only when the last one closes, and a new device within it keeps him online', async () => {
  const { alice, watcher } = await pair();
  const [phone, laptop] = [await system.connect(alice), await system.connect(alice)];
  await watcher.next('user_changed', (d) => d.id === alice.id);
  await phone.close();
  await system.settle(10_000, { offlineGrace: false });
  expect(pendingOfflineChecks(system.runtime.context)).toBe(0);

  await closeAndWaitForDisconnect(laptop);
  const tablet = await system.connect(alice);
  expect(changesOf(await watcher.barrier(), alice.id)).toEqual([]);
  expect((await system.rest('GET', `/users/${alice.id}`)).json.status).toBe(1);
  await tablet.close();
}, 30_000);

test('a connection pruned by a 410 (its $disconnect lost) starts the grace too', async () => {
  const { alice, bob, watcher } = await pair();
  const socket = await system.connect(alice);
  await watcher.next('user_changed', (d) => d.id === alice.id);
  // Marked open (after-connect done): a 410 now proves it gone.
  await system.settle();
  const [connectionId] = [...system.runtime.gateway.connections.keys()].slice(-1);
  await system.loseDisconnect(socket, connectionId);
  expect(pendingOfflineChecks(system.runtime.context)).toBe(0);

  // Bob's status change is posted to the lost connection: 410, pruned, and the grace starts.
  const changedAt = Date.now();
  await system.rest('PUT', '/user_status?status=2', { as: bob });
  expect(pendingOfflineChecks(system.runtime.context)).toBe(1);
  expect(await watcher.next('user_changed', (d) => d.id === alice.id, GRACE_MS + 10_000)).toEqual({ id: alice.id, status: 0 });
  expect(Date.now() - changedAt).toBeGreaterThanOrEqual(GRACE_MS - 50);
  expect(changesOf(await watcher.barrier(), alice.id)).toEqual([]);
}, 30_000);

test('when the grace cannot be scheduled (the queue unreachable), the user goes offline at once rather than never', async () => {
  const { alice, watcher } = await pair();
  const socket = await system.connect(alice);
  await watcher.next('user_changed', (d) => d.id === alice.id);
  const context = system.runtime.context;
  const working = context.offlineGrace;
  context.offlineGrace = { schedule: () => Promise.reject(new Error('queue unreachable')) };
  try {
    const closedAt = Date.now();
    await socket.close();
    expect(await watcher.next('user_changed', (d) => d.id === alice.id)).toEqual({ id: alice.id, status: 0 });
    expect(Date.now() - closedAt).toBeLessThan(GRACE_MS);
    expect(pendingOfflineChecks(context)).toBe(0);
  } finally {
    context.offlineGrace = working;
  }
}, 30_000);
