import * as path from 'node:path';
import { Duration, RemovalPolicy } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as logs from 'aws-cdk-lib/aws-logs';
import { NodejsFunction } from 'aws-cdk-lib/aws-lambda-nodejs';
import { NagSuppressions } from 'cdk-nag';
import { Construct } from 'constructs';
import type { MainSocketRoute } from '../lambdas/socket/routes';
import type { DefaultOnlySocketRoute } from './apis';
import { LAMBDA_ARCHITECTURE, LAMBDA_BUNDLING, LAMBDA_RUNTIME, SOURCE_MAP_ENVIRONMENT } from './lambda-bundling';

export const REPOSITORY_ROOT = path.resolve(__dirname, '..');

/**
 * What a handler may touch; each grant is one scoped IAM statement group (see ZavodChatStack).
 * `connections`: the main socket's Management API. `workspaceConnections`: the workspace socket's (posts and
 * closes), with its endpoint WORKSPACE_MANAGEMENT_ENDPOINT: every function whose fan-out may reach a
 * workspace connection (every publisher of domain events) has it. `deskConnections`: the desk socket's, with
 * DESK_MANAGEMENT_ENDPOINT: the desk socket's handlers and REST (the /desk/ routes publish the desk's events).
 * `rateCounters`: UpdateItem on the table only, for the socket handlers' frame budget.
 * `offlineGrace`: SendMessage to the offline-grace queue (lib/offline-grace.ts), for every handler that may
 * remove a user's last connection (a `$disconnect`, a 410 prune after any delivery, a logout).
 */
export type HandlerGrant = 'table' | 'connections' | 'workspaceConnections' | 'deskConnections' | 'files' | 'rateCounters' | 'offlineGrace';

/**
 * Settings beyond the shared ones and those a grant brings. `workspaceEndpoint`: WORKSPACE_MANAGEMENT_ENDPOINT
 * without the right to use it (the workspace `$connect` builds that socket's context but posts nothing).
 * `deskOidc`: the DESK_* sign-in settings, when the deployment configures the desk.
 */
export type HandlerSetting = 'workspaceEndpoint' | 'deskOidc';

export interface HandlerSpec {
  /** The handler's file, relative to the repository root; it exports `handler`. */
  entry: string;
  description: string;
  grants: readonly HandlerGrant[];
  /** Default 10 s; API Gateway itself gives up after 29-30 s. */
  timeoutSeconds?: number;
  /** Invoked asynchronously (not behind an API Gateway, so not bound by its 29 s). */
  asynchronous?: boolean;
  settings?: readonly HandlerSetting[];
}

/** Every Lambda of the system. Adding a function is one entry here (plus its route or trigger). */
export const HANDLERS = {
  // 25 s: longer than one DynamoDB call against a hung table (worstCaseCallMs), so the handler answers 503
  // itself instead of being cut off; it is billed only for what it runs.
  mainSocketConnect: {
    entry: 'lambdas/socket/connect.ts',
    description: 'Main socket $connect: authenticate, register the connection, announce presence',
    grants: ['table', 'connections', 'workspaceConnections', 'offlineGrace'],
    timeoutSeconds: 25,
  },
  mainSocketDisconnect: {
    entry: 'lambdas/socket/disconnect.ts',
    description: 'Main socket $disconnect: drop the connection, announce presence',
    grants: ['table', 'connections', 'workspaceConnections', 'offlineGrace'],
    timeoutSeconds: 25,
  },
  // Invoked asynchronously by $connect; retries its post for up to 30 s while API Gateway still refuses it.
  mainSocketOpened: {
    entry: 'lambdas/socket/opened.ts',
    description: 'Main socket after $connect: send the connection its own status, mark it open',
    grants: ['table', 'connections', 'workspaceConnections', 'offlineGrace'],
    timeoutSeconds: 40,
    asynchronous: true,
  },
  // Fed by the offline-grace queue (lib/offline-grace.ts): a user still away after the grace goes offline.
  presenceOffline: {
    entry: 'lambdas/schedule/offline-grace.ts',
    description: 'Presence: announce offline a user still without a connection after the offline grace',
    grants: ['table', 'connections', 'workspaceConnections', 'offlineGrace'],
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
    grants: ['table', 'connections', 'workspaceConnections', 'deskConnections', 'files', 'offlineGrace'],
    timeoutSeconds: 29,
    // The /desk/ routes verify the desk's OIDC access tokens.
    settings: ['deskOidc'],
  },
  // The workspace socket (seed 003, socket.io; docs/protocol.md, "The workspace protocol"). `$connect` only checks the
  // Engine.IO handshake and stores the session; the open packet goes out from `workspaceSocketOpened`.
  workspaceSocketConnect: {
    entry: 'lambdas/socket-workspace/connect.ts',
    description: 'Workspace socket $connect: check the Engine.IO handshake, store the session, schedule the open packet',
    grants: ['table'],
    timeoutSeconds: 25,
    settings: ['workspaceEndpoint'],
  },
  // Invoked asynchronously by $connect; retries its post for up to 30 s while API Gateway still refuses it.
  workspaceSocketOpened: {
    entry: 'lambdas/socket-workspace/opened.ts',
    description: 'Workspace socket after $connect: send the Engine.IO open packet',
    grants: ['table', 'connections', 'workspaceConnections', 'offlineGrace'],
    timeoutSeconds: 40,
    asynchronous: true,
  },
  // `auth` binds the connection and announces its user's status on both protocols.
  workspaceSocketDefault: {
    entry: 'lambdas/socket-workspace/default.ts',
    description: 'Workspace socket $default: one Engine.IO / Socket.IO packet (namespace connect, auth, pong)',
    grants: ['table', 'connections', 'workspaceConnections', 'offlineGrace'],
    timeoutSeconds: 25,
  },
  workspaceSocketDisconnect: {
    entry: 'lambdas/socket-workspace/disconnect.ts',
    description: 'Workspace socket $disconnect: drop the session, announce presence',
    grants: ['table', 'connections', 'workspaceConnections', 'offlineGrace'],
    timeoutSeconds: 25,
  },
  // EventBridge every minute (WORKSPACE_HEARTBEAT_RATE): the server-sent Engine.IO pings, and the close of
  // connections that did not answer the last one. Under the rate, so that rounds do not pile up.
  workspaceHeartbeat: {
    entry: 'lambdas/socket-workspace/heartbeat.ts',
    description: 'Workspace socket heartbeat: Engine.IO pings, ping timeouts',
    grants: ['table', 'connections', 'workspaceConnections', 'offlineGrace'],
    timeoutSeconds: 50,
    asynchronous: true,
  },
  // The desk socket (seed 004; docs/desk.md): sign-in by an OIDC access token on the upgrade (`?token=`),
  // `user_status` to curators on connect and disconnect; no client frame is defined (each gets an error).
  deskSocketConnect: {
    entry: 'lambdas/socket-desk/connect.ts',
    description: 'Desk socket $connect: verify the OIDC token, register the connection, announce presence to curators',
    grants: ['table', 'deskConnections'],
    // One JWKS download (5 s timeout) and a few DynamoDB calls, within API Gateway's 29 s.
    timeoutSeconds: 25,
    settings: ['deskOidc'],
  },
  deskSocketDisconnect: {
    entry: 'lambdas/socket-desk/disconnect.ts',
    description: 'Desk socket $disconnect: drop the connection, announce presence to curators',
    grants: ['table', 'deskConnections'],
    timeoutSeconds: 25,
  },
  deskSocketDefault: {
    entry: 'lambdas/socket-desk/default.ts',
    description: 'Desk socket $default: answer client frames (seed 004 defines none) within the frame budget',
    grants: ['deskConnections', 'rateCounters'],
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

/** Which handler serves each workspace-socket route. */
export const WORKSPACE_SOCKET_ROUTE_HANDLERS: Record<DefaultOnlySocketRoute, HandlerName> = {
  $connect: 'workspaceSocketConnect',
  $disconnect: 'workspaceSocketDisconnect',
  $default: 'workspaceSocketDefault',
};

/** Which handler serves each desk-socket route. */
export const DESK_SOCKET_ROUTE_HANDLERS: Record<DefaultOnlySocketRoute, HandlerName> = {
  $connect: 'deskSocketConnect',
  $disconnect: 'deskSocketDisconnect',
  $default: 'deskSocketDefault',
};

/** Which handler serves each main-socket route. */
export const MAIN_SOCKET_ROUTE_HANDLERS: Record<MainSocketRoute, HandlerName> = {
  $connect: 'mainSocketConnect',
  $disconnect: 'mainSocketDisconnect',
  $default: 'mainSocketDefault',
  ping: 'mainSocketPing',
};
