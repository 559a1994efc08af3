import { randomUUID } from 'node:crypto';
import { UpdateCommand } from '@aws-sdk/lib-dynamodb';
import WebSocket from 'ws';
import { createDb, type DynamoDbStore as Db, dynamoDbRequestCounter } from '../lambdas/aws/dynamodb-store';
import { PERM1_DEFAULT } from '../lambdas/domain/permissions';
import { ensureTable, startDynamoDbLocal } from '../local/dynamodb';
import { type LocalRuntime, startLocalRuntime } from '../local/runtime';
import { ClientFleet, openSocket } from './support/clients';
import { type SeededServer, seedServer, seedUsers } from './support/population';
import { formatTable, section, sleep } from './support/report';

/**
 * DynamoDB requests per REST operation and socket event, counted with dynamoDbRequestCounter around each
 * one, in a server of 10 and of 1,000 members who all have a live main-socket connection (so every event
 * is really fanned out). A count must not grow with the member count except for result pages.
 */

export interface RequestCount {
  operation: string;
  /** What the operation answered (HTTP status, or the socket outcome). */
  outcome: Record<number, string>;
  counts: Record<number, number>;
  byCommand: Record<number, Record<string, number>>;
  grows: boolean;
  /** Why the count grows, when it does. */
  note?: string;
  /** The growth is inherent to the operation (it touches every member's items), not a fan-out cost. */
  inherent?: boolean;
}

interface Step {
  operation: string;
  /** Why the count grows with the member count, when it does. */
  note?: string;
  /** The growth is inherent (the operation deletes or writes every member's items). */
  inherent?: boolean;
  run(world: World): Promise<string>;
}

interface World {
  runtime: LocalRuntime;
  seeded: SeededServer;
  /** The owner (status 0, no other connection, so his connect and disconnect announce presence). */
  ownerToken: string;
  ownerSockets: WebSocket[];
  vars: Record<string, string | number>;
}

async function rest(world: World, method: string, path: string, body?: unknown, token = world.ownerToken): Promise<{ status: number; text: string }> {
  const response = await fetch(`${world.runtime.restUrl}${path}`, {
    method,
    headers: { authorization: `Bearer ${token}`, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  return { status: response.status, text: await response.text() };
}

function restStep(
  operation: string,
  request: (world: World) => [string, string, unknown?, string?],
  after?: (world: World, text: string) => void,
  growth?: { note: string; inherent?: boolean },
): Step {
  return {
    operation,
    ...growth,
    async run(world) {
      const [method, path, body, token] = request(world);
      const { status, text } = await rest(world, method, path, body, token);
      if (status >= 300) throw new Error(`${operation}: ${status} ${text}`);
      after?.(world, text);
      return String(status);
    },
  };
}

/** Waits until no DynamoDB request has been sent for `quietMs` (bounded), so background work is counted too. */
async function settle(quietMs = 300, maxMs = 15_000): Promise<void> {
  const deadline = Date.now() + maxMs;
  let last = dynamoDbRequestCounter.total();
  let quietSince = Date.now();
  while (Date.now() < deadline) {
    await sleep(50);
    const now = dynamoDbRequestCounter.total();
    if (now !== last) {
      last = now;
      quietSince = Date.now();
    } else if (Date.now() - quietSince >= quietMs) return;
  }
}

function nextFrame(socket: WebSocket, timeoutMs = 5000): Promise<string> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('no frame')), timeoutMs);
    socket.once('message', (data) => {
      clearTimeout(timer);
      resolve(data.toString());
    });
  });
}

const FAR_FUTURE = '2099-01-01T00:00:00.000Z';

/**
 * The REST routes of lambdas/rest and every main-socket route, in an order where each finds what it needs.
 * Not covered: emojis and files (they need uploads to S3) and the voice routes (they need a voice session).
 */
const STEPS: Step[] = [
  {
    operation: 'socket $connect (status changes: user_changed to observers)',
    async run(world) {
      world.ownerSockets.push(await openSocket(`${world.runtime.wsUrl}/?token=${world.ownerToken}`));
      return 'open';
    },
  },
  {
    operation: 'socket $connect (second connection, no change)',
    async run(world) {
      world.ownerSockets.push(await openSocket(`${world.runtime.wsUrl}/?token=${world.ownerToken}`));
      return 'open';
    },
  },
  {
    operation: 'socket ping',
    async run(world) {
      world.ownerSockets[1].send(JSON.stringify({ name: 'ping' }));
      return 'sent';
    },
  },
  {
    operation: 'socket $default (bad frame -> error event)',
    async run(world) {
      const reply = nextFrame(world.ownerSockets[1]);
      world.ownerSockets[1].send('not json');
      return JSON.parse(await reply).name;
    },
  },
  restStep('GET /params', () => ['GET', '/params']),
  restStep('GET /users/-1', () => ['GET', '/users/-1']),
  restStep('GET /users/{uid}', (w) => ['GET', `/users/${w.seeded.members[0].id}`]),
  restStep('GET /users (page of 10)', () => ['GET', '/users?start_id=0&count=10&order=1']),
  restStep('GET /servers', () => ['GET', '/servers']),
  restStep('GET /servers/{sid}', (w) => ['GET', `/servers/${w.seeded.serverId}`]),
  restStep('GET /servers/{sid}/users (page of 10)', (w) => ['GET', `/servers/${w.seeded.serverId}/users?start_id=0&count=10&order=1`]),
  restStep('GET /servers/{sid}/users/{uid}', (w) => ['GET', `/servers/${w.seeded.serverId}/users/${w.seeded.members[0].id}`]),
  restStep('POST /servers', () => ['POST', '/servers?name=another'], (w, text) => (w.vars.otherServer = Number(text))),
  restStep('PUT /servers/{sid} (rename: server_edited)', (w) => ['PUT', `/servers/${w.seeded.serverId}?name=renamed`]),
  restStep('GET /servers/{sid}/channels', (w) => ['GET', `/servers/${w.seeded.serverId}/channels`]),
  restStep('POST /servers/{sid}/channels (channel_created)', (w) => ['POST', `/servers/${w.seeded.serverId}/channels`, { name: 'extra', type: 0 }], (w, text) => (w.vars.channel = Number(text))),
  restStep('GET /channels/{cid}', (w) => ['GET', `/channels/${w.vars.channel}`]),
  restStep('PUT /channels/{cid} (channel_edited)', (w) => ['PUT', `/channels/${w.vars.channel}`, { name: 'extra2' }]),
  restStep('POST /channels/{cid}/roles/{rid} (override)', (w) => ['POST', `/channels/${w.vars.channel}/roles/${w.seeded.defaultRoleId}`, { perms1: 1 }]),
  restStep('DELETE /channels/{cid}/roles/{rid}', (w) => ['DELETE', `/channels/${w.vars.channel}/roles/${w.seeded.defaultRoleId}`]),
  restStep('POST /channels/{cid}/messages (message_created)', (w) => ['POST', `/channels/${w.seeded.channelId}/messages`, { text: 'hello' }], (w, text) => (w.vars.message = Number(text))),
  restStep(
    'POST /channels/{cid}/messages with @e',
    (w) => ['POST', `/channels/${w.seeded.channelId}/messages`, { text: '@e hello everyone' }],
    undefined,
    { note: 'addMentions writes one read-marker UpdateItem per member notified by @e/@r' },
  ),
  restStep('GET /channels/{cid}/messages (page of 10)', (w) => ['GET', `/channels/${w.seeded.channelId}/messages?start_id=2147483647&count=10`]),
  restStep('POST /channels/{cid}/messages_search', (w) => ['POST', `/channels/${w.seeded.channelId}/messages_search?start_id=2147483647&count=10`, { content: 'hello' }]),
  restStep('GET /messages/{mid}', (w) => ['GET', `/messages/${w.vars.message}`]),
  restStep('PUT /messages/{mid} (message_edited)', (w) => ['PUT', `/messages/${w.vars.message}`, { text: 'edited' }]),
  restStep('DELETE /messages/{mid} (message_deleted)', (w) => ['DELETE', `/messages/${w.vars.message}`]),
  restStep('GET /notifications', () => ['GET', '/notifications']),
  restStep('DELETE /notifications/channels/{cid}', (w) => ['DELETE', `/notifications/channels/${w.seeded.channelId}`]),
  restStep('GET /servers/{sid}/roles', (w) => ['GET', `/servers/${w.seeded.serverId}/roles`]),
  restStep('PUT /servers/{sid}/roles (roles_updated)', (w) => [
    'PUT',
    `/servers/${w.seeded.serverId}/roles`,
    [
      { id: -1, name: 'moderator', color: '#ff0000', perms1: PERM1_DEFAULT },
      { id: w.seeded.defaultRoleId, name: 'default', color: '#999999', perms1: PERM1_DEFAULT },
    ],
  ]),
  {
    operation: 'POST /servers/{sid}/users/{uid}/roles/{rid} (role_assigned)',
    async run(w) {
      const roles = JSON.parse((await rest(w, 'GET', `/servers/${w.seeded.serverId}/roles`)).text) as Array<{ id: number }>;
      w.vars.role = roles[0].id;
      dynamoDbRequestCounter.reset();
      const { status, text } = await rest(w, 'POST', `/servers/${w.seeded.serverId}/users/${w.seeded.members[0].id}/roles/${w.vars.role}`);
      if (status !== 200) throw new Error(`${status} ${text}`);
      return String(status);
    },
  },
  restStep('DELETE /servers/{sid}/users/{uid}/roles/{rid} (role_disallowed)', (w) => ['DELETE', `/servers/${w.seeded.serverId}/users/${w.seeded.members[0].id}/roles/${w.vars.role}`]),
  restStep('POST /servers/{sid}/invites', (w) => ['POST', `/servers/${w.seeded.serverId}/invites?expires=never`], (w, text) => (w.vars.invite = text)),
  restStep('GET /servers/{sid}/invites', (w) => ['GET', `/servers/${w.seeded.serverId}/invites`]),
  restStep('GET /servers/{sid}/invites/{iid}', (w) => ['GET', `/servers/${w.seeded.serverId}/invites/${w.vars.invite}`]),
  restStep('PUT /servers/{sid}/invites/{iid}', (w) => ['PUT', `/servers/${w.seeded.serverId}/invites/${w.vars.invite}?expires=${FAR_FUTURE}`]),
  restStep('GET /server_invites/{iid}', (w) => ['GET', `/server_invites/${w.vars.invite}`]),
  restStep('POST /server_invites/{iid} (join: user_joined)', (w) => ['POST', `/server_invites/${w.vars.invite}`, undefined, String(w.vars.joinerToken)]),
  restStep('DELETE /servers/{sid}/invites/{iid}', (w) => ['DELETE', `/servers/${w.seeded.serverId}/invites/${w.vars.invite}`]),
  restStep('PUT /user_status (user_changed)', () => ['PUT', '/user_status?status=2']),
  restStep('PUT /register (display name: user_changed)', () => ['PUT', '/register?displayname=Renamed']),
  restStep('DELETE /servers/{sid}/users/{uid} (kick: user_kicked)', (w) => ['DELETE', `/servers/${w.seeded.serverId}/users/${w.seeded.members[1].id}`]),
  restStep('POST /servers/{sid}/bans/{uid} (user_banned)', (w) => ['POST', `/servers/${w.seeded.serverId}/bans/${w.seeded.members[2].id}?expires=never`]),
  {
    operation: 'GET /servers/{sid}/bans (page of 10)',
    async run(w) {
      const { status, text } = await rest(w, 'GET', `/servers/${w.seeded.serverId}/bans?start_id=0&count=10&order=1`);
      w.vars.ban = (JSON.parse(text) as Array<{ id: number }>)[0].id;
      return String(status);
    },
  },
  restStep('PUT /servers/{sid}/bans/{bid} (ban_changed)', (w) => ['PUT', `/servers/${w.seeded.serverId}/bans/${w.vars.ban}?expires=${FAR_FUTURE}`]),
  restStep('DELETE /servers/{sid}/bans/{bid} (user_unbanned)', (w) => ['DELETE', `/servers/${w.seeded.serverId}/bans/${w.vars.ban}`]),
  restStep('DELETE /channels/{cid} (channel_deleted)', (w) => ['DELETE', `/channels/${w.vars.channel}`]),
  restStep('POST /register', () => ['POST', '/register', { username: `u${randomUUID().slice(0, 8)}`, displayname: 'someone', password: 'password1' }]),
  {
    operation: 'POST /auth',
    async run(w) {
      const username = `u${randomUUID().slice(0, 8)}`;
      await rest(w, 'POST', '/register', { username, displayname: 'someone', password: 'password1' });
      dynamoDbRequestCounter.reset();
      return String((await rest(w, 'POST', '/auth', { username, password: 'password1' })).status);
    },
  },
  restStep('POST /friends/{uid} (request: friend_request_received)', (w) => ['POST', `/friends/${w.seeded.members[3].id}`]),
  restStep('GET /friend_requests', (w) => ['GET', '/friend_requests', undefined, w.seeded.members[3].token]),
  restStep('POST /friends/{uid} (accept: friend_request_accepted)', (w) => ['POST', `/friends/${w.seeded.owner.id}`, undefined, w.seeded.members[3].token]),
  restStep('GET /friends', () => ['GET', '/friends']),
  restStep('DELETE /friends/{uid} (friend_removed)', (w) => ['DELETE', `/friends/${w.seeded.members[3].id}`]),
  restStep('POST /blocked_users/{uid}', (w) => ['POST', `/blocked_users/${w.seeded.members[3].id}`]),
  restStep('GET /blocked_users', () => ['GET', '/blocked_users']),
  restStep('DELETE /blocked_users/{uid}', (w) => ['DELETE', `/blocked_users/${w.seeded.members[3].id}`]),
  restStep('POST /dms/{uid}', (w) => ['POST', `/dms/${w.seeded.members[4].id}`], (w, text) => (w.vars.dm = (JSON.parse(text) as number[])[0])),
  restStep('GET /dms (page of 10)', () => ['GET', '/dms?start_id=0&count=10']),
  restStep('POST /channels/{dm}/messages (DM message_created)', (w) => ['POST', `/channels/${w.vars.dm}/messages`, { text: 'hi' }]),
  restStep('PUT /preferences', () => ['PUT', '/preferences', { theme: 'dark' }]),
  restStep('POST /preferences', () => ['POST', '/preferences', { theme: 'light', lang: 'en' }]),
  restStep('GET /preferences', () => ['GET', '/preferences']),
  {
    operation: 'socket $disconnect (not the last connection)',
    async run(w) {
      const socket = w.ownerSockets.pop()!;
      socket.close();
      return 'closed';
    },
  },
  {
    operation: 'socket $disconnect (last connection: user_changed)',
    async run(w) {
      const socket = w.ownerSockets.pop()!;
      socket.close();
      return 'closed';
    },
  },
  restStep('DELETE /servers/{sid} (server_deleted)', (w) => ['DELETE', `/servers/${w.seeded.serverId}`], undefined, {
    note: 'deletes every item of the server (members, subscriptions, ...): one BatchWriteItem per 25 items',
    inherent: true,
  }),
];

/** Seeds the owner offline (so his socket connects and disconnects announce presence). */
async function seedWorld(db: Db, runtime: LocalRuntime, members: number): Promise<{ world: World; fleet: ClientFleet }> {
  const seeded = await seedServer(db, members);
  // The owner starts offline with no other connection: his $connect and last $disconnect announce presence.
  await db.doc.send(
    new UpdateCommand({
      TableName: db.table,
      Key: { pk: `USER#${seeded.owner.id}`, sk: 'PROFILE' },
      UpdateExpression: 'SET #status = :zero, connections = :zero',
      ExpressionAttributeNames: { '#status': 'status' },
      ExpressionAttributeValues: { ':zero': 0 },
    }),
  );
  const [joiner] = await seedUsers(db, 1);
  const fleet = await ClientFleet.open(
    seeded.members.map((m) => `${runtime.wsUrl}/?token=${m.token}`),
    () => undefined,
    32,
  );
  return { world: { runtime, seeded, ownerToken: seeded.owner.token, ownerSockets: [], vars: { joinerToken: joiner.token } }, fleet };
}

export async function runRequestCountBench(sizes = [10, 1000]): Promise<RequestCount[]> {
  section(`DynamoDB requests per operation, at ${sizes.join(' and ')} members (all connected)`);
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
  const dynamo = await startDynamoDbLocal();
  const tableName = `req${randomUUID().slice(0, 8)}`;
  let runtime: LocalRuntime | undefined;
  const db = createDb({ table: tableName, endpoint: dynamo.endpoint });
  const results = new Map<string, RequestCount>();
  try {
    await ensureTable(dynamo.endpoint, tableName);
    runtime = await startLocalRuntime({ host: '127.0.0.1', restPort: 0, wsPort: 0, vcPort: false, dynamoDbEndpoint: dynamo.endpoint, tableName });
    for (const size of sizes) {
      const { world, fleet } = await seedWorld(db, runtime, size);
      try {
        await settle();
        for (const step of STEPS) {
          dynamoDbRequestCounter.reset();
          const outcome = await step.run(world);
          await settle();
          const result = results.get(step.operation) ?? { operation: step.operation, outcome: {}, counts: {}, byCommand: {}, grows: false, note: step.note, inherent: step.inherent };
          result.outcome[size] = outcome;
          result.counts[size] = dynamoDbRequestCounter.total();
          result.byCommand[size] = dynamoDbRequestCounter.snapshot();
          results.set(step.operation, result);
        }
      } finally {
        for (const socket of world.ownerSockets) socket.terminate();
        await fleet.close();
        await settle();
      }
      console.log(`  ${size} members: ${STEPS.length} operations counted`);
    }
  } finally {
    db.doc.destroy();
    await runtime?.stop();
    await dynamo.stop();
  }
  const rows = [...results.values()];
  for (const row of rows) {
    const counts = sizes.map((s) => row.counts[s]);
    row.grows = counts.some((c) => c !== counts[0]);
  }
  printRequestCounts(rows, sizes);
  return rows;
}

/** `Query 2, GetItem 1`: the DynamoDB commands of one measurement, for the tables. */
export function commandSummary(byCommand: Record<string, number> | undefined): string {
  return Object.entries(byCommand ?? {})
    .map(([command, n]) => `${command.replace(/Command$/, '')} ${n}`)
    .join(', ');
}

export function requestCountTable(rows: RequestCount[], sizes: number[]) {
  return {
    headers: ['operation', ...sizes.map((s) => `@${s}`), 'by command (largest)', 'flag'],
    rows: rows.map((row) => [
      row.operation,
      ...sizes.map((s) => row.counts[s]),
      commandSummary(row.byCommand[sizes[sizes.length - 1]]),
      row.grows ? `${row.inherent ? 'grows (inherent)' : 'GROWS'}${row.note ? `: ${row.note}` : ''}` : '',
    ]),
  };
}

function printRequestCounts(rows: RequestCount[], sizes: number[]): void {
  const table = requestCountTable(rows, sizes);
  console.log(formatTable(table.headers, table.rows));
  const growing = rows.filter((r) => r.grows && !r.inherent);
  console.log(
    growing.length === 0
      ? 'No operation grows with the member count, except those that delete every member item.'
      : `${growing.length} operation(s) GROW with the member count: ${growing.map((r) => r.operation).join('; ')}`,
  );
}

if (require.main === module) {
  const sizes = (process.env.BENCH_REQUEST_SIZES ?? '10,1000').split(',').map(Number);
  runRequestCountBench(sizes).then(
    () => process.exit(0),
    (error) => {
      console.error(error);
      process.exit(1);
    },
  );
}
