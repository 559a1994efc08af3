/**
 * The sockets of the other protocols on AWS (issues 16 and 17): the workspace socket (seed 003, socket.io)
 * and the desk socket (seed 004) each get a WebSocket API of their own with `$connect`, `$disconnect` and
 * `$default`; the workspace socket's after-connect step and heartbeat schedule; who may post to which API
 * (least privilege: ManageConnections on one API's connections, per grant); the desk's OIDC settings from
 * context; outputs and the single origin's paths.
 */
import { Annotations, Match } from 'aws-cdk-lib/assertions';
import type { SynthesisMessage } from 'aws-cdk-lib/cx-api';
import { runInNewContext } from 'node:vm';
import { DEFAULT_WORKSPACE_SETTINGS } from '../../lambdas/protocols/workspace/context';
import { DEFAULT_ONLY_ROUTE_SELECTION, DEFAULT_ONLY_SOCKET_ROUTES } from '../../lib/apis';
import { configFromContext, DESK_CONTEXT_KEYS } from '../../lib/config';
import {
  DESK_SOCKET_ROUTE_HANDLERS,
  HANDLERS,
  type HandlerName,
  type HandlerSpec,
  WORKSPACE_SOCKET_ROUTE_HANDLERS,
} from '../../lib/lambda-functions';
import { ORIGIN_PATHS } from '../../lib/origin-paths';
import { WORKSPACE_HEARTBEAT_RATE } from '../../lib/zavodchat-stack';
import { SKIP_BUNDLING, SUPPORTED_CONFIGURATIONS } from './support/configurations';
import { actionsOf, logicalId, policyStatements, removeOutput, resourcesOf, resourcesOfType, type Synthesized, synthesize, userDataText } from './support/synth';

const COGNITO = SUPPORTED_CONFIGURATIONS['desk on Cognito'];

let withDesk: Synthesized;
let plain: Synthesized;

beforeAll(() => {
  // The default layout (single origin, media node) with the desk configured; then no desk, no media node,
  // and API Gateway's logging role created by the stack.
  withDesk = synthesize({ ...COGNITO, ...SKIP_BUNDLING });
  plain = synthesize({ deployMediaNode: 'false', apiGatewayCloudWatchRole: 'create', ...SKIP_BUNDLING });
}, 240_000);

afterAll(() => [withDesk, plain].forEach(removeOutput));

type SocketName = 'MainSocket' | 'WorkspaceSocket' | 'DeskSocket';
const SOCKETS: SocketName[] = ['MainSocket', 'WorkspaceSocket', 'DeskSocket'];
const apiIdOf = (s: Synthesized, socket: SocketName) => logicalId(s.stack.node.findChild(socket).node.findChild('Api'));
const functionId = (s: Synthesized, name: HandlerName) => logicalId(s.stack.functions[name].function);
const roleId = (s: Synthesized, name: HandlerName) => logicalId(s.stack.functions[name].role);
const variablesOf = (s: Synthesized, name: HandlerName) =>
  (resourcesOfType(s.template, 'AWS::Lambda::Function')[functionId(s, name)].Properties.Environment as { Variables: Record<string, unknown> }).Variables;
const handlerNames = Object.keys(HANDLERS) as HandlerName[];
const spec = (name: HandlerName): HandlerSpec => HANDLERS[name];

/** Which socket APIs a role may call ManageConnections on, with which methods: `{WorkspaceSocket: ['DELETE', 'POST']}`. */
function manageConnectionsOf(s: Synthesized, role: string): Partial<Record<SocketName, string[]>> {
  const found: Partial<Record<SocketName, string[]>> = {};
  for (const { roles, statement } of policyStatements(s.template)) {
    if (!roles.includes(`"${role}"`) || !actionsOf(statement).includes('execute-api:ManageConnections')) continue;
    for (const resource of resourcesOf(statement)) {
      const text = JSON.stringify(resource);
      const apis = SOCKETS.filter((socket) => text.includes(`{"Ref":"${apiIdOf(s, socket)}"}`));
      // Each ARN names exactly one API, its stage, one method and its connections.
      expect({ text, apis: apis.length }).toEqual({ text, apis: 1 });
      const method = /\/live\/(POST|DELETE|GET)\/@connections\/\*"/.exec(text)?.[1];
      expect({ text, method }).toEqual({ text, method: expect.any(String) });
      (found[apis[0]] ??= []).push(method!);
    }
  }
  for (const methods of Object.values(found)) methods.sort();
  return found;
}

describe.each(['WorkspaceSocket', 'DeskSocket'] as const)('%s (WebSocket API)', (socket) => {
  const routeHandlers = socket === 'WorkspaceSocket' ? WORKSPACE_SOCKET_ROUTE_HANDLERS : DESK_SOCKET_ROUTE_HANDLERS;
  const name = socket === 'WorkspaceSocket' ? 'workspace-socket' : 'desk-socket';

  test('is an API of its own, named after the stack, with exactly $connect, $disconnect and $default, each to its Lambda', () => {
    const { template } = withDesk;
    const apis = resourcesOfType(template, 'AWS::ApiGatewayV2::Api');
    expect(apis[apiIdOf(withDesk, socket)].Properties).toMatchObject({
      Name: `ZavodChat-${name}`,
      ProtocolType: 'WEBSOCKET',
      RouteSelectionExpression: DEFAULT_ONLY_ROUTE_SELECTION,
    });
    const routes = Object.values(template.findResources('AWS::ApiGatewayV2::Route', { Properties: { ApiId: { Ref: apiIdOf(withDesk, socket) } } }));
    expect(routes.map((r) => r.Properties.RouteKey).sort()).toEqual([...DEFAULT_ONLY_SOCKET_ROUTES].sort());
    const integrations = resourcesOfType(template, 'AWS::ApiGatewayV2::Integration');
    for (const route of routes) {
      const target = JSON.stringify(route.Properties.Target);
      const [integrationId] = Object.keys(integrations).filter((id) => target.includes(`"${id}"`));
      const integration = integrations[integrationId].Properties;
      expect(integration.ApiId).toEqual({ Ref: apiIdOf(withDesk, socket) });
      expect(integration.IntegrationType).toBe('AWS_PROXY');
      const handler = routeHandlers[route.Properties.RouteKey as keyof typeof routeHandlers];
      expect(JSON.stringify(integration.IntegrationUri)).toContain(`"${functionId(withDesk, handler)}"`);
    }
    // API Gateway may invoke each route's function, from this API (the integration's own permission).
    for (const handler of Object.values(routeHandlers)) {
      const permissions = Object.values(
        template.findResources('AWS::Lambda::Permission', {
          Properties: { Principal: 'apigateway.amazonaws.com', FunctionName: { 'Fn::GetAtt': [functionId(withDesk, handler), 'Arn'] } },
        }),
      );
      expect(permissions.map((p) => JSON.stringify(p.Properties.SourceArn).includes(`{"Ref":"${apiIdOf(withDesk, socket)}"}`))).toEqual([true]);
    }
  });

  test('has an auto-deployed, throttled stage; access logs and the account role\'s dependency when asked', () => {
    const stageOf = (s: Synthesized) => {
      const stages = s.template.findResources('AWS::ApiGatewayV2::Stage', { Properties: { ApiId: { Ref: apiIdOf(s, socket) } } });
      expect(Object.values(stages)).toHaveLength(1);
      return Object.values(stages)[0] as { Properties: Record<string, unknown>; DependsOn?: string[] };
    };
    expect(stageOf(withDesk).Properties).toMatchObject({
      StageName: 'live',
      AutoDeploy: true,
      DefaultRouteSettings: { ThrottlingRateLimit: 500, ThrottlingBurstLimit: 1000 },
    });
    expect(stageOf(withDesk).Properties.AccessLogSettings).toBeUndefined();
    const [accountId] = Object.keys(resourcesOfType(plain.template, 'AWS::ApiGateway::Account'));
    expect(stageOf(plain).DependsOn).toContain(accountId);
    // No query string in the log line: the desk's `?token=` must never be written down.
    expect(stageOf(plain).Properties.AccessLogSettings).toEqual({ DestinationArn: expect.anything(), Format: expect.not.stringContaining('querystring') });
    expect(JSON.stringify(stageOf(plain).Properties.AccessLogSettings)).not.toMatch(/token|queryString|context\.path/i);
  });

  test('its URL is an output (execute-api host and stage)', () => {
    const outputs = withDesk.template.toJSON().Outputs as Record<string, { Value: unknown }>;
    const output = socket === 'WorkspaceSocket' ? 'WorkspaceSocketUrl' : 'DeskSocketUrl';
    expect(outputs[output].Value).toEqual({ 'Fn::Join': ['', [{ 'Fn::GetAtt': [apiIdOf(withDesk, socket), 'ApiEndpoint'] }, '/live']] });
  });
});

describe('who may post to which socket (least privilege)', () => {
  test('each handler\'s role has ManageConnections on exactly the APIs of its grants, with only their methods', () => {
    for (const name of handlerNames) {
      const grants = spec(name).grants as readonly string[];
      const expected: Partial<Record<SocketName, string[]>> = {};
      if (grants.includes('connections')) expected.MainSocket = ['DELETE', 'GET', 'POST'];
      if (grants.includes('workspaceConnections')) expected.WorkspaceSocket = ['DELETE', 'POST'];
      if (grants.includes('deskConnections')) expected.DeskSocket = ['DELETE', 'POST'];
      expect({ name, apis: manageConnectionsOf(withDesk, roleId(withDesk, name)) }).toEqual({ name, apis: expected });
    }
  });

  test('every publisher of domain events reaches workspace connections: REST, the main and workspace socket handlers, the heartbeat, the offline check', () => {
    const workspace = handlerNames.filter((name) => (spec(name).grants as readonly string[]).includes('workspaceConnections'));
    expect(workspace.sort()).toEqual(
      [
        'rest',
        'mainSocketConnect',
        'mainSocketDisconnect',
        'mainSocketOpened',
        'workspaceSocketOpened',
        'workspaceSocketDefault',
        'workspaceSocketDisconnect',
        'workspaceHeartbeat',
        // Announces the offline of a user whose grace ran out, on both protocols.
        'presenceOffline',
      ].sort(),
    );
    const desk = handlerNames.filter((name) => (spec(name).grants as readonly string[]).includes('deskConnections'));
    expect(desk.sort()).toEqual(['rest', 'deskSocketConnect', 'deskSocketDisconnect', 'deskSocketDefault'].sort());
  });

  test('the media node posts voice events to the main and workspace sockets, POST only, and nothing to the desk', () => {
    const mediaRole = logicalId(withDesk.stack.node.findChild('Media').node.findChild('Role'));
    expect(manageConnectionsOf(withDesk, mediaRole)).toEqual({ MainSocket: ['POST'], WorkspaceSocket: ['POST'] });
    const script = userDataText(withDesk.template);
    expect(script).toContain(`'WORKSPACE_MANAGEMENT_ENDPOINT=https://\${{"Ref":"${apiIdOf(withDesk, 'WorkspaceSocket')}"}}.execute-api.`);
    expect(script).not.toContain('DESK_');
  });

  test('the scheduled media check publishes nothing: no endpoint of the workspace or desk socket', () => {
    const check = logicalId(withDesk.stack.node.findChild('MediaLifecycle').node.findChild('Check').node.findChild('Function'));
    const variables = (resourcesOfType(withDesk.template, 'AWS::Lambda::Function')[check].Properties.Environment as { Variables: Record<string, unknown> }).Variables;
    expect(variables).not.toHaveProperty('WORKSPACE_MANAGEMENT_ENDPOINT');
    expect(variables).not.toHaveProperty('DESK_MANAGEMENT_ENDPOINT');
  });
});

describe('management endpoints in the environment', () => {
  const endpointOf = (s: Synthesized, socket: SocketName) => ({
    'Fn::Join': ['', ['https://', { Ref: apiIdOf(s, socket) }, '.execute-api.us-east-1.', { Ref: 'AWS::URLSuffix' }, '/live']],
  });

  test('WORKSPACE_MANAGEMENT_ENDPOINT and DESK_MANAGEMENT_ENDPOINT go with the grant to use them, and name their own API', () => {
    for (const name of handlerNames) {
      const grants = spec(name).grants as readonly string[];
      const variables = variablesOf(withDesk, name);
      const workspace = grants.includes('workspaceConnections') || (spec(name).settings ?? []).includes('workspaceEndpoint');
      expect({ name, workspace: variables.WORKSPACE_MANAGEMENT_ENDPOINT }).toEqual({ name, workspace: workspace ? endpointOf(withDesk, 'WorkspaceSocket') : undefined });
      expect({ name, desk: variables.DESK_MANAGEMENT_ENDPOINT }).toEqual({ name, desk: grants.includes('deskConnections') ? endpointOf(withDesk, 'DeskSocket') : undefined });
    }
  });

  test('the workspace $connect builds its context but may not post: the endpoint without the grant', () => {
    expect(spec('workspaceSocketConnect').grants).not.toContain('workspaceConnections');
    expect(variablesOf(withDesk, 'workspaceSocketConnect').WORKSPACE_MANAGEMENT_ENDPOINT).toBeDefined();
  });
});

describe('workspace socket: open packet and heartbeat', () => {
  test('$connect hands the open packet to the `opened` function, asynchronously, and may invoke that function only', () => {
    expect(variablesOf(withDesk, 'workspaceSocketConnect').WORKSPACE_OPENED_FUNCTION).toEqual({ Ref: functionId(withDesk, 'workspaceSocketOpened') });
    const invokes = policyStatements(withDesk.template).filter(({ statement }) => actionsOf(statement).includes('lambda:InvokeFunction'));
    const byConnect = invokes.filter(({ roles }) => roles.includes(`"${roleId(withDesk, 'workspaceSocketConnect')}"`));
    expect(byConnect.map(({ statement }) => statement.Resource)).toEqual([{ 'Fn::GetAtt': [functionId(withDesk, 'workspaceSocketOpened'), 'Arn'] }]);
    expect(spec('workspaceSocketOpened').asynchronous).toBe(true);
  });

  test('an EventBridge rule runs the heartbeat every minute, without retries', () => {
    const rules = Object.values(resourcesOfType(withDesk.template, 'AWS::Events::Rule')).filter((rule) =>
      JSON.stringify(rule.Properties.Targets).includes(`"${functionId(withDesk, 'workspaceHeartbeat')}"`),
    );
    expect(rules).toHaveLength(1);
    expect(rules[0].Properties).toMatchObject({
      ScheduleExpression: 'rate(1 minute)',
      State: 'ENABLED',
      Targets: [{ Arn: { 'Fn::GetAtt': [functionId(withDesk, 'workspaceHeartbeat'), 'Arn'] }, RetryPolicy: { MaximumRetryAttempts: 0 } }],
    });
    withDesk.template.hasResourceProperties('AWS::Lambda::Permission', {
      Action: 'lambda:InvokeFunction',
      Principal: 'events.amazonaws.com',
      FunctionName: { 'Fn::GetAtt': [functionId(withDesk, 'workspaceHeartbeat'), 'Arn'] },
    });
    // Also without the media node (no other schedule then).
    expect(Object.keys(resourcesOfType(plain.template, 'AWS::Events::Rule'))).toHaveLength(1);
  });

  test('the schedule fits the ping settings the open packet announces', () => {
    const rateMs = WORKSPACE_HEARTBEAT_RATE.toMilliseconds();
    const { pingIntervalMs, pingTimeoutMs } = DEFAULT_WORKSPACE_SETTINGS;
    // A round per ping interval at most, so that a pong is never older than one interval...
    expect(rateMs).toBeLessThanOrEqual(pingIntervalMs);
    // ...and a client (which closes after pingInterval + pingTimeout without a ping) survives one late round.
    expect(pingIntervalMs + pingTimeoutMs).toBeGreaterThanOrEqual(2 * rateMs);
    // A round ends before the next begins; API Gateway's idle timeout (10 min) is far above one ping a minute.
    expect(spec('workspaceHeartbeat').timeoutSeconds! * 1000).toBeLessThan(rateMs);
    expect(rateMs).toBeLessThan(10 * 60_000);
    // The stack leaves the announced settings at their defaults, the ones this schedule is designed for.
    for (const name of handlerNames) {
      expect(variablesOf(withDesk, name)).not.toHaveProperty('WORKSPACE_PING_INTERVAL_MS');
      expect(variablesOf(withDesk, name)).not.toHaveProperty('WORKSPACE_PING_TIMEOUT_MS');
    }
  });
});

describe('desk sign-in settings (context, the same names as locally)', () => {
  const DESK_VARIABLES = [...DESK_CONTEXT_KEYS].sort();

  test('REST and the desk $connect get all five, defaults filled in; no other function gets any', () => {
    for (const name of handlerNames) {
      const variables = variablesOf(withDesk, name);
      const present = DESK_VARIABLES.filter((key) => key in variables);
      const expected = name === 'rest' || name === 'deskSocketConnect' ? DESK_VARIABLES : [];
      expect({ name, present }).toEqual({ name, present: expected });
    }
    expect(Object.fromEntries(DESK_VARIABLES.map((key) => [key, variablesOf(withDesk, 'rest')[key]]))).toEqual({
      DESK_OIDC_ISSUER: COGNITO.DESK_OIDC_ISSUER,
      DESK_OIDC_AUDIENCE: COGNITO.DESK_OIDC_AUDIENCE,
      DESK_ROLES_CLAIM: 'cognito:groups',
      DESK_CURATOR_ROLE: 'curator',
      DESK_ADMIN_ROLE: 'desk-admin',
    });
  });

  test('without them the desk is off: no function has any DESK_OIDC setting, and the desk socket URL says so', () => {
    for (const name of handlerNames) {
      expect({ name, present: DESK_VARIABLES.filter((key) => key in variablesOf(plain, name)) }).toEqual({ name, present: [] });
    }
    const outputs = plain.template.toJSON().Outputs as Record<string, { Description: string }>;
    expect(outputs.DeskSocketUrl.Description).toMatch(/off until DESK_OIDC_ISSUER/);
  });

  test('are checked at synth by the handlers\' own rules', () => {
    const read = (context: Record<string, unknown>) => () => configFromContext((key) => context[key], {}).desk;
    expect(read({ DESK_OIDC_ISSUER: 'https://id.example.com/realms/desk', DESK_OIDC_AUDIENCE: 'desk' })()).toEqual({
      issuer: 'https://id.example.com/realms/desk',
      audience: 'desk',
      rolesClaim: 'realm_access.roles',
      curatorRole: 'curator',
      adminRole: 'desk-admin',
    });
    expect(read({})()).toBeUndefined();
    expect(read({ DESK_OIDC_ISSUER: 'https://id.example.com/realms/desk' })).toThrow(/DESK_OIDC_AUDIENCE must be set/);
    expect(read({ DESK_OIDC_ISSUER: 'ftp://id.example.com', DESK_OIDC_AUDIENCE: 'desk' })).toThrow(/DESK_OIDC_ISSUER must be an http\(s\) URL/);
    expect(read({ DESK_OIDC_ISSUER: 'http://id.example.com', DESK_OIDC_AUDIENCE: 'desk' })).toThrow(/must be an https URL on AWS/);
    expect(read({ DESK_OIDC_AUDIENCE: 'desk' })).toThrow(/needs 'DESK_OIDC_ISSUER'/);
    expect(read({ DESK_OIDC_ISSUER: 'https://id.example.com', DESK_OIDC_AUDIENCE: '' })).toThrow(/DESK_OIDC_AUDIENCE/);
  });
});

describe('single origin', () => {
  const distribution = (s: Synthesized) =>
    Object.values(resourcesOfType(s.template, 'AWS::CloudFront::Distribution'))[0].Properties.DistributionConfig as {
      CacheBehaviors: Array<{ PathPattern: string; TargetOriginId: string; CachePolicyId: string; OriginRequestPolicyId: string; FunctionAssociations: unknown[] }>;
      Origins: Array<{ Id: string; DomainName: unknown }>;
    };

  test.each([
    ['WorkspaceSocket', ORIGIN_PATHS.workspaceSocket],
    ['DeskSocket', ORIGIN_PATHS.deskSocket],
  ] as const)('%s is served at %s through its own API, as the main socket at /socket', (socket, path) => {
    const config = distribution(withDesk);
    const main = config.CacheBehaviors.find((b) => b.PathPattern === ORIGIN_PATHS.mainSocket)!;
    const own = config.CacheBehaviors.find((b) => b.PathPattern === `${path}*`)!;
    expect(own).toBeDefined();
    // The same policies as the main socket's: nothing cached, every viewer header but Host, the viewer-request function.
    const { PathPattern: _a, TargetOriginId: _b, ...mainPolicies } = main;
    const { PathPattern: _c, TargetOriginId: _d, ...ownPolicies } = own;
    expect(ownPolicies).toEqual(mainPolicies);
    const origin = config.Origins.find((o) => o.Id === own.TargetOriginId)!;
    expect(JSON.stringify(origin.DomainName)).toContain(`{"Ref":"${apiIdOf(withDesk, socket)}"},".execute-api.`);
  });

  test('the viewer-request function maps /socket.io/ and /connect/ to their stages', () => {
    const [fn] = Object.values(resourcesOfType(withDesk.template, 'AWS::CloudFront::Function'));
    const code = fn.Properties.FunctionCode as string;
    const handler = runInNewContext(`${code}\nhandler`, {}) as (event: unknown) => { uri: string };
    const uri = (path: string) => handler({ request: { uri: path, querystring: {}, headers: {} } }).uri;
    expect([uri('/socket.io/'), uri('/connect/'), uri('/socket')]).toEqual(['/live', '/live', '/live']);
  });

  test('outputs: the socket.io origin and the desk socket on the single origin', () => {
    const outputs = withDesk.template.toJSON().Outputs as Record<string, { Value: unknown }>;
    const domain = { 'Fn::GetAtt': [logicalId(withDesk.stack.node.findChild('Origin').node.findChild('Distribution')), 'DomainName'] };
    expect(outputs.PublicWorkspaceSocket.Value).toEqual({ 'Fn::Join': ['', ['https://', domain]] });
    expect(outputs.PublicDeskSocket.Value).toEqual({ 'Fn::Join': ['', ['wss://', domain, '/connect/']] });
  });
});

test('cdk-nag AwsSolutions: no unsuppressed error or warning with the desk configured', () => {
  const annotations = Annotations.fromStack(withDesk.stack);
  const summary = (findings: SynthesisMessage[]) => findings.map((f) => `${f.id}: ${String(f.entry.data)}`);
  expect(summary(annotations.findError('*', Match.stringLikeRegexp('AwsSolutions-.*')))).toEqual([]);
  expect(summary(annotations.findWarning('*', Match.stringLikeRegexp('AwsSolutions-.*')))).toEqual([]);
});
