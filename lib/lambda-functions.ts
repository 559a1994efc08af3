import * as path from 'node:path';
import { Duration, RemovalPolicy } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as logs from 'aws-cdk-lib/aws-logs';
import { NodejsFunction } from 'aws-cdk-lib/aws-lambda-nodejs';
import { NagSuppressions } from 'cdk-nag';
import { Construct } from 'constructs';
import type { MainSocketRoute } from '../lambdas/socket/routes';
import { LAMBDA_ARCHITECTURE, LAMBDA_BUNDLING, LAMBDA_RUNTIME, SOURCE_MAP_ENVIRONMENT } from './lambda-bundling';

export const REPOSITORY_ROOT = path.resolve(__dirname, '..');

/**
 * What a handler may touch; each grant is one scoped IAM statement group (see ZavodChatStack).
 * `rateCounters`: UpdateItem on the table only, for the socket handlers' frame budget.
 * `offlineGrace`: SendMessage to the offline-grace queue (lib/offline-grace.ts), for every handler that may
 * remove a user's last connection (a `$disconnect`, a 410 prune after any delivery, a logout).
 */
export type HandlerGrant = 'table' | 'connections' | 'files' | 'rateCounters' | 'offlineGrace';

export interface HandlerSpec {
  /** The handler's file, relative to the repository root; it exports `handler`. */
  entry: string;
  description: string;
  grants: readonly HandlerGrant[];
  /** Default 10 s; API Gateway itself gives up after 29-30 s. */
  timeoutSeconds?: number;
  /** Invoked asynchronously (not behind an API Gateway, so not bound by its 29 s). */
  asynchronous?: boolean;
}

/** Every Lambda of the system. Adding a function is one entry here (plus its route or trigger). */
export const HANDLERS = {
  // 25 s: longer than one DynamoDB call against a hung table (worstCaseCallMs), so the handler answers 503
  // itself instead of being cut off; it is billed only for what it runs.
  mainSocketConnect: {
    entry: 'lambdas/socket/connect.ts',
    description: 'Main socket $connect: authenticate, register the connection, announce presence',
    grants: ['table', 'connections', 'offlineGrace'],
    timeoutSeconds: 25,
  },
  mainSocketDisconnect: {
    entry: 'lambdas/socket/disconnect.ts',
    description: 'Main socket $disconnect: drop the connection, announce presence',
    grants: ['table', 'connections', 'offlineGrace'],
    timeoutSeconds: 25,
  },
  // Invoked asynchronously by $connect; retries its post for up to 30 s while API Gateway still refuses it.
  mainSocketOpened: {
    entry: 'lambdas/socket/opened.ts',
    description: 'Main socket after $connect: send the connection its own status, mark it open',
    grants: ['table', 'connections', 'offlineGrace'],
    timeoutSeconds: 40,
    asynchronous: true,
  },
  // Fed by the offline-grace queue (lib/offline-grace.ts): a user still away after the grace goes offline.
  presenceOffline: {
    entry: 'lambdas/schedule/offline-grace.ts',
    description: 'Presence: announce offline a user still without a connection after the offline grace',
    grants: ['table', 'connections', 'offlineGrace'],
    timeoutSeconds: 30,
    asynchronous: true,
  },
  mainSocketDefault: {
    entry: 'lambdas/socket/default.ts',
    description: 'Main socket $default: answer unknown frames with an error event',
    grants: ['connections', 'rateCounters'],
  },
  // Frame budget: the counter (past the free allowance), the error event and the close of a flooding connection.
  mainSocketPing: { entry: 'lambdas/socket/ping.ts', description: 'Main socket ping keepalive', grants: ['connections', 'rateCounters'] },
  rest: {
    entry: 'lambdas/rest/handler.ts',
    description: 'REST API (HTTP API payload 2.0)',
    grants: ['table', 'connections', 'files', 'offlineGrace'],
    timeoutSeconds: 29,
  },
} as const satisfies Record<string, HandlerSpec>;

export type HandlerName = keyof typeof HANDLERS;

export interface ChatFunctionProps {
  spec: HandlerSpec;
  environment: Record<string, string>;
  logRetention: logs.RetentionDays;
}

/**
 * One handler as a Lambda function with its own log group and its own role: the role starts with no
 * permissions at all (not even the AWS-managed basic execution policy) and gets only its log group and
 * the grants of its spec.
 */
export class ChatFunction extends Construct {
  readonly function: NodejsFunction;
  readonly role: iam.Role;

  constructor(scope: Construct, id: string, props: ChatFunctionProps) {
    super(scope, id);
    const logGroup = new logs.LogGroup(this, 'Logs', {
      retention: props.logRetention,
      removalPolicy: RemovalPolicy.DESTROY,
    });
    this.role = new iam.Role(this, 'Role', { assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com') });
    this.role.addToPolicy(
      new iam.PolicyStatement({ actions: ['logs:CreateLogStream', 'logs:PutLogEvents'], resources: [logGroup.logGroupArn] }),
    );
    this.function = new NodejsFunction(this, 'Function', {
      entry: path.join(REPOSITORY_ROOT, props.spec.entry),
      handler: 'handler',
      description: props.spec.description,
      runtime: LAMBDA_RUNTIME,
      architecture: LAMBDA_ARCHITECTURE,
      memorySize: 512,
      timeout: Duration.seconds(props.spec.timeoutSeconds ?? 10),
      projectRoot: REPOSITORY_ROOT,
      depsLockFilePath: path.join(REPOSITORY_ROOT, 'package-lock.json'),
      bundling: LAMBDA_BUNDLING,
      environment: { ...props.environment, ...SOURCE_MAP_ENVIRONMENT },
      role: this.role,
      logGroup,
    });
    NagSuppressions.addResourceSuppressions(this.function, [
      { id: 'AwsSolutions-L1', reason: 'Node.js 22 is a supported LTS Lambda runtime and the newest the project builds and tests for (lib/lambda-bundling.ts).' },
    ]);
  }
}

/** Which handler serves each main-socket route. */
export const MAIN_SOCKET_ROUTE_HANDLERS: Record<MainSocketRoute, HandlerName> = {
  $connect: 'mainSocketConnect',
  $disconnect: 'mainSocketDisconnect',
  $default: 'mainSocketDefault',
  ping: 'mainSocketPing',
};
