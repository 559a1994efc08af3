import { randomUUID } from 'node:crypto';
import { dynamoDbRequestCounter } from '../lambdas/aws/dynamodb-store';
import type { Chat } from '../lambdas/domain/desk/model';
import { resolveChatAudience } from '../lambdas/domain/desk/store';
import { ensureTable, startDynamoDbLocal } from '../local/dynamodb';
import { type LocalRuntime, startLocalRuntime } from '../local/runtime';
import { TestIssuer } from '../test/support/oidc-issuer';
import { formatTable, section, sleep } from './support/report';
import { commandSummary } from './requests';

/**
 * A desk message's DynamoDB requests (issue 17): counted with dynamoDbRequestCounter around each operation
 * on one chat of a topic that has 1, 10 and 100 curators and as many chats (each of its own customer),
 * through REST on the in-process local runtime with DynamoDB Local, signed in with tokens of an in-process
 * OpenID issuer (test/support/oidc-issuer.ts; token verification reads no table). Also the audience
 * resolution every chat event's fan-out makes (resolveChatAudience). Each count must be the same at every
 * size: nothing a desk message does reads or writes per curator or per chat.
 *
 * BENCH_DESK_SIZES (default 1,10,100).
 */

export interface DeskRequestCount {
  operation: string;
  counts: Record<number, number>;
  byCommand: Record<number, Record<string, number>>;
  grows: boolean;
}

interface World {
  runtime: LocalRuntime;
  issuer: TestIssuer;
  admin: string;
  topic: string;
  customer: string;
  chat: Chat;
  curator: { token: string; id: string };
  message?: string;
  curators: number;
  chats: number;
}

// The answers' shapes are docs/desk.openapi.yaml's; the bench reads a few fields of them.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
async function call(world: Pick<World, 'runtime'>, method: string, path: string, token: string, json?: unknown): Promise<any> {
  const response = await fetch(`${world.runtime.restUrl}${path}`, {
    method,
    headers: { authorization: `Bearer ${token}`, ...(json !== undefined ? { 'content-type': 'application/json' } : {}) },
    body: json === undefined ? undefined : JSON.stringify(json),
  });
  const text = await response.text();
  if (response.status !== 200) throw new Error(`${method} ${path}: ${response.status} ${text}`);
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

/** Until no DynamoDB request has been sent for `quietMs` (bounded): background work is counted too. */
async function quiet(quietMs = 200, maxMs = 10_000): Promise<void> {
  const deadline = Date.now() + maxMs;
  let last = dynamoDbRequestCounter.total();
  let since = Date.now();
  while (Date.now() < deadline) {
    await sleep(25);
    const now = dynamoDbRequestCounter.total();
    if (now !== last) [last, since] = [now, Date.now()];
    else if (Date.now() - since >= quietMs) return;
  }
}

const token = (world: Pick<World, 'issuer'>, roles: string[]) => world.issuer.token({ sub: randomUUID(), roles, expiresIn: 3600 });

/** Adds curators of the topic and chats in it (each of a new customer) up to `size` of each. */
async function grow(world: World, size: number): Promise<void> {
  for (; world.curators < size; world.curators++) {
    const t = await token(world, ['curator']);
    const { id } = await call(world, 'GET', '/desk/me', t);
    await call(world, 'PUT', `/desk/topics/${world.topic}/curators/${id}`, world.admin);
  }
  for (; world.chats < size; world.chats++) await call(world, 'POST', '/desk/chats', await token(world, []), { chat_type: 'topic', topic_id: world.topic });
}

const OPERATIONS: Array<{ operation: string; run: (world: World) => Promise<unknown> }> = [
  {
    operation: 'POST /desk/chats/{cid}/messages (customer, text: new_message)',
    run: async (w) => (w.message = (await call(w, 'POST', `/desk/chats/${w.chat.id}/messages`, w.customer, { text: 'counted' })).id),
  },
  { operation: 'POST /desk/chats/{cid}/messages (curator, emoji: new_message)', run: (w) => call(w, 'POST', `/desk/chats/${w.chat.id}/messages`, w.curator.token, { text: '👍', message_type: 'emoji' }) },
  { operation: 'PUT /desk/chats/{cid}/messages/{mid} (update_message)', run: (w) => call(w, 'PUT', `/desk/chats/${w.chat.id}/messages/${w.message}`, w.customer, { text: 'edited' }) },
  { operation: 'PUT /desk/chats/{cid}/read (read_chat_message)', run: (w) => call(w, 'PUT', `/desk/chats/${w.chat.id}/read`, w.curator.token, { last_message_id: w.message }) },
  { operation: 'DELETE /desk/chats/{cid}/messages/{mid} (delete_message)', run: (w) => call(w, 'DELETE', `/desk/chats/${w.chat.id}/messages/${w.message}`, w.customer) },
  { operation: 'GET /desk/chats/{cid}/messages (page of 50)', run: (w) => call(w, 'GET', `/desk/chats/${w.chat.id}/messages`, w.curator.token) },
  { operation: "an event's audience (resolveChatAudience)", run: (w) => resolveChatAudience(w.runtime.context.db, w.chat) },
];

export async function runDeskRequestBench(sizes = [1, 10, 100]): Promise<DeskRequestCount[]> {
  section(`desk: DynamoDB requests of a message and its events, with ${sizes.join(' / ')} curators of the topic and chats in it`);
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
  const dynamo = await startDynamoDbLocal();
  const issuer = await TestIssuer.start();
  const tableName = `desk${randomUUID().slice(0, 8)}`;
  let runtime: LocalRuntime | undefined;
  const results = new Map<string, DeskRequestCount>();
  try {
    await ensureTable(dynamo.endpoint, tableName);
    runtime = await startLocalRuntime({
      host: '127.0.0.1',
      restPort: 0,
      wsPort: 0,
      vcPort: false,
      dynamoDbEndpoint: dynamo.endpoint,
      tableName,
      env: { RATE_LIMITS: 'off', DESK_OIDC_ISSUER: issuer.url, DESK_OIDC_AUDIENCE: issuer.audience },
    });
    const base = { runtime, issuer };
    const admin = await token(base, ['desk-admin']);
    const topic = (await call(base, 'POST', '/desk/topics', admin, { name: 'bench' })).id as string;
    const customer = await token(base, []);
    const opened = await call(base, 'POST', '/desk/chats', customer, { chat_type: 'topic', topic_id: topic });
    const curatorToken = await token(base, ['curator']);
    const curatorId = (await call(base, 'GET', '/desk/me', curatorToken)).id as string;
    await call(base, 'PUT', `/desk/topics/${topic}/curators/${curatorId}`, admin);
    await call(base, 'PUT', `/desk/chats/${opened.chat_id}/curator`, curatorToken, { curator_id: curatorId });
    const chat: Chat = { id: Number(opened.chat_id), chatType: 'topic', customerId: Number(opened.user_id), topicId: Number(topic), status: 'in_progress', createdAt: opened.created_at, updatedAt: opened.updated_at };
    const world: World = { runtime, issuer, admin, topic, customer, chat, curator: { token: curatorToken, id: curatorId }, curators: 1, chats: 1 };
    // Warm-up: the issuer's keys fetched, connections pooled.
    for (const { run } of OPERATIONS) await run(world);
    for (const size of sizes) {
      await grow(world, size);
      await quiet();
      for (const { operation, run } of OPERATIONS) {
        dynamoDbRequestCounter.reset();
        await run(world);
        await quiet();
        const row = results.get(operation) ?? { operation, counts: {}, byCommand: {}, grows: false };
        row.counts[size] = dynamoDbRequestCounter.total();
        row.byCommand[size] = dynamoDbRequestCounter.snapshot();
        results.set(operation, row);
      }
      console.log(`  ${size} curator(s) and ${size} chat(s) in the topic: ${OPERATIONS.length} operations counted`);
    }
  } finally {
    await runtime?.stop();
    await issuer.stop();
    await dynamo.stop();
  }
  const rows = [...results.values()];
  for (const row of rows) row.grows = sizes.some((s) => row.counts[s] !== row.counts[sizes[0]]);
  const table = deskRequestTable(rows, sizes);
  console.log(formatTable(table.headers, table.rows));
  const growing = rows.filter((r) => r.grows);
  console.log(growing.length === 0 ? 'No desk operation grows with the curators or the chats.' : `GROWS: ${growing.map((r) => r.operation).join('; ')}`);
  return rows;
}

export function deskRequestTable(rows: DeskRequestCount[], sizes: number[]) {
  return {
    headers: ['operation', ...sizes.map((s) => `@${s}`), 'by command', 'flag'],
    rows: rows.map((row) => [
      row.operation,
      ...sizes.map((s) => row.counts[s]),
      commandSummary(row.byCommand[sizes[sizes.length - 1]]),
      row.grows ? 'GROWS' : '',
    ]),
  };
}

export function deskSizesFromEnv(): number[] {
  return (process.env.BENCH_DESK_SIZES ?? '1,10,100').split(',').map(Number).filter((n) => n > 0);
}

if (require.main === module) {
  runDeskRequestBench(deskSizesFromEnv()).then(
    () => process.exit(0),
    (error) => {
      console.error(error);
      process.exit(1);
    },
  );
}
