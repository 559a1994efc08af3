/**
 * The local runtime is a composition root: it builds its handlers' context from its `env` option and
 * gives the handlers that context, without writing its settings into the process's environment (which every
 * other runtime, test and library of the process would see, and which outlived the runtime).
 */
import { randomUUID } from 'node:crypto';
import { type LocalRuntime, startLocalRuntime } from '../local/runtime';

const running = new Set<LocalRuntime>();

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
  }).then((runtime) => {
    running.add(runtime);
    const stop = runtime.stop;
    runtime.stop = () => (running.delete(runtime), stop());
    return runtime;
  });
}

afterEach(async () => {
  await Promise.all([...running].map((runtime) => runtime.stop()));
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

test('starting, serving and stopping leave the process environment as they found it', async () => {
  const before = { ...process.env };
  const runtime = await start({ MAX_GET_COUNT: '7', CORS_ORIGINS: 'https://app.example' });
  expect((await params(runtime)).max_get_count).toBe(7);
  expect(process.env).toEqual(before);
  await runtime.stop();
  expect(process.env).toEqual(before);
}, 60_000);

test('one runtime per process at a time; the next one has its own settings and table, nothing left over', async () => {
  const first = await start({ MAX_GET_COUNT: '11' });
  expect(await params(first)).toMatchObject({ max_get_count: 11, ws_port: Number(new URL(first.wsUrl).port) });
  expect(await register(first, 'same')).toBe(200);
  // The handlers are modules of the process: a second runtime now would serve from the first one's context.
  await expect(start({ MAX_GET_COUNT: '12' })).rejects.toThrow(/a local runtime already runs in this process/);
  await first.stop();

  const second = await start({ MAX_GET_COUNT: '12' });
  expect(await params(second)).toMatchObject({ max_get_count: 12, ws_port: Number(new URL(second.wsUrl).port) });
  // The same name registers again: its table is its own.
  expect(await register(second, 'same')).toBe(200);
}, 60_000);

test('bad settings stop the start with every problem named, before anything runs', async () => {
  await expect(start({ RATE_LIMIT_REST: 'fast', DYNAMODB_REQUEST_TIMEOUT_MS: 'soon' })).rejects.toThrow(
    /RATE_LIMIT_REST must be <requests>\/<seconds>.*'fast'[\s\S]*DYNAMODB_REQUEST_TIMEOUT_MS must be a positive integer \(milliseconds\), got 'soon'/,
  );
});
