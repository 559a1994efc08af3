import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ManagementApiSender } from './aws/management-api-sender';
import { S3FileStore } from './aws/s3-file-store';
import { SecretsManagerSecret } from './aws/secrets-manager';
import { type Settings, settingsFromEnv } from './domain/config';
import { createDb } from './domain/db';
import type { FanoutContext } from './domain/fanout';
import type { FileStore } from './domain/files';
import { FolderFileStore } from './domain/folder-file-store';
import { HttpVoiceControl, type VoiceControl } from './domain/voice-control';

/** What every handler needs: the table, the event sender and the settings, wired from the environment. */
export interface AppContext extends FanoutContext {
  settings: Settings;
  sender: ManagementApiSender;
  files: FileStore;
  voice: VoiceControl;
}

/** FILES_BUCKET (S3, optionally at S3_ENDPOINT) on AWS; FILES_DIR (a folder) locally. */
function fileStoreFromEnv(): FileStore {
  const bucket = process.env.FILES_BUCKET;
  if (bucket) return new S3FileStore(bucket, { endpoint: process.env.S3_ENDPOINT || undefined });
  return new FolderFileStore(process.env.FILES_DIR || join(tmpdir(), 'zavodchat-files'));
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
  const key = ['TABLE_NAME', 'DYNAMODB_ENDPOINT', 'WS_MANAGEMENT_ENDPOINT', 'FILES_BUCKET', 'S3_ENDPOINT', 'FILES_DIR', 'MEDIA_CONTROL_SECRET', 'MEDIA_CONTROL_SECRET_ARN'].map((name) => process.env[name]).join('|');
  if (cached?.key !== key) {
    cached = {
      key,
      context: {
        db: createDb({ table: required('TABLE_NAME'), endpoint: process.env.DYNAMODB_ENDPOINT || undefined }),
        sender: new ManagementApiSender(required('WS_MANAGEMENT_ENDPOINT')),
        settings: settingsFromEnv(),
        files: fileStoreFromEnv(),
        voice: voiceControlFromEnv(),
      },
    };
  }
  return cached.context;
}

export { logError } from './domain/log';
