import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ManagementApiSender } from './aws/management-api-sender';
import { S3FileStore } from './aws/s3-file-store';
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
  const key = ['TABLE_NAME', 'DYNAMODB_ENDPOINT', 'DYNAMODB_LOCAL_ACCESS_KEY_ID', 'WS_MANAGEMENT_ENDPOINT', 'FILES_BUCKET', 'S3_ENDPOINT', 'FILES_DIR', 'MEDIA_CONTROL_SECRET'].map((name) => process.env[name]).join('|');
  if (cached?.key !== key) {
    cached = {
      key,
      context: {
        db: createDb({ table: required('TABLE_NAME'), endpoint: process.env.DYNAMODB_ENDPOINT || undefined }),
        sender: new ManagementApiSender(required('WS_MANAGEMENT_ENDPOINT')),
        settings: settingsFromEnv(),
        files: fileStoreFromEnv(),
        voice: new HttpVoiceControl(process.env.MEDIA_CONTROL_SECRET ?? ''),
      },
    };
  }
  return cached.context;
}

export { logError } from './domain/log';
