import { GetCommand } from '@aws-sdk/lib-dynamodb';
import { CONNECT_WINDOW_MS, connectionsOfServer, registerConnection, subscribe } from '../lambdas/domain/connections';
import { dynamoDbRequestCounter } from '../lambdas/aws/dynamodb-store';
import { audience, resolveAudience } from '../lambdas/domain/fanout';
import { addMember, createServer } from '../lambdas/domain/servers';
import { keys } from '../lambdas/domain/table';
import { registerUser } from '../lambdas/domain/users';
import { TestSystem } from './support/system';

let system: TestSystem;
beforeAll(async () => {
  system = await TestSystem.start();
});
afterAll(() => system.stop());

/** A server with `members` members, each with two live connections, written through the domain code. */
let populated = 0;
async function populatedServer(members: number): Promise<number> {
  const run = ++populated;
  const ownerId = await registerUser(system.db, { username: `owner${run}`, displayname: 'o', password: 'password1' });
  const serverId = await createServer(system.db, ownerId, `s${run}`, 10);
  const defaultRole = 1;
  const userIds = Array.from({ length: members }, (_, i) => 100_000 * run + i);
  const connections = userIds.flatMap((userId) => [
    { userId, connectionId: `c${userId}a` },
    { userId, connectionId: `c${userId}b` },
  ]);
  for (let i = 0; i < userIds.length; i += 50) {
    await Promise.all(userIds.slice(i, i + 50).map((userId) => addMember(system.db, serverId, userId, defaultRole)));
    await Promise.all(connections.slice(2 * i, 2 * i + 100).map((c) => registerConnection(system.db, c)));
  }
  await subscribe(system.db, connections, [serverId]);
  return serverId;
}

async function countRequests<T>(run: () => Promise<T>): Promise<{ result: T; requests: Record<string, number> }> {
  dynamoDbRequestCounter.reset();
  const result = await run();
  return { result, requests: dynamoDbRequestCounter.snapshot() };
}

describe('fan-out cost does not grow with the member count', () => {
  let small: number;
  let large: number;
  beforeAll(async () => {
    small = await populatedServer(5);
    large = await populatedServer(300);
  }, 60_000);

  test('every live connection of a server\'s members is one Query, for 5 and for 300 members', async () => {
    const smallRun = await countRequests(() => connectionsOfServer(system.db, small));
    const largeRun = await countRequests(() => connectionsOfServer(system.db, large));
    expect(smallRun.result).toHaveLength(10);
    expect(largeRun.result).toHaveLength(600);
    expect(smallRun.requests).toEqual({ QueryCommand: 1 });
    expect(largeRun.requests).toEqual({ QueryCommand: 1 });
  });

  test('a server audience with a block filter costs the same 3 Queries at 5 and at 300 members', async () => {
    const smallRun = await countRequests(() => resolveAudience(system.db, audience.server(small, { actor: 1 })));
    const largeRun = await countRequests(() => resolveAudience(system.db, audience.server(large, { actor: 1 })));
    // Connections of the members, the members (to drop stale subscriptions), who blocked the actor.
    expect(smallRun.requests).toEqual({ QueryCommand: 3 });
    expect(largeRun.requests).toEqual({ QueryCommand: 3 });
    expect(largeRun.result).toHaveLength(600);
  });
});

async function openedAt(userId: number, connectionId: string): Promise<number | undefined> {
  const item = await system.db.doc.send(new GetCommand({ TableName: system.db.table, Key: keys.connection(userId, connectionId), ConsistentRead: true }));
  return item.Item?.openedAt as number | undefined;
}

describe('connections that vanished without $disconnect', () => {
  test('are pruned when a post answers 410 Gone, and their user goes offline', async () => {
    const [alice, ghost] = [await system.user(), await system.user()];
    const serverId = await system.server(alice, [ghost]);
    const [aliceSocket] = await system.connectAll(alice);
    // The ghost's connection exists in the table but not at the gateway (its $disconnect was lost).
    const ghostConnection = await system.connect(ghost);
    await aliceSocket.next('user_changed', (d) => d.id === ghost.id);
    // The gateway keeps connections in opening order: Alice's, then the ghost's.
    const [, connectionId] = [...system.runtime.gateway.connections.keys()];
    // Known to be open (its own status reached it): from now on a 410 proves it gone.
    for (let tries = 0; !(await openedAt(ghost.id, connectionId)) && tries < 100; tries++) await new Promise((r) => setTimeout(r, 10));
    await system.loseDisconnect(ghostConnection, connectionId);
    expect((await system.rest('GET', `/users/${ghost.id}`)).json.status).toBe(1);

    // Alice's status change is posted to the ghost's connection: 410, pruned, the ghost goes offline.
    await system.rest('PUT', '/user_status?status=2', { as: alice });
    expect(await aliceSocket.next('user_changed', (d) => d.id === ghost.id)).toEqual({ id: ghost.id, status: 0 });
    const item = await system.db.doc.send(new GetCommand({ TableName: system.db.table, Key: keys.connection(ghost.id, connectionId) }));
    expect(item.Item).toBeUndefined();
    // A connection remembers when its session expires (docs/security.md, "Sessions").
    expect(await connectionsOfServer(system.db, serverId)).toEqual([{ userId: alice.id, connectionId: expect.any(String), sessionExpiresAt: expect.any(Number) }]);
  });

  test('are not pruned by a 410 while they may still be inside $connect, and are once older than that', async () => {
    const [alice, opening] = [await system.user(), await system.user()];
    const serverId = await system.server(alice, [opening]);
    const watcher = await system.connect(alice);
    // A connection stored by a $connect that has not returned yet: the gateway answers 410 for it.
    const young = { userId: opening.id, connectionId: 'stillConnecting=' };
    await registerConnection(system.db, young);
    await subscribe(system.db, [young], [serverId]);
    await system.rest('PUT', '/user_status?status=2', { as: alice });
    await watcher.next('user_changed', (d) => d.id === alice.id);
    expect(await connectionsOfServer(system.db, serverId)).toContainEqual(young);

    // One whose $connect began longer ago than any $connect lasts is gone for sure.
    const old = { userId: opening.id, connectionId: 'neverOpened=' };
    await registerConnection(system.db, old, Date.now() - CONNECT_WINDOW_MS - 1000);
    await subscribe(system.db, [old], [serverId]);
    await system.rest('PUT', '/user_status?status=3', { as: alice });
    await watcher.next('user_changed', (d) => d.id === alice.id);
    const left = await connectionsOfServer(system.db, serverId);
    expect(left).toContainEqual(young);
    expect(left).not.toContainEqual(old);
  });

  test('are ignored once their TTL has passed and no longer keep their user online', async () => {
    const [alice, bob] = [await system.user(), await system.user()];
    const serverId = await system.server(alice, [bob]);
    const threeHoursAgo = Date.now() - 3 * 3600 * 1000;
    const stale = { userId: bob.id, connectionId: 'staleConnection=' };
    await registerConnection(system.db, stale, threeHoursAgo);
    await subscribe(system.db, [stale], [serverId], threeHoursAgo);
    expect(await connectionsOfServer(system.db, serverId)).toEqual([]);

    // Bob connects and closes: the expired connection does not keep him online.
    const watcher = await system.connect(alice);
    const bobSocket = await system.connect(bob);
    expect(await watcher.next('user_changed', (d) => d.id === bob.id)).toEqual({ id: bob.id, status: 1 });
    await bobSocket.close();
    expect(await watcher.next('user_changed', (d) => d.id === bob.id)).toEqual({ id: bob.id, status: 0 });
  });
});
