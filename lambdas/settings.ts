import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type Settings, settingsFromEnv } from './domain/config';
import { MEDIA_NODE_IDLE_MINUTES, MEDIA_START_ON, type MediaStartOn } from './domain/media-node-lifecycle';

/** Settings as a process receives them: environment variables, or the local runtime's `env` option. */
export type SettingsSource = Readonly<Record<string, string | undefined>>;

/**
 * Everything a process needs to build its handler context (lambdas/runtime.ts, `createAppContext`), typed
 * and checked once: the domain's settings (limits, cookies, origins: domain/config.ts) and the resources
 * the adapters reach. README "Configuration" lists the variables.
 */
export interface RuntimeSettings {
  app: Settings;
  /** AWS_REGION: every AWS client's region (when unset each client finds its own, us-east-1 at last). */
  region?: string;
  table: {
    /** TABLE_NAME (required). */
    name: string;
    /** DYNAMODB_ENDPOINT: DynamoDB Local or another compatible endpoint; unset on AWS. */
    endpoint?: string;
    /** DYNAMODB_LOCAL_ACCESS_KEY_ID: which of DynamoDB Local's databases (docs/security.md, "Local database"). */
    localAccessKeyId?: string;
    /** DYNAMODB_CONNECT_TIMEOUT_MS, DYNAMODB_REQUEST_TIMEOUT_MS: the client's defaults (db.ts) when unset. */
    connectTimeoutMs?: number;
    requestTimeoutMs?: number;
  };
  /** WS_MANAGEMENT_ENDPOINT (required): the Management API of the main socket. */
  managementEndpoint: string;
  /**
   * WORKSPACE_MANAGEMENT_ENDPOINT: the Management API of the workspace socket (docs/protocol.md, the workspace protocol).
   * Unset: events are not delivered to workspace connections from this process.
   */
  workspaceManagementEndpoint?: string;
  /** DESK_MANAGEMENT_ENDPOINT: the Management API of the desk socket (docs/desk.md); unset: desk events are not delivered from this process. */
  deskManagementEndpoint?: string;
  /** FILES_BUCKET (S3, at S3_ENDPOINT when set), else FILES_DIR (a folder; a temporary one when unset). */
  files: { bucket: string; endpoint?: string } | { dir: string };
  /**
   * The media control key: MEDIA_CONTROL_SECRET itself, else the Secrets Manager secret MEDIA_CONTROL_SECRET_ARN
   * names (read at run time, at SECRETS_MANAGER_ENDPOINT or the SDKs' AWS_ENDPOINT_URL_SECRETS_MANAGER /
   * AWS_ENDPOINT_URL when set). Neither: control commands fail with a clear error (no media node to reach).
   */
  mediaControl: { secret: string } | { secretArn: string; endpoint?: string };
  /** CONNECTION_OPENED_FUNCTION: the Lambda that runs the work after `$connect`; in this process when unset. */
  connectionOpenedFunction?: string;
  /**
   * The offline grace (docs/data-model.md, "Connections and presence"): PRESENCE_OFFLINE_GRACE_MS, how long a
   * user whose last connection went stays shown with his status before he is announced offline (0: at once);
   * PRESENCE_OFFLINE_QUEUE_URL (AWS): the SQS queue that delivers the check after the grace, in whole seconds;
   * unset, a timer of this process does.
   */
  presence: { offlineGraceMs: number; offlineQueueUrl?: string };
  /**
   * The on-demand media node: MEDIA_INSTANCE_ID (EC2 at EC2_ENDPOINT when set), or MEDIA_NODE_LIFECYCLE=memory
   * (an instance in memory, for tests); none: the node always runs. MEDIA_IDLE_MINUTES: idle time before a stop.
   * MEDIA_START_ON: `online` (default) or `voice` (only a voice join attempt starts the node; media-node-lifecycle.ts).
   */
  mediaNode?: ({ instanceId: string; ec2Endpoint?: string } | { memory: true }) & { idleMinutes: number; startOn: MediaStartOn };
}

/**
 * The stock web client reloads the page 3 s after its socket closed, then reads REST and reconnects: a grace
 * well above that keeps a reload, a network blip or a reconnect storm from being seen as a departure.
 */
export const DEFAULT_OFFLINE_GRACE_MS = 15_000;
/** SQS delays a message by at most 15 minutes. */
export const MAX_OFFLINE_GRACE_MS = 900_000;

/** Every problem found in a process's settings, one line each, naming the variable. */
export class SettingsError extends Error {
  constructor(readonly problems: string[]) {
    super(`invalid settings:\n  - ${problems.join('\n  - ')}`);
    this.name = 'SettingsError';
  }
}

/** Unset and empty are the same: a template that leaves a variable blank means "not set". */
function value(env: SettingsSource, name: string): string | undefined {
  const raw = env[name]?.trim();
  return raw ? raw : undefined;
}

/**
 * Reads and checks the settings; throws one SettingsError listing every problem (an unset required variable,
 * a malformed value) instead of failing later, at the first request that needs the value.
 */
export function runtimeSettingsFromEnv(env: SettingsSource): RuntimeSettings {
  const problems: string[] = [];
  const required = (name: string): string => {
    const found = value(env, name);
    if (found === undefined) problems.push(`${name} is not set`);
    return found ?? '';
  };
  const positiveInteger = (name: string): number | undefined => {
    const raw = value(env, name);
    if (raw === undefined) return undefined;
    const number = Number(raw);
    if (!Number.isSafeInteger(number) || number < 1) problems.push(`${name} must be a positive integer (milliseconds), got '${raw}'`);
    return number;
  };
  const url = (name: string): string | undefined => {
    const raw = value(env, name);
    if (raw !== undefined && !URL.canParse(raw)) problems.push(`${name} must be a URL, got '${raw}'`);
    return raw;
  };

  let app: Settings | undefined;
  try {
    app = settingsFromEnv(env);
  } catch (error) {
    problems.push((error as Error).message);
  }

  const table = {
    name: required('TABLE_NAME'),
    endpoint: url('DYNAMODB_ENDPOINT'),
    localAccessKeyId: value(env, 'DYNAMODB_LOCAL_ACCESS_KEY_ID'),
    connectTimeoutMs: positiveInteger('DYNAMODB_CONNECT_TIMEOUT_MS'),
    requestTimeoutMs: positiveInteger('DYNAMODB_REQUEST_TIMEOUT_MS'),
  };
  const managementEndpoint = required('WS_MANAGEMENT_ENDPOINT');
  if (managementEndpoint && !URL.canParse(managementEndpoint)) problems.push(`WS_MANAGEMENT_ENDPOINT must be a URL, got '${managementEndpoint}'`);
  const workspaceManagementEndpoint = url('WORKSPACE_MANAGEMENT_ENDPOINT');
  const deskManagementEndpoint = url('DESK_MANAGEMENT_ENDPOINT');

  const bucket = value(env, 'FILES_BUCKET');
  // Functions that never touch files (the socket ones) get neither: a temporary folder is harmless there.
  const files: RuntimeSettings['files'] = bucket ? { bucket, endpoint: url('S3_ENDPOINT') } : { dir: value(env, 'FILES_DIR') ?? join(tmpdir(), 'zavodchat-files') };

  const secret = value(env, 'MEDIA_CONTROL_SECRET');
  const secretArn = value(env, 'MEDIA_CONTROL_SECRET_ARN');
  // An emulator's endpoint, named as the AWS SDKs name it (service-specific first), or our own variable.
  const secretsEndpoint = url('SECRETS_MANAGER_ENDPOINT') ?? url('AWS_ENDPOINT_URL_SECRETS_MANAGER') ?? url('AWS_ENDPOINT_URL');
  const mediaControl: RuntimeSettings['mediaControl'] = !secret && secretArn ? { secretArn, endpoint: secretsEndpoint } : { secret: secret ?? '' };

  let mediaNode: RuntimeSettings['mediaNode'];
  const rawIdle = value(env, 'MEDIA_IDLE_MINUTES');
  const idleMinutes = rawIdle === undefined ? MEDIA_NODE_IDLE_MINUTES : Number(rawIdle);
  if (!Number.isFinite(idleMinutes) || idleMinutes < 1) problems.push(`MEDIA_IDLE_MINUTES must be a number of minutes, at least 1, got '${rawIdle}'`);
  const instanceId = value(env, 'MEDIA_INSTANCE_ID');
  const lifecycle = value(env, 'MEDIA_NODE_LIFECYCLE');
  if (lifecycle !== undefined && lifecycle !== 'memory') problems.push(`MEDIA_NODE_LIFECYCLE must be 'memory' or unset, got '${lifecycle}'`);
  const startOn = (value(env, 'MEDIA_START_ON') ?? 'online') as MediaStartOn;
  if (!MEDIA_START_ON.includes(startOn)) problems.push(`MEDIA_START_ON must be ${MEDIA_START_ON.join(' or ')}, got '${startOn}'`);
  if (instanceId) mediaNode = { instanceId, ec2Endpoint: url('EC2_ENDPOINT'), idleMinutes, startOn };
  else if (lifecycle === 'memory') mediaNode = { memory: true, idleMinutes, startOn };

  const rawGrace = value(env, 'PRESENCE_OFFLINE_GRACE_MS');
  const offlineGraceMs = rawGrace === undefined ? DEFAULT_OFFLINE_GRACE_MS : Number(rawGrace);
  if (!Number.isSafeInteger(offlineGraceMs) || offlineGraceMs < 0 || offlineGraceMs > MAX_OFFLINE_GRACE_MS) {
    problems.push(`PRESENCE_OFFLINE_GRACE_MS must be a number of milliseconds from 0 to ${MAX_OFFLINE_GRACE_MS}, got '${rawGrace}'`);
  }
  const offlineQueueUrl = url('PRESENCE_OFFLINE_QUEUE_URL');

  if (problems.length > 0 || !app) throw new SettingsError(problems);
  return {
    app,
    region: value(env, 'AWS_REGION'),
    table,
    managementEndpoint,
    workspaceManagementEndpoint,
    deskManagementEndpoint,
    files,
    mediaControl,
    connectionOpenedFunction: value(env, 'CONNECTION_OPENED_FUNCTION'),
    presence: { offlineGraceMs, offlineQueueUrl },
    mediaNode,
  };
}
