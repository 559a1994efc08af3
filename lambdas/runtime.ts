import { createDb } from './aws/dynamodb-store';
import { Ec2InstanceClient } from './aws/ec2-instance';
import { LambdaAfterConnect } from './aws/lambda-after-connect';
import { ManagementApiSender } from './aws/management-api-sender';
import { S3FileStore } from './aws/s3-file-store';
import { SecretsManagerSecret } from './aws/secrets-manager';
import { FolderFileStore } from './adapters/folder-file-store';
import { HttpVoiceControl } from './adapters/http-voice-control';
import { InMemoryEc2 } from './adapters/in-memory-ec2';
import { ConcurrencyLimit, IN_PROCESS_FUNCTION_CONCURRENCY } from './adapters/concurrency-limit';
import { InProcessOfflineGrace } from './adapters/in-process-offline-grace';
import { SqsOfflineGrace } from './aws/sqs-offline-grace';
import type { Settings } from './domain/config';
import type { FanoutContext } from './domain/fanout';
import { JsonLinesLogger, log, parseLogLevel, useLogger } from './domain/log';
import { MediaNodeLifecycle } from './domain/media-node-lifecycle';
import { type AfterConnect, type Clock, type ConnectionSender, type FileStore, type OpenedConnection, systemClock, type VoiceControl } from './domain/ports';
import { confirmConnectionOpen, goOfflineIfStillAway } from './domain/presence';
import { installedContext } from './scope';
import { type RuntimeSettings, runtimeSettingsFromEnv } from './settings';

// The Lambda handlers' logger: JSON lines at LOG_LEVEL (INFO), each naming the function (Powertools' field).
useLogger(
  new JsonLinesLogger({
    service: 'zavodchat',
    level: parseLogLevel(process.env.LOG_LEVEL),
    fields: process.env.AWS_LAMBDA_FUNCTION_NAME ? { function_name: process.env.AWS_LAMBDA_FUNCTION_NAME } : {},
  }),
);

/** What every handler needs: the table, the ports (lambdas/domain/ports.ts) and the settings. */
export interface AppContext extends FanoutContext {
  settings: Settings;
  sender: ConnectionSender;
  senders: Partial<Record<string, ConnectionSender>>;
  files: FileStore;
  voice: VoiceControl;
  afterConnect: AfterConnect;
  clock: Clock;
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
  // As many at once as one function would run (a storm's thousands wait their turn instead).
  private readonly limit = new ConcurrencyLimit(IN_PROCESS_FUNCTION_CONCURRENCY);
  constructor(private readonly context: () => AppContext) {}
  async schedule(connection: OpenedConnection): Promise<void> {
    const task = new Promise((resolve) => setImmediate(resolve))
      .then(() => this.limit.run(() => confirmConnectionOpen(this.context(), connection, connection.connectedAt)))
      .catch((error) => log().error('connection opened', error))
      .finally(() => this.pending.delete(task));
    this.pending.add(task);
  }
}

/** Waits for a context's in-process work after `$connect` still running (the local runtime's shutdown). */
export async function settleAfterConnect(context: AppContext): Promise<void> {
  const scheduler = context.afterConnect;
  if (scheduler instanceof InProcessAfterConnect) await Promise.all([...scheduler.pending]);
}

/** Waits until the in-process offline grace has no check pending (TestSystem.settle: after each grace). */
export async function settleOfflineGrace(context: AppContext): Promise<void> {
  if (context.offlineGrace instanceof InProcessOfflineGrace) await context.offlineGrace.settled();
}

/** Offline checks still waiting for their grace in this process. */
export function pendingOfflineChecks(context: AppContext): number {
  return context.offlineGrace instanceof InProcessOfflineGrace ? context.offlineGrace.pending : 0;
}

/** Runs the pending offline checks now (the local runtime's shutdown: its timers would be lost). */
export async function flushOfflineGrace(context: AppContext): Promise<void> {
  if (context.offlineGrace instanceof InProcessOfflineGrace) await context.offlineGrace.flush();
}

/** Adapters a composition root brings itself instead of the ones the settings choose. */
export interface ContextParts {
  sender?: ConnectionSender;
  /** Senders of other protocols' APIs by protocol name (FanoutContext.senders). */
  senders?: Partial<Record<string, ConnectionSender>>;
  clock?: Clock;
}

/**
 * Builds a process's handler context from its settings: the one place that chooses adapters. Lambdas build
 * it from their environment (appContext below), the local runtime and the media node from theirs.
 */
export function createAppContext(settings: RuntimeSettings, parts: ContextParts = {}): AppContext {
  const { region } = settings;
  const db = createDb({
    table: settings.table.name,
    endpoint: settings.table.endpoint,
    accessKeyId: settings.table.localAccessKeyId,
    region,
    connectTimeoutMs: settings.table.connectTimeoutMs,
    requestTimeoutMs: settings.table.requestTimeoutMs,
  });
  const files =
    'bucket' in settings.files ? new S3FileStore(settings.files.bucket, { endpoint: settings.files.endpoint, region }) : new FolderFileStore(settings.files.dir);
  // AWS: the key is read from Secrets Manager at run time and cached, never stored in the Lambda's configuration.
  const control = settings.mediaControl;
  const voice = new HttpVoiceControl('secretArn' in control ? new SecretsManagerSecret(control.secretArn, { endpoint: control.endpoint }) : control.secret);
  let mediaNode: MediaNodeLifecycle | undefined;
  const node = settings.mediaNode;
  if (node) {
    // EC2 through the Query API, signed with the credentials the SDK finds for the table client.
    const ec2 =
      'instanceId' in node
        ? new Ec2InstanceClient(node.instanceId, () => db.doc.config.credentials(), { region: region ?? 'us-east-1', endpoint: node.ec2Endpoint })
        : new InMemoryEc2({ clock: parts.clock });
    mediaNode = new MediaNodeLifecycle({ ec2, idleMs: node.idleMinutes * 60_000, startOn: node.startOn });
  }
  const opened = settings.connectionOpenedFunction;
  const context: AppContext = {
    db,
    mediaNode,
    sender: parts.sender ?? new ManagementApiSender(settings.managementEndpoint, { region }),
    // One sender per protocol served by an API of its own (docs/architecture.md, "Protocol adapters").
    senders: {
      ...(parts.senders ?? {}),
      ...(!parts.senders?.workspace && settings.workspaceManagementEndpoint ? { workspace: new ManagementApiSender(settings.workspaceManagementEndpoint, { region }) } : {}),
      ...(!parts.senders?.desk && settings.deskManagementEndpoint ? { desk: new ManagementApiSender(settings.deskManagementEndpoint, { region }) } : {}),
    },
    settings: settings.app,
    files,
    voice,
    clock: parts.clock ?? systemClock,
    afterConnect: opened ? new LambdaAfterConnect(opened, () => db.doc.config.credentials(), region) : new InProcessAfterConnect(() => context),
  };
  // The offline grace: delayed by SQS on AWS, by a timer here; none (offline at once) when it is 0.
  const { offlineGraceMs, offlineQueueUrl } = settings.presence;
  if (offlineGraceMs > 0) {
    context.offlineGrace = offlineQueueUrl
      ? new SqsOfflineGrace(offlineQueueUrl, offlineGraceMs, () => db.doc.config.credentials(), region)
      : new InProcessOfflineGrace(offlineGraceMs, (pending) => goOfflineIfStillAway(context, pending));
  }
  return context;
}

/** The Lambda's context: one per execution environment, whose environment does not change. */
let lambdaContext: AppContext | undefined;

/**
 * The handlers' context: the one their process installed (the local runtime: lambdas/scope.ts), else the
 * Lambda's, built from the environment on first use (the Lambda's composition root, the only reader of
 * process.env) and kept for the life of the execution environment so clients stay warm.
 */
export function appContext(): AppContext {
  const installed = installedContext();
  if (installed) return installed;
  if (!lambdaContext) {
    const settings = runtimeSettingsFromEnv(process.env);
    // A Lambda is frozen between invocations, so a timer of its own may never fire: without the queue that
    // delays the check, a user whose last connection went is announced offline at once.
    if (!settings.presence.offlineQueueUrl) settings.presence = { offlineGraceMs: 0 };
    lambdaContext = createAppContext(settings);
  }
  return lambdaContext;
}

