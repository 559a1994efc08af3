import { CfnOutput, Duration, Lazy, Stack, type StackProps } from 'aws-cdk-lib';
import * as events from 'aws-cdk-lib/aws-events';
import * as eventTargets from 'aws-cdk-lib/aws-events-targets';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import { NagSuppressions } from 'cdk-nag';
import type { Construct } from 'constructs';
import type { Params } from '../lambdas/domain/config';
import { ApiGatewayAccountLogging } from './api-gateway-account';
import { DefaultOnlySocketApi, MainSocketApi, RestApi } from './apis';
import { type DeploymentConfig, deskEnvironment, domainNames, SOCKET_HOST_PATHS } from './config';
import { CustomDomain } from './custom-domain';
import {
  ChatFunction,
  HANDLERS,
  type HandlerName,
  type HandlerSpec,
  DESK_SOCKET_ROUTE_HANDLERS,
  MAIN_SOCKET_ROUTE_HANDLERS,
  WORKSPACE_SOCKET_ROUTE_HANDLERS,
} from './lambda-functions';
import { MediaNode } from './media-node';
import { MediaNodeLifecycle, voiceAddressCommands } from './media-node-lifecycle';
import { OfflineGrace } from './offline-grace';
import { SingleOrigin } from './single-origin';
import { ChatTable, FilesBucket } from './storage';
import { VoiceWake } from './voice-wake';

/** Management API calls the handlers make: post events (POST), close connections (DELETE) and probe them at a connection cap (GET). */
export const MANAGE_CONNECTIONS_METHODS = ['POST', 'DELETE', 'GET'] as const;
/** The media node only posts voice events (to main-socket and workspace-socket connections). */
export const MEDIA_NODE_MANAGE_CONNECTIONS_METHODS = ['POST'] as const;
/** On the workspace socket: post events and pings (POST), close connections (DELETE); no connection cap probes it. */
export const WORKSPACE_MANAGE_CONNECTIONS_METHODS = ['POST', 'DELETE'] as const;
/** On the desk socket: post events (POST), close connections whose token expired (DELETE). */
export const DESK_MANAGE_CONNECTIONS_METHODS = ['POST', 'DELETE'] as const;

/**
 * How often the workspace heartbeat runs (EventBridge). Each round pings every open workspace connection that
 * answered the last ping and closes those that did not within pingTimeout; the open packet announces
 * pingInterval 60 s and pingTimeout 60 s (lambdas/protocols/workspace/context.ts), so a client waits
 * 2 minutes for a ping: one round may come late by almost a minute and the connection still stays. A ping a
 * minute is also traffic enough for API Gateway's 10-minute idle timeout.
 */
export const WORKSPACE_HEARTBEAT_RATE = Duration.minutes(1);

const AUTHORIZATION_IN_DESK_CONNECT =
  "The desk socket's `$connect` verifies the OpenID Connect access token of `?token=` itself (signature against the issuer's JWKS, iss, aud, exp, nbf; lambdas/domain/desk/oidc.ts): a Lambda authorizer would be the same check in a second function, and its cached policy would outlive the token.";

const AUTHORIZATION_IN_WORKSPACE_EVENTS =
  "The workspace socket authenticates in its first event (`auth` with a session token, seed 003), not in the upgrade: nothing but that event is served before it, and an API Gateway authorizer cannot read a socket.io event.";

/** GET /params limits as the upper-case variables `settingsFromEnv` reads (MAX_GET_COUNT, ...). */
export function paramsEnvironment(params: Params): Record<string, string> {
  return Object.fromEntries(Object.entries(params).map(([name, value]) => [name.toUpperCase(), String(value)]));
}

export interface ZavodChatStackProps extends StackProps {
  config: DeploymentConfig;
}

/**
 * The whole system in one stack: its parts reference each other (every handler and the media node need
 * the socket's management endpoint and the table) and are deployed and torn down together.
 */
export class ZavodChatStack extends Stack {
  readonly functions: Record<HandlerName, ChatFunction>;

  constructor(scope: Construct, id: string, props: ZavodChatStackProps) {
    // Region only, no account: the stack stays environment-agnostic in the account, so synth never
    // looks anything up in AWS (no credentials, no network).
    super(scope, id, { description: 'ZavodChat realtime backend', ...props, env: { region: props.config.region } });
    const { config } = props;
    const names = config.domain ? domainNames(config.domain) : undefined;

    const table = new ChatTable(this, 'Data', {
      deletionProtection: config.tableDeletionProtection,
      retainOnDelete: config.retainData,
    });
    const files = new FilesBucket(this, 'Files', { clientOrigins: config.clientOrigins, retainOnDelete: config.retainData });
    const domain = config.domain ? new CustomDomain(this, 'Domain', config.domain) : undefined;

    const stageSettings = {
      throttle: { rateLimit: config.throttle.ratePerSecond, burstLimit: config.throttle.burst },
      logRetention: config.logRetention,
    };
    const socket = new MainSocketApi(this, 'MainSocket', {
      ...stageSettings,
      stageName: config.socketStageName,
      accessLogs: config.apiGatewayCloudWatchRole !== 'none',
      domainMapping: domain ? { domainName: domain.socketDomain } : undefined,
    });
    // The workspace socket (seed 003, socket.io): an API of its own, so its connections, URL and Management API are its own.
    const workspaceSocket = new DefaultOnlySocketApi(this, 'WorkspaceSocket', {
      ...stageSettings,
      stageName: config.socketStageName,
      accessLogs: config.apiGatewayCloudWatchRole !== 'none',
      domainMapping: domain ? { domainName: domain.socketDomain, path: SOCKET_HOST_PATHS.workspaceSocket } : undefined,
      nameSuffix: 'workspace-socket',
      description: 'ZavodChat workspace socket (socket.io, seed 003)',
      authorization: AUTHORIZATION_IN_WORKSPACE_EVENTS,
    });
    // The desk socket (seed 004): `wss://<api>/<stage>?token=<access token>`, the seed's `/connect/?token=`.
    const deskSocket = new DefaultOnlySocketApi(this, 'DeskSocket', {
      ...stageSettings,
      stageName: config.socketStageName,
      accessLogs: config.apiGatewayCloudWatchRole !== 'none',
      domainMapping: domain ? { domainName: domain.socketDomain, path: SOCKET_HOST_PATHS.deskSocket } : undefined,
      nameSuffix: 'desk-socket',
      description: 'ZavodChat support desk socket (seed 004)',
      authorization: AUTHORIZATION_IN_DESK_CONNECT,
    });
    const logging = config.apiGatewayCloudWatchRole === 'create' ? new ApiGatewayAccountLogging(this, 'ApiGatewayLogging') : undefined;
    if (logging) for (const api of [socket, workspaceSocket, deskSocket]) api.stage.node.addDependency(logging);

    // The single origin's own URL is an allowed origin too; known once the distribution exists (below).
    let origin: SingleOrigin | undefined;
    const settings: Record<string, string> = {
      TABLE_NAME: table.table.tableName,
      WS_MANAGEMENT_ENDPOINT: socket.managementEndpoint,
      CORS_ORIGINS: Lazy.string({ produce: () => [...config.clientOrigins, ...(origin ? [origin.url] : [])].join(',') }),
      ...(names ? { COOKIE_DOMAIN: names.cookieDomain } : {}),
      ...paramsEnvironment(config.params),
    };

    const connectionArns = socket.connectionArns(MANAGE_CONNECTIONS_METHODS);
    const workspaceEndpoint = { WORKSPACE_MANAGEMENT_ENDPOINT: workspaceSocket.managementEndpoint };
    const deskEndpoint = { DESK_MANAGEMENT_ENDPOINT: deskSocket.managementEndpoint };
    const functions = {} as Record<HandlerName, ChatFunction>;
    for (const name of Object.keys(HANDLERS) as HandlerName[]) {
      const spec: HandlerSpec = HANDLERS[name];
      const needs = (setting: NonNullable<HandlerSpec['settings']>[number]) => spec.settings?.includes(setting) ?? false;
      const fn = new ChatFunction(this, name, {
        spec,
        environment: {
          ...settings,
          ...(spec.grants.includes('files') ? { FILES_BUCKET: files.bucket.bucketName } : {}),
          ...(spec.grants.includes('workspaceConnections') || needs('workspaceEndpoint') ? workspaceEndpoint : {}),
          ...(spec.grants.includes('deskConnections') ? deskEndpoint : {}),
          ...(needs('deskOidc') && config.desk ? deskEnvironment(config.desk) : {}),
        },
        logRetention: config.logRetention,
      });
      for (const grant of spec.grants) {
        if (grant === 'table') table.grantDataAccess(fn.role);
        if (grant === 'connections') {
          fn.role.addToPolicy(new iam.PolicyStatement({ actions: ['execute-api:ManageConnections'], resources: connectionArns }));
        }
        if (grant === 'workspaceConnections') {
          fn.role.addToPolicy(
            new iam.PolicyStatement({ actions: ['execute-api:ManageConnections'], resources: workspaceSocket.connectionArns(WORKSPACE_MANAGE_CONNECTIONS_METHODS) }),
          );
        }
        if (grant === 'deskConnections') {
          fn.role.addToPolicy(new iam.PolicyStatement({ actions: ['execute-api:ManageConnections'], resources: deskSocket.connectionArns(DESK_MANAGE_CONNECTIONS_METHODS) }));
        }
        if (grant === 'files') files.grantObjectAccess(fn.role);
        if (grant === 'rateCounters') table.grantCounterUpdates(fn.role);
      }
      functions[name] = fn;
    }
    this.functions = functions;
    // The offline grace: a delay queue feeding the presence function (docs/data-model.md, "Connections and presence").
    const grace = new OfflineGrace(this, 'OfflineGrace', { graceMs: config.offlineGraceSeconds * 1000, consumer: functions.presenceOffline });
    for (const name of Object.keys(HANDLERS) as HandlerName[]) {
      if ((HANDLERS[name] as HandlerSpec).grants.includes('offlineGrace')) grace.grantSchedule(functions[name]);
    }
    // $connect hands the work after it to the `opened` function (docs/data-model.md, "Connections and presence").
    functions.mainSocketConnect.function.addEnvironment('CONNECTION_OPENED_FUNCTION', functions.mainSocketOpened.function.functionName);
    functions.mainSocketConnect.role.addToPolicy(
      new iam.PolicyStatement({ actions: ['lambda:InvokeFunction'], resources: [functions.mainSocketOpened.function.functionArn] }),
    );

    socket.addRoutes({
      $connect: functions[MAIN_SOCKET_ROUTE_HANDLERS.$connect].function,
      $disconnect: functions[MAIN_SOCKET_ROUTE_HANDLERS.$disconnect].function,
      $default: functions[MAIN_SOCKET_ROUTE_HANDLERS.$default].function,
      ping: functions[MAIN_SOCKET_ROUTE_HANDLERS.ping].function,
    });
    this.wireWorkspaceSocket(workspaceSocket, functions);
    deskSocket.addRoutes({
      $connect: functions[DESK_SOCKET_ROUTE_HANDLERS.$connect].function,
      $disconnect: functions[DESK_SOCKET_ROUTE_HANDLERS.$disconnect].function,
      $default: functions[DESK_SOCKET_ROUTE_HANDLERS.$default].function,
    });
    const rest = new RestApi(this, 'Rest', { ...stageSettings, handler: functions.rest.function, domainName: domain?.restDomain });
    if (config.singleOrigin) {
      origin = new SingleOrigin(this, 'Origin', { rest: rest.api, socket, workspaceSocket, deskSocket, clientBuildDir: config.clientBuildDir });
      origin.addOutputs(this);
    }

    if (config.deployMediaNode) {
      // REST signs its commands to the media node (end a voice connection) with this key; the node reads it at boot.
      const controlSecret = new secretsmanager.Secret(this, 'MediaControlSecret', {
        description: 'HMAC key of REST -> media node control commands',
        generateSecretString: { passwordLength: 48, excludePunctuation: true },
      });
      NagSuppressions.addResourceSuppressions(controlSecret, [
        { id: 'AwsSolutions-SMG4', reason: 'Rotating the key means restarting the media node; rotate by redeploying (docs/deploy.md).' },
      ]);
      // Only the secret's ARN is in the environment: REST reads the key at run time and caches it
      // (lambdas/aws/secrets-manager.ts), so GetFunctionConfiguration never shows it.
      functions.rest.function.addEnvironment('MEDIA_CONTROL_SECRET_ARN', controlSecret.secretArn);
      functions.rest.role.addToPolicy(new iam.PolicyStatement({ actions: ['secretsmanager:GetSecretValue'], resources: [controlSecret.secretArn] }));
      // On demand with a Route 53 zone the node publishes its own address at each boot: no Elastic IP (docs/deploy.md).
      const zone = config.mediaOnDemand && names ? domain?.zone : undefined;
      // mediaStartOn=voice (lib/config.ts guarantees the zone): voice.<domain> answers with the wake while the node is stopped.
      const wake =
        config.mediaStartOn === 'voice' && zone && names
          ? new VoiceWake(this, 'VoiceWake', {
              ...stageSettings,
              zone,
              hostName: names.voice,
              stageName: config.socketStageName,
              accessLogs: config.apiGatewayCloudWatchRole !== 'none',
              table,
              environment: settings,
            })
          : undefined;
      if (wake && logging) wake.socket.stage.node.addDependency(logging);
      if (wake) {
        // For a record left behind by a shutdown that could not park it (docs/deploy.md, "Media node on demand").
        new CfnOutput(this, 'VoiceWakeAliasTarget', {
          description: `Where ${names?.voice} points while the media node is stopped (an alias A record; its zone id is VoiceWakeAliasZoneId)`,
          value: wake.parkTarget.dnsName,
        });
        new CfnOutput(this, 'VoiceWakeAliasZoneId', { description: 'Hosted zone id of VoiceWakeAliasTarget (API Gateway, regional)', value: wake.parkTarget.hostedZoneId });
      }
      const media = new MediaNode(this, 'Media', {
        config: config.mediaNode,
        // Its voice events reach workspace connections too (user-selected-channel, media-state-updated, speaking).
        environment: { ...settings, ...workspaceEndpoint },
        voiceHost: names?.voice,
        hostedZoneId: config.domain?.hostedZone?.id,
        controlSecret,
        stableAddress: zone === undefined,
        bootCommands: zone && names ? voiceAddressCommands(zone.hostedZoneId, names.voice, wake?.parkTarget) : undefined,
      });
      controlSecret.grantRead(media.role);
      table.grantDataAccess(media.role);
      media.role.addToPolicy(
        new iam.PolicyStatement({
          actions: ['execute-api:ManageConnections'],
          resources: [...socket.connectionArns(MEDIA_NODE_MANAGE_CONNECTIONS_METHODS), ...workspaceSocket.connectionArns(MEDIA_NODE_MANAGE_CONNECTIONS_METHODS)],
        }),
      );
      if (!zone) domain?.pointVoiceHostAt(media.address);
      if (config.mediaOnDemand) {
        const lifecycle = new MediaNodeLifecycle(this, 'MediaLifecycle', {
          instance: media.instance,
          startOn: wake ? 'voice' : 'online',
          starter: wake ? wake.connect : functions[MAIN_SOCKET_ROUTE_HANDLERS.$connect],
          table,
          environment: settings,
          idleMinutes: config.mediaIdleMinutes,
          logRetention: config.logRetention,
        });
        if (zone && names) lifecycle.allowAddressPublishing(media.role, zone, names.voice);
      }
      new CfnOutput(this, 'VoiceSocketUrl', {
        // Without a domain the node has a self-signed certificate and no cookie reaches it (docs/deploy.md, "One origin").
        description: names
          ? 'PUBLIC_BASE_SOCKET_VC of the web client'
          : 'Voice socket, for testing only: voice for the web client needs a domain (self-signed certificate, and the session cookie is not sent here)',
        value: media.voiceSocketUrl(names?.voice, config.mediaNode.voicePort),
      });
      if (!names) {
        // `cdk deploy` prints output values, not descriptions: the answer has to be a value.
        new CfnOutput(this, 'WebClientVoice', {
          description: 'Why PUBLIC_BASE_SOCKET_VC has no value without a domain',
          value: 'Voice for the web client needs a custom domain (docs/deploy.md, "Voice needs a domain")',
        });
      }
      // Without an Elastic IP the address changes at each start: voice.<domain> is the name to use.
      if (!zone) new CfnOutput(this, 'MediaNodeAddress', { description: 'Elastic IP of the media node', value: media.address });
      new CfnOutput(this, 'MediaNodeInstanceId', { description: 'The media node: aws ssm start-session --target <this>', value: media.instance.instanceId });
      new CfnOutput(this, 'MediaNodeImageId', { description: 'AMI of the media node; pin it with -c mediaAmiId=<this>', value: media.imageId });
    }

    this.suppressScopedWildcards();

    const forWebClient = (output: string) => (origin ? output : 'a domain or the single origin');
    new CfnOutput(this, 'RestUrl', {
      description: names ? 'PUBLIC_BASE_REST of the web client' : `REST at its execute-api host, for scripts (Bearer token); the web client uses ${forWebClient('PublicBaseRest')}`,
      value: names ? `https://${names.rest}/` : rest.url,
    });
    new CfnOutput(this, 'MainSocketUrl', {
      description: names
        ? 'PUBLIC_BASE_SOCKET of the web client'
        : `Main socket at its execute-api host, with ?token= or Bearer only (no browser sends the cookie here); the web client uses ${forWebClient('PublicBaseSocket')}`,
      // The endpoint as API Gateway reports it (same as stage.url on AWS; emulators report their own host).
      value: names ? `wss://${names.mainSocket}/` : `${socket.api.apiEndpoint}/${socket.stage.stageName}`,
    });
    new CfnOutput(this, 'WorkspaceSocketUrl', {
      description: names
        ? `Workspace socket (socket.io) on the main socket's host: io('https://${names.mainSocket}', { path: '/${SOCKET_HOST_PATHS.workspaceSocket}', addTrailingSlash: false, transports: ['websocket'] })`
        : origin
          ? "Workspace socket (socket.io) at its execute-api host: io('<host>', { path: '/<stage>', addTrailingSlash: false, transports: ['websocket'] }); on the single origin it is PublicWorkspaceSocket"
          : "Workspace socket (socket.io): io('<host>', { path: '/<stage>', addTrailingSlash: false, transports: ['websocket'] })",
      value: names ? names.workspaceSocketUrl : workspaceSocket.url,
    });
    new CfnOutput(this, 'DeskSocketUrl', {
      description: config.desk
        ? "Desk socket (seed 004's /connect/): connect to <this>?token=<the OIDC access token>"
        : "Desk socket (seed 004's /connect/), off until DESK_OIDC_ISSUER and DESK_OIDC_AUDIENCE are given (-c, docs/deploy.md): it answers 404",
      value: names ? names.deskSocketUrl : deskSocket.url,
    });
    new CfnOutput(this, 'TableName', { value: table.table.tableName });
    new CfnOutput(this, 'FilesBucketName', { value: files.bucket.bucketName });
  }

  /**
   * The workspace socket's routes, its after-connect step (as the main socket's: $connect invokes the
   * `opened` function asynchronously, which posts the Engine.IO open packet once API Gateway accepts posts)
   * and its heartbeat, an EventBridge schedule (WORKSPACE_HEARTBEAT_RATE).
   */
  private wireWorkspaceSocket(api: DefaultOnlySocketApi, functions: Record<HandlerName, ChatFunction>): void {
    api.addRoutes({
      $connect: functions[WORKSPACE_SOCKET_ROUTE_HANDLERS.$connect].function,
      $disconnect: functions[WORKSPACE_SOCKET_ROUTE_HANDLERS.$disconnect].function,
      $default: functions[WORKSPACE_SOCKET_ROUTE_HANDLERS.$default].function,
    });
    const connect = functions[WORKSPACE_SOCKET_ROUTE_HANDLERS.$connect];
    const opened = functions.workspaceSocketOpened;
    connect.function.addEnvironment('WORKSPACE_OPENED_FUNCTION', opened.function.functionName);
    connect.role.addToPolicy(new iam.PolicyStatement({ actions: ['lambda:InvokeFunction'], resources: [opened.function.functionArn] }));
    new events.Rule(this, 'WorkspaceHeartbeat', {
      description: 'Workspace socket: server-sent Engine.IO pings and ping timeouts',
      schedule: events.Schedule.rate(WORKSPACE_HEARTBEAT_RATE),
      // A failed round is not retried: the next one comes a minute later and pings everyone anyway.
      targets: [new eventTargets.LambdaFunction(functions.workspaceHeartbeat.function, { retryAttempts: 0 })],
    });
  }

  /**
   * The only wildcards in this stack's policies sit at the end of ARNs that are otherwise fully scoped:
   * any stream of one log group, any connection of this API's stage, any object of the files bucket.
   */
  private suppressScopedWildcards(): void {
    NagSuppressions.addStackSuppressions(this, [
      {
        id: 'AwsSolutions-IAM5',
        reason: "Wildcards only at the end of scoped ARNs: log streams of one log group, connections of one of this stack's socket stages, objects of the files bucket.",
        appliesTo: [
          { regex: '/^Resource::<.*LogsLogGroup.*\\.Arn>:\\*$/g' },
          // The partition is a literal (`arn:aws:`) with the partition-literals feature flag, a reference without.
          { regex: '/^Resource::arn:(<AWS::Partition>|aws[a-z-]*):execute-api:[a-z0-9-]+:<AWS::AccountId>:<(MainSocket|WorkspaceSocket|DeskSocket)Api[A-Z0-9]+>\\/[^/]+\\/(POST|DELETE|GET)\\/@connections\\/\\*$/g' },
          { regex: '/^Resource::<FilesBucket.*\\.Arn>\\/\\*$/g' },
        ],
      },
    ]);
  }
}
