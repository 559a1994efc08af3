/**
 * The local runtime is a composition root: it builds its handlers' context from its `env` option and runs
 * every invocation in it, without writing its settings into the process's environment (which every other
 * runtime, test and library of the process would see). So two runtimes in one process keep their own
 * settings and their own table.
 */
import { randomUUID } from 'node:crypto';
import { type LocalRuntime, startLocalRuntime } from '../local/runtime';

const running: LocalRuntime[] = [];

function start(env: Record<string, string>): Promise<LocalRuntime> {
  const endpoint = process.env.TEST_DYNAMODB_ENDPOINT;
  if (!endpoint) throw new Error('TEST_DYNAMODB_ENDPOINT is not set: run through jest (global setup starts DynamoDB Local)');
  return startLocalRuntime({
    host: '127.0.0.1',
    restPort: 0,
    wsPort: 0,
    vcPort: false,
    originPort: 0,
    dynamoDbEndpoint: endpoint,
    dynamoDbAccessKeyId: process.env.TEST_DYNAMODB_ACCESS_KEY_ID,
    tableName: `t${randomUUID().replace(/-/g, '')}`,
    env,
  }).then((runtime) => (running.push(runtime), runtime));
}

afterAll(async () => {
  await Promise.all(running.map((runtime) => runtime.stop()));
});

async function params(runtime: LocalRuntime): Promise<{ max_get_count: number; ws_port: number }> {
  const response = await fetch(`${runtime.restUrl}/params`);
  expect(response.status).toBe(200);
  return (await response.json()) as { max_get_count: number; ws_port: number };
}

async function register(runtime: LocalRuntime, username: string): Promise<number> {
  const response = await fetch(`${runtime.restUrl}/register`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ username, displayname: username, password: 'password1' }),
  });
  await response.arrayBuffer();
  return response.status;
}

test('starting and serving leave the process environment as they found it', async () => {
  const before = { ...process.env };
  const runtime = await start({ MAX_GET_COUNT: '7', CORS_ORIGINS: 'https://app.example' });
  expect((await params(runtime)).max_get_count).toBe(7);
  expect(process.env).toEqual(before);
}, 60_000);

test('two runtimes in one process each answer with their own settings and their own table', async () => {
  const [first, second] = await Promise.all([start({ MAX_GET_COUNT: '11' }), start({ MAX_GET_COUNT: '12' })]);
  const [a, b] = await Promise.all([params(first), params(second)]);
  expect(a).toMatchObject({ max_get_count: 11, ws_port: Number(new URL(first.wsUrl).port) });
  expect(b).toMatchObject({ max_get_count: 12, ws_port: Number(new URL(second.wsUrl).port) });
  // The same name registers in each: their tables are their own.
  expect(await register(first, 'same')).toBe(200);
  expect(await register(second, 'same')).toBe(200);
  expect(await register(first, 'same')).not.toBe(200);
}, 60_000);

test('bad settings stop the start with every problem named, before anything runs', async () => {
  await expect(start({ RATE_LIMIT_REST: 'fast', DYNAMODB_REQUEST_TIMEOUT_MS: 'soon' })).rejects.toThrow(
    /RATE_LIMIT_REST must be <requests>\/<seconds>.*'fast'[\s\S]*DYNAMODB_REQUEST_TIMEOUT_MS must be a positive integer \(milliseconds\), got 'soon'/,
  );
});
