import { PutCommand } from '@aws-sdk/lib-dynamodb';
import WebSocket from 'ws';
import { queryPrefix } from '../lambdas/domain/db';
import { windowOf } from '../lambdas/domain/rate-limits';
import { GSI1, keys, TTL_ATTRIBUTE } from '../lambdas/domain/table';
import { epochSeconds } from '../lambdas/domain/time';
import { SocketClient, TestSystem, type TestUser, UpgradeRefused } from './support/system';

/** Connection floods (docs/security.md, "Connection floods"): caps per user and per address, connect budget. */
const PER_USER = 5;
const PER_ADDRESS = 8;
const CONNECTS = { requests: 40, windowSeconds: 3600 };

let system: TestSystem;
beforeAll(async () => {
  system = await TestSystem.start({
    env: {
      MAX_CONNECTIONS_PER_USER: String(PER_USER),
      MAX_CONNECTIONS_PER_ADDRESS: String(PER_ADDRESS),
      RATE_LIMIT_CONNECT: `${CONNECTS.requests}/${CONNECTS.windowSeconds}`,
    },
  });
});
afterAll(() => system.stop());

const opened: WebSocket[] = [];
afterEach(() => {
  for (const socket of opened.splice(0)) socket.terminate();
});

/** Opens a main socket from a given loopback address; resolves to the client, or to the refusal's HTTP status. */
function connectFrom(address: string, token: string): Promise<SocketClient | number> {
  const socket = new WebSocket(`${system.runtime.wsUrl}/`, { headers: { cookie: `zavodchat_token=${token}` }, localAddress: address });
  opened.push(socket);
  const client = new SocketClient(socket);
  return new Promise((resolve, reject) => {
    socket.once('open', () => resolve(client));
    socket.once('unexpected-response', (_request, response) => resolve(response.statusCode ?? 0));
    socket.once('error', reject);
  });
}

const statuses = (results: Array<SocketClient | number>) => results.map((r) => (typeof r === 'number' ? r : 'open'));

async function slotsHeld(pk: string): Promise<number> {
  const items = await queryPrefix(system.db, pk, 'CONNSLOT#', { consistent: true });
  return items.filter((item) => Number(item[TTL_ATTRIBUTE]) > epochSeconds(Date.now())).length;
}

/** Waits (bounded) until the user's slots drop to `count`: `$disconnect` runs after the close is seen by the client. */
async function untilSlots(pk: string, count: number): Promise<void> {
  for (let i = 0; i < 100 && (await slotsHeld(pk)) > count; i++) await new Promise((r) => setTimeout(r, 20));
  expect(await slotsHeld(pk)).toBe(count);
}

test('many connects of one user at the same moment: exactly the cap open, the rest refused with 429', async () => {
  const user = await system.user();
  const results = await Promise.all(Array.from({ length: 20 }, () => connectFrom('127.0.0.2', user.token)));
  const counts = statuses(results).reduce<Record<string, number>>((acc, s) => ({ ...acc, [s]: (acc[s] ?? 0) + 1 }), {});
  expect(counts).toEqual({ open: PER_USER, 429: 20 - PER_USER });
  expect(await slotsHeld(`USER#${user.id}`)).toBe(PER_USER);

  // Closing frees the slots: as many new connections open again, and no more.
  const open = results.filter((r): r is SocketClient => typeof r !== 'number');
  await Promise.all(open.slice(0, 2).map((client) => client.close()));
  await untilSlots(`USER#${user.id}`, PER_USER - 2);
  expect(statuses(await Promise.all([connectFrom('127.0.0.2', user.token), connectFrom('127.0.0.2', user.token)]))).toEqual(['open', 'open']);
  expect(await connectFrom('127.0.0.2', user.token)).toBe(429);
});

test('per source address: users behind one address share its cap; another address has its own', async () => {
  const [alice, bob, carol] = [await system.user(), await system.user(), await system.user()];
  for (let i = 0; i < PER_USER; i++) expect(await connectFrom('127.0.0.3', alice.token)).toBeInstanceOf(SocketClient);
  for (let i = 0; i < PER_ADDRESS - PER_USER; i++) expect(await connectFrom('127.0.0.3', bob.token)).toBeInstanceOf(SocketClient);
  expect(await connectFrom('127.0.0.3', bob.token)).toBe(429);
  expect(await connectFrom('127.0.0.3', carol.token)).toBe(429);
  expect(await connectFrom('127.0.0.4', carol.token)).toBeInstanceOf(SocketClient);
  // A refusal by the address cap leaves no user slot behind.
  expect(await slotsHeld(`USER#${carol.id}`)).toBe(1);
});

test('dead connections do not count: expired slots are free, and at the cap holders that are gone are pruned', async () => {
  const user: TestUser = await system.user();
  const pk = `USER#${user.id}`;
  const now = Date.now();
  // A full set of slots: some expired, the rest held by connections whose $disconnect was lost (the gateway knows none of them).
  for (let i = 0; i < PER_USER; i++) {
    const connectionId = `lost${i}`;
    await system.db.doc.send(
      new PutCommand({
        TableName: system.db.table,
        Item: {
          pk,
          sk: `CONNSLOT#${i}`,
          [GSI1.partition]: keys.itemsOfConnectionIndex(connectionId),
          [GSI1.sort]: `SLOT#${pk}`,
          connectionId,
          claimedAt: now - 3_600_000,
          [TTL_ATTRIBUTE]: i < 2 ? epochSeconds(now) - 1 : epochSeconds(now) + 3600,
        },
      }),
    );
  }
  const results = await Promise.all(Array.from({ length: PER_USER }, () => connectFrom('127.0.0.5', user.token)));
  expect(statuses(results)).toEqual(Array(PER_USER).fill('open'));
  expect(await connectFrom('127.0.0.5', user.token)).toBe(429);
  const holders = await queryPrefix(system.db, pk, 'CONNSLOT#', { consistent: true });
  expect(holders.filter((item) => String(item.connectionId).startsWith('lost'))).toEqual([]);
});

test('connect attempts are limited per source address (refused ones count too): 429 beyond the budget', async () => {
  // The budget's window is an hour aligned to the clock: do not start right before it ends.
  const { end } = windowOf(CONNECTS);
  if (end * 1000 - Date.now() < 20_000) await new Promise((r) => setTimeout(r, end * 1000 - Date.now() + 50));
  const user = await system.user();
  for (let i = 0; i < CONNECTS.requests - 1; i++) expect(await connectFrom('127.0.0.6', 'garbage')).toBe(401);
  const last = await connectFrom('127.0.0.6', user.token);
  expect(last).toBeInstanceOf(SocketClient);
  expect(await connectFrom('127.0.0.6', user.token)).toBe(429);
  expect(await connectFrom('127.0.0.7', user.token)).toBeInstanceOf(SocketClient);
}, 40_000);

test('the refusal is an HTTP 429 on the upgrade through the usual client too', async () => {
  const user = await system.user();
  const clients = [];
  for (let i = 0; i < PER_USER; i++) clients.push(await system.connect(user));
  await expect(system.connect(user)).rejects.toBeInstanceOf(UpgradeRefused);
  await expect(system.connect(user)).rejects.toMatchObject({ status: 429 });
});
