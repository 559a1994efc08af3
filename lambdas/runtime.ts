import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LambdaAfterConnect } from './aws/lambda-after-connect';
import { ManagementApiSender } from './aws/management-api-sender';
import { S3FileStore } from './aws/s3-file-store';
import type { AfterConnect, OpenedConnection } from './domain/after-connect';
import { type Settings, settingsFromEnv } from './domain/config';
import { createDb } from './domain/db';
import type { FanoutContext } from './domain/fanout';
import type { FileStore } from './domain/files';
import { FolderFileStore } from './domain/folder-file-store';
import { logError } from './domain/log';
import { confirmConnectionOpen } from './domain/presence';
import { HttpVoiceControl, type VoiceControl } from './domain/voice-control';

/** What every handler needs: the table, the event sender and the settings, wired from the environment. */
export interface AppContext extends FanoutContext {
  settings: Settings;
  sender: ManagementApiSender;
  files: FileStore;
  voice: VoiceControl;
  afterConnect: AfterConnect;
}

/**
 * The work after `$connect` as a task of this process: right for the local runtime, where the process
 * outlives the invocation; a Lambda would be frozen with the task half done (there CONNECTION_OPENED_FUNCTION
 * names the function to invoke instead).
 */
class InProcessAfterConnect implements AfterConnect {
  readonly pending = new Set<Promise<unknown>>();
  constructor(private readonly context: () => AppContext) {}
  async schedule(connection: OpenedConnection): Promise<void> {
    const task = new Promise((resolve) => setImmediate(resolve))
      .then(() => confirmConnectionOpen(this.context(), connection, connection.connectedAt))
      .catch((error) => logError('connection opened', error))
      .finally(() => this.pending.delete(task));
    this.pending.add(task);
  }
}

/** Waits for the in-process work after `$connect` still running (the local runtime's shutdown). */
export async function settleAfterConnect(): Promise<void> {
  const scheduler = cached?.context.afterConnect;
  if (scheduler instanceof InProcessAfterConnect) await Promise.all([...scheduler.pending]);
}

/** FILES_BUCKET (S3, optionally at S3_ENDPOINT) on AWS; FILES_DIR (a folder) locally. */
function fileStoreFromEnv(): FileStore {
  const bucket = process.env.FILES_BUCKET;
  if (bucket) return new S3FileStore(bucket, { endpoint: process.env.S3_ENDPOINT || undefined });
  return new FolderFileStore(process.env.FILES_DIR || join(tmpdir(), 'zavodchat-files'));
}

let cached: { key: string; context: AppContext } | undefined;

function required(name: string): string {
  const value = process.env[name];
  if (!value) throw new Error(`environment variable ${name} is not set`);
  return value;
}

/**
 * Built once per process (a Lambda execution environment, or the local runtime) and reused across
 * invocations, so clients keep their connections warm.
 */
export function appContext(): AppContext {
  const key = ['TABLE_NAME', 'DYNAMODB_ENDPOINT', 'WS_MANAGEMENT_ENDPOINT', 'FILES_BUCKET', 'S3_ENDPOINT', 'FILES_DIR', 'MEDIA_CONTROL_SECRET', 'CONNECTION_OPENED_FUNCTION']
    .map((name) => process.env[name])
    .join('|');
  if (cached?.key !== key) {
    const openedFunction = process.env.CONNECTION_OPENED_FUNCTION;
    const context: AppContext = {
      db: createDb({ table: required('TABLE_NAME'), endpoint: process.env.DYNAMODB_ENDPOINT || undefined }),
      sender: new ManagementApiSender(required('WS_MANAGEMENT_ENDPOINT')),
      settings: settingsFromEnv(),
      files: fileStoreFromEnv(),
      voice: new HttpVoiceControl(process.env.MEDIA_CONTROL_SECRET ?? ''),
      afterConnect: openedFunction ? new LambdaAfterConnect(openedFunction) : new InProcessAfterConnect(() => context),
    };
    cached = { key, context };
  }
  return cached.context;
}

export { logError } from './domain/log';
