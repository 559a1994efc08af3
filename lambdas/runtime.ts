import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Ec2InstanceClient } from './aws/ec2-instance';
import { LambdaAfterConnect } from './aws/lambda-after-connect';
import { ManagementApiSender } from './aws/management-api-sender';
import { S3FileStore } from './aws/s3-file-store';
import { SecretsManagerSecret } from './aws/secrets-manager';
import type { AfterConnect, OpenedConnection } from './domain/after-connect';
import { type Settings, settingsFromEnv } from './domain/config';
import { createDb, type DynamoDbStore } from './aws/dynamodb-store';
import type { FanoutContext } from './domain/fanout';
import type { FileStore } from './domain/files';
import { FolderFileStore } from './domain/folder-file-store';
import { InMemoryEc2 } from './domain/in-memory-ec2';
import { logError } from './domain/log';
import { MEDIA_NODE_IDLE_MINUTES, MediaNodeLifecycle } from './domain/media-node-lifecycle';
import { confirmConnectionOpen } from './domain/presence';
import { HttpVoiceControl, type VoiceControl } from './domain/voice-control';

/** What every handler needs: the table, the event sender and the settings, wired from the environment. */
export interface AppContext extends FanoutContext {
  settings: Settings;
  sender: ManagementApiSender;
  files: FileStore;
  voice: VoiceControl;
  afterConnect: AfterConnect;
  /** The on-demand media node (MEDIA_INSTANCE_ID); absent where the node always runs (local runtime). */
  mediaNode?: MediaNodeLifecycle;
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

/** The instance `MEDIA_NODE_LIFECYCLE=memory` drives: one per process, so a test can see what was called. */
let memoryInstance: InMemoryEc2 | undefined;
export function inMemoryMediaInstance(): InMemoryEc2 {
  memoryInstance ??= new InMemoryEc2();
  return memoryInstance;
}

/**
 * MEDIA_INSTANCE_ID (set by the stack when the node runs on demand): EC2 through the Query API, signed with
 * the credentials the SDK finds for the table client. MEDIA_NODE_LIFECYCLE=memory: an instance in memory
 * (tests). Neither: the node always runs. MEDIA_IDLE_MINUTES: idle time before the check stops it (15).
 */
function mediaNodeFromEnv(db: DynamoDbStore): MediaNodeLifecycle | undefined {
  const idleMinutes = Number(process.env.MEDIA_IDLE_MINUTES || MEDIA_NODE_IDLE_MINUTES);
  if (!Number.isFinite(idleMinutes) || idleMinutes < 1) throw new Error('MEDIA_IDLE_MINUTES must be a number of minutes, at least 1');
  const idleMs = idleMinutes * 60_000;
  const instanceId = process.env.MEDIA_INSTANCE_ID;
  if (instanceId) {
    const ec2 = new Ec2InstanceClient(instanceId, () => db.doc.config.credentials(), {
      region: process.env.AWS_REGION ?? 'us-east-1',
      endpoint: process.env.EC2_ENDPOINT || undefined,
    });
    return new MediaNodeLifecycle({ ec2, idleMs });
  }
  if (process.env.MEDIA_NODE_LIFECYCLE === 'memory') return new MediaNodeLifecycle({ ec2: inMemoryMediaInstance(), idleMs });
  return undefined;
}

/**
 * The media control key: MEDIA_CONTROL_SECRET itself where the process holds it (the local runtime passes
 * it in-process), else the Secrets Manager secret MEDIA_CONTROL_SECRET_ARN names (AWS: the key is read at
 * run time and cached, never stored in the Lambda's configuration).
 */
function voiceControlFromEnv(): VoiceControl {
  const secret = process.env.MEDIA_CONTROL_SECRET;
  const secretArn = process.env.MEDIA_CONTROL_SECRET_ARN;
  if (!secret && secretArn) {
    // An emulator's endpoint, named as the AWS SDKs name it (service-specific first), or our own variable.
    const env = process.env;
    const endpoint = env.SECRETS_MANAGER_ENDPOINT || env.AWS_ENDPOINT_URL_SECRETS_MANAGER || env.AWS_ENDPOINT_URL || undefined;
    return new HttpVoiceControl(new SecretsManagerSecret(secretArn, { endpoint }));
  }
  return new HttpVoiceControl(secret ?? '');
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
  const key = [
    'TABLE_NAME',
    'DYNAMODB_ENDPOINT',
    'DYNAMODB_LOCAL_ACCESS_KEY_ID',
    'WS_MANAGEMENT_ENDPOINT',
    'FILES_BUCKET',
    'S3_ENDPOINT',
    'FILES_DIR',
    'MEDIA_CONTROL_SECRET',
    'MEDIA_CONTROL_SECRET_ARN',
    'CONNECTION_OPENED_FUNCTION',
    'MEDIA_INSTANCE_ID',
    'MEDIA_NODE_LIFECYCLE',
    'MEDIA_IDLE_MINUTES',
  ]
    .map((name) => process.env[name])
    .join('|');
  if (cached?.key !== key) {
    const openedFunction = process.env.CONNECTION_OPENED_FUNCTION;
    const db = createDb({ table: required('TABLE_NAME'), endpoint: process.env.DYNAMODB_ENDPOINT || undefined });
    const context: AppContext = {
      db,
      mediaNode: mediaNodeFromEnv(db),
      sender: new ManagementApiSender(required('WS_MANAGEMENT_ENDPOINT')),
      settings: settingsFromEnv(),
      files: fileStoreFromEnv(),
      voice: voiceControlFromEnv(),
      afterConnect: openedFunction ? new LambdaAfterConnect(openedFunction, () => db.doc.config.credentials()) : new InProcessAfterConnect(() => context),
    };
    cached = { key, context };
  }
  return cached.context;
}

export { logError } from './domain/log';
