import { RemovalPolicy, Stack } from 'aws-cdk-lib';
import { AccessLogFormat } from 'aws-cdk-lib/aws-apigateway';
import * as apigwv2 from 'aws-cdk-lib/aws-apigatewayv2';
import { HttpLambdaIntegration, WebSocketLambdaIntegration } from 'aws-cdk-lib/aws-apigatewayv2-integrations';
import type { IFunction } from 'aws-cdk-lib/aws-lambda';
import * as logs from 'aws-cdk-lib/aws-logs';
import { NagSuppressions } from 'cdk-nag';
import { Construct } from 'constructs';
import { MAIN_SOCKET_ROUTES, type MainSocketRoute, ROUTE_SELECTION_EXPRESSION } from '../lambdas/socket/routes';

/** Access-log lines carry ids, routes and statuses, never query strings (they may hold `?token=`). */
const SOCKET_ACCESS_LOG = AccessLogFormat.custom(
  JSON.stringify({
    requestId: '$context.requestId',
    time: '$context.requestTime',
    ip: '$context.identity.sourceIp',
    connectionId: '$context.connectionId',
    eventType: '$context.eventType',
    routeKey: '$context.routeKey',
    status: '$context.status',
    error: '$context.error.message',
    integrationError: '$context.integrationErrorMessage',
  }),
);

const REST_ACCESS_LOG = AccessLogFormat.custom(
  JSON.stringify({
    requestId: '$context.requestId',
    time: '$context.requestTime',
    ip: '$context.identity.sourceIp',
    method: '$context.httpMethod',
    path: '$context.path',
    status: '$context.status',
    latencyMs: '$context.responseLatency',
    bytes: '$context.responseLength',
    integrationError: '$context.integrationErrorMessage',
  }),
);

const AUTHORIZATION_IN_HANDLERS =
  'Authentication is the handlers\' job: session tokens come from the cookie, a Bearer header or ?token= (docs/upstream.md), and login/register must stay open; API Gateway authorizers cannot read that cookie contract.';

export interface StageSettings {
  throttle: apigwv2.ThrottleSettings;
  logRetention: logs.RetentionDays;
}

function accessLogGroup(scope: Construct, logRetention: logs.RetentionDays): logs.LogGroup {
  return new logs.LogGroup(scope, 'AccessLogs', { retention: logRetention, removalPolicy: RemovalPolicy.DESTROY });
}

/** Where an API's stage is served on a custom domain: at its root, or at `/<path>` (one level, no slashes). */
export interface DomainMapping {
  domainName: apigwv2.IDomainName;
  path?: string;
}

/**
 * Maps the stage on its custom domain. Mapped here rather than with the stage's `domainMapping`, whose
 * mapping gets a logical id built from the domain's token and the absent mapping key (`...undefined`).
 */
function mapDomain(scope: Construct, api: apigwv2.IApi, stage: apigwv2.IStage, mapping: DomainMapping): void {
  new apigwv2.ApiMapping(scope, 'DomainMapping', { api, domainName: mapping.domainName, stage, apiMappingKey: mapping.path });
}

export interface SocketApiProps extends StageSettings {
  stageName: string;
  /** Access logs need API Gateway's account-wide CloudWatch role (lib/config.ts, ApiGatewayCloudWatchRole). */
  accessLogs: boolean;
  domainMapping?: DomainMapping;
}

/** What tells one WebSocket API of the stack from another. */
interface SocketApiIdentity {
  /** Appended to the stack name: the API's name in the console. */
  nameSuffix: string;
  description: string;
  routeSelectionExpression: string;
}

/**
 * An API Gateway WebSocket API whose routes each invoke their own Lambda. The stage comes first and the
 * routes after, because the handlers need the stage's management endpoint in their settings.
 */
abstract class LambdaSocketApi extends Construct {
  readonly api: apigwv2.WebSocketApi;
  readonly stage: apigwv2.WebSocketStage;

  protected constructor(scope: Construct, id: string, props: SocketApiProps & SocketApiIdentity) {
    super(scope, id);
    this.api = new apigwv2.WebSocketApi(this, 'Api', {
      // Named after the stack, so two stacks' APIs (and the sockets and REST of one) are told apart in the console.
      apiName: `${Stack.of(this).stackName}-${props.nameSuffix}`,
      description: props.description,
      routeSelectionExpression: props.routeSelectionExpression,
    });
    this.stage = new apigwv2.WebSocketStage(this, 'Stage', {
      webSocketApi: this.api,
      stageName: props.stageName,
      autoDeploy: true,
      throttle: props.throttle,
      accessLogSettings: props.accessLogs
        ? { destination: new apigwv2.LogGroupLogDestination(accessLogGroup(this, props.logRetention)), format: SOCKET_ACCESS_LOG }
        : undefined,
    });
    if (props.domainMapping) mapDomain(this, this.api, this.stage, props.domainMapping);
    if (!props.accessLogs) {
      NagSuppressions.addResourceSuppressions(this.stage, [
        {
          id: 'AwsSolutions-APIG1',
          reason: "Off by default: a WebSocket stage logs only through API Gateway's account-wide CloudWatch role, which this stack does not set unless asked (apiGatewayCloudWatchRole, docs/deploy.md); every route's Lambda logs its own invocations.",
        },
      ]);
    }
  }

  protected addLambdaRoute(route: string, handler: IFunction, authorization: string): void {
    const added = this.api.addRoute(route, { integration: new WebSocketLambdaIntegration(`${route}Integration`, handler) });
    NagSuppressions.addResourceSuppressions(added, [{ id: 'AwsSolutions-APIG4', reason: authorization }], true);
  }

  /** https://{apiId}.execute-api.{region}.amazonaws.com/{stage}: where events are posted to connections. */
  get managementEndpoint(): string {
    return this.stage.callbackUrl;
  }

  /** wss://{apiId}.execute-api.{region}.amazonaws.com/{stage}, as API Gateway reports it (emulators report their own host). */
  get url(): string {
    return `${this.api.apiEndpoint}/${this.stage.stageName}`;
  }

  /** `arn:...:execute-api:{region}:{account}:{apiId}/{stage}/{METHOD}/@connections/*` for each Management API method. */
  connectionArns(methods: readonly string[]): string[] {
    const stack = Stack.of(this);
    return methods.map((method) =>
      stack.formatArn({ service: 'execute-api', resource: this.api.apiId, resourceName: `${this.stage.stageName}/${method}/@connections/*` }),
    );
  }
}

/** The main socket (ZavodChat protocol): routes on `$request.body.name`. */
export class MainSocketApi extends LambdaSocketApi {
  constructor(scope: Construct, id: string, props: SocketApiProps) {
    super(scope, id, { ...props, nameSuffix: 'main-socket', description: 'ZavodChat main socket', routeSelectionExpression: ROUTE_SELECTION_EXPRESSION });
  }

  /** One route per entry of MAIN_SOCKET_ROUTES; the record type makes a route without a handler a compile error. */
  addRoutes(handlers: Record<MainSocketRoute, IFunction>): void {
    for (const route of MAIN_SOCKET_ROUTES) this.addLambdaRoute(route, handlers[route], AUTHORIZATION_IN_HANDLERS);
  }
}

/** The routes of a socket whose every frame goes to one handler (the workspace and desk sockets). */
export const DEFAULT_ONLY_SOCKET_ROUTES = ['$connect', '$disconnect', '$default'] as const;
export type DefaultOnlySocketRoute = (typeof DEFAULT_ONLY_SOCKET_ROUTES)[number];

/**
 * Any expression would do: with no route but the three, every frame reaches `$default`, JSON or not
 * (socket.io frames such as `42["auth",{...}]` are not JSON objects; a desk envelope names no route).
 */
export const DEFAULT_ONLY_ROUTE_SELECTION = '$request.body.action';

/**
 * A socket of another protocol (seed 003's socket.io workspace socket, seed 004's desk socket): its own API,
 * so its own connections, URL and Management API, with `$connect`, `$disconnect` and `$default` only.
 */
export class DefaultOnlySocketApi extends LambdaSocketApi {
  /** Why the routes have no API Gateway authorizer (cdk-nag AwsSolutions-APIG4). */
  private readonly authorization: string;

  constructor(scope: Construct, id: string, props: SocketApiProps & { nameSuffix: string; description: string; authorization: string }) {
    super(scope, id, { ...props, routeSelectionExpression: DEFAULT_ONLY_ROUTE_SELECTION });
    this.authorization = props.authorization;
  }

  addRoutes(handlers: Record<DefaultOnlySocketRoute, IFunction>): void {
    for (const route of DEFAULT_ONLY_SOCKET_ROUTES) this.addLambdaRoute(route, handlers[route], this.authorization);
  }
}

/**
 * A socket whose every upgrade is answered by `$connect` alone and refused (the voice wake, lib/voice-wake.ts):
 * no connection ever opens, so no other route could run.
 */
export class ConnectOnlySocketApi extends LambdaSocketApi {
  constructor(scope: Construct, id: string, props: SocketApiProps & { nameSuffix: string; description: string }) {
    super(scope, id, { ...props, routeSelectionExpression: DEFAULT_ONLY_ROUTE_SELECTION });
  }

  addConnectRoute(handler: IFunction, authorization: string): void {
    this.addLambdaRoute('$connect', handler, authorization);
  }
}

export interface RestApiProps extends StageSettings {
  handler: IFunction;
  domainName?: apigwv2.IDomainName;
}

/** REST: an HTTP API whose `$default` route sends every request to the one Hono Lambda (payload 2.0). */
export class RestApi extends Construct {
  readonly api: apigwv2.HttpApi;
  readonly stage: apigwv2.HttpStage;

  constructor(scope: Construct, id: string, props: RestApiProps) {
    super(scope, id);
    this.api = new apigwv2.HttpApi(this, 'Api', {
      apiName: `${Stack.of(this).stackName}-rest`,
      description: 'ZavodChat REST API',
      // CORS stays in the Lambda: it answers preflights for exactly the configured client origins.
      defaultIntegration: new HttpLambdaIntegration('RestIntegration', props.handler, {
        payloadFormatVersion: apigwv2.PayloadFormatVersion.VERSION_2_0,
      }),
      createDefaultStage: false,
    });
    this.stage = this.api.addStage('Stage', {
      stageName: '$default',
      autoDeploy: true,
      throttle: props.throttle,
      accessLogSettings: {
        destination: new apigwv2.LogGroupLogDestination(accessLogGroup(this, props.logRetention)),
        format: REST_ACCESS_LOG,
      },
    });
    if (props.domainName) mapDomain(this, this.api, this.stage, { domainName: props.domainName });
    NagSuppressions.addResourceSuppressions(this.api, [{ id: 'AwsSolutions-APIG4', reason: AUTHORIZATION_IN_HANDLERS }], true);
  }

  /** The execute-api URL of the `$default` stage, with a trailing slash as the client expects. */
  get url(): string {
    return `${this.api.apiEndpoint}/`;
  }
}
