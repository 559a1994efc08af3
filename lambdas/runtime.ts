import { ManagementApiSender } from './aws/management-api-sender';
import { type Settings, settingsFromEnv } from './domain/config';
import { createDb } from './domain/db';
import type { FanoutContext } from './domain/fanout';

/** What every handler needs: the table, the event sender and the settings, wired from the environment. */
export interface AppContext extends FanoutContext {
  settings: Settings;
  sender: ManagementApiSender;
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
  const key = [process.env.TABLE_NAME, process.env.DYNAMODB_ENDPOINT, process.env.WS_MANAGEMENT_ENDPOINT].join('|');
  if (cached?.key !== key) {
    cached = {
      key,
      context: {
        db: createDb({ table: required('TABLE_NAME'), endpoint: process.env.DYNAMODB_ENDPOINT || undefined }),
        sender: new ManagementApiSender(required('WS_MANAGEMENT_ENDPOINT')),
        settings: settingsFromEnv(),
      },
    };
  }
  return cached.context;
}

/** One line of JSON per log record; never pass tokens, passwords or cookies here. */
export function logError(where: string, error: unknown): void {
  const detail = error instanceof Error ? { name: error.name, message: error.message, stack: error.stack } : { error: String(error) };
  console.error(JSON.stringify({ level: 'error', where, ...detail }));
}
