import { Annotations, Match } from 'aws-cdk-lib/assertions';
import type { SynthesisMessage } from 'aws-cdk-lib/cx-api';
import { DEFAULT_PARAMS, PAY_PER_USE_MAX_VIDEO_BITRATE } from '../../lambdas/domain/config';
import { TABLE_DEFINITION } from '../../lambdas/domain/table';
import { MAIN_SOCKET_ROUTES, ROUTE_SELECTION_EXPRESSION } from '../../lambdas/socket/routes';
import { worstCaseCallMs } from '../../lambdas/aws/dynamodb-store';
import { HANDLERS, type HandlerName, type HandlerSpec, MAIN_SOCKET_ROUTE_HANDLERS } from '../../lib/lambda-functions';
import { TABLE_ITEM_ACTIONS } from '../../lib/storage';
import {
  actionsOf,
  logicalId,
  policyStatements,
  removeOutput,
  resourcesOf,
  resourcesOfType,
  type Synthesized,
  synthesize,
  userDataText,
} from './support/synth';

let synthesized: Synthesized;

beforeAll(() => {
  synthesized = synthesize();
}, 120_000);

afterAll(() => removeOutput(synthesized));

const functionId = (name: HandlerName) => logicalId(synthesized.stack.functions[name].function);
const roleId = (name: HandlerName) => logicalId(synthesized.stack.functions[name].role);

describe('synthesis', () => {
  test('needs no context lookups (no AWS account, no network)', () => {
    expect(synthesized.assembly.manifest.missing ?? []).toEqual([]);
  });

  test('cdk-nag AwsSolutions reports no unsuppressed error or warning', () => {
    const annotations = Annotations.fromStack(synthesized.stack);
    const summary = (findings: SynthesisMessage[]) => findings.map((f) => `${f.id}: ${String(f.entry.data)}`);
    expect(summary(annotations.findError('*', Match.stringLikeRegexp('AwsSolutions-.*')))).toEqual([]);
    expect(summary(annotations.findWarning('*', Match.stringLikeRegexp('AwsSolutions-.*')))).toEqual([]);
  });
});

describe('main socket (WebSocket API)', () => {
  test('routes on $request.body.name, one Lambda integration per route', () => {
    const { template } = synthesized;
    template.hasResourceProperties('AWS::ApiGatewayV2::Api', {
      ProtocolType: 'WEBSOCKET',
      RouteSelectionExpression: ROUTE_SELECTION_EXPRESSION,
    });
    const socketApiId = logicalId(synthesized.stack.node.findChild('MainSocket').node.findChild('Api'));
    const routes = template.findResources('AWS::ApiGatewayV2::Route', { Properties: { ApiId: { Ref: socketApiId } } });
    expect(Object.keys(routes)).toHaveLength(MAIN_SOCKET_ROUTES.length);
    const integrations = resourcesOfType(template, 'AWS::ApiGatewayV2::Integration');
    for (const routeKey of MAIN_SOCKET_ROUTES) {
      const found = Object.values(routes).filter((r) => r.Properties.RouteKey === routeKey);
      expect(found).toHaveLength(1);
      const target = JSON.stringify(found[0].Properties.Target);
      const [integrationId] = Object.keys(integrations).filter((id) => target.includes(`"${id}"`));
      const integration = integrations[integrationId].Properties;
      expect(integration.IntegrationType).toBe('AWS_PROXY');
      expect(JSON.stringify(integration.IntegrationUri)).toContain(`"${functionId(MAIN_SOCKET_ROUTE_HANDLERS[routeKey])}"`);
    }
  });

  test('has an auto-deployed, throttled stage, without access log by default', () => {
    // The access log needs API Gateway's account-wide CloudWatch role, which the stack sets only when asked:
    // test/cdk/hardening.test.ts checks the log (with its format) and the role for 'existing' and 'create'.
    synthesized.template.hasResourceProperties('AWS::ApiGatewayV2::Stage', {
      StageName: 'live',
      AutoDeploy: true,
      DefaultRouteSettings: { ThrottlingRateLimit: Match.anyValue(), ThrottlingBurstLimit: Match.anyValue() },
      AccessLogSettings: Match.absent(),
    });
    synthesized.template.resourceCountIs('AWS::ApiGateway::Account', 0);
  });
});

describe('REST (HTTP API)', () => {
  test('sends every request ($default route) to the REST Lambda with payload 2.0', () => {
    const { template } = synthesized;
    template.hasResourceProperties('AWS::ApiGatewayV2::Api', { ProtocolType: 'HTTP' });
    template.hasResourceProperties('AWS::ApiGatewayV2::Route', { RouteKey: '$default' });
    template.hasResourceProperties('AWS::ApiGatewayV2::Integration', {
      IntegrationType: 'AWS_PROXY',
      PayloadFormatVersion: '2.0',
      IntegrationUri: { 'Fn::GetAtt': [functionId('rest'), 'Arn'] },
    });
    template.hasResourceProperties('AWS::ApiGatewayV2::Stage', { StageName: '$default', AutoDeploy: true, AccessLogSettings: Match.anyValue() });
  });
});

describe('table', () => {
  test('is built from the shared definition: keys, GSI, TTL', () => {
    const d = TABLE_DEFINITION;
    const [gsi] = d.globalSecondaryIndexes;
    synthesized.template.hasResourceProperties('AWS::DynamoDB::Table', {
      KeySchema: [
        { AttributeName: d.partitionKey, KeyType: 'HASH' },
        { AttributeName: d.sortKey, KeyType: 'RANGE' },
      ],
      AttributeDefinitions: Match.arrayWith([{ AttributeName: gsi.partitionKey, AttributeType: 'S' }, { AttributeName: gsi.sortKey, AttributeType: 'S' }]),
      GlobalSecondaryIndexes: [
        {
          IndexName: gsi.indexName,
          KeySchema: [
            { AttributeName: gsi.partitionKey, KeyType: 'HASH' },
            { AttributeName: gsi.sortKey, KeyType: 'RANGE' },
          ],
          Projection: { ProjectionType: 'ALL' },
        },
      ],
      TimeToLiveSpecification: { AttributeName: d.ttlAttribute, Enabled: true },
      BillingMode: 'PAY_PER_REQUEST',
      PointInTimeRecoverySpecification: { PointInTimeRecoveryEnabled: true },
      DeletionProtectionEnabled: true,
    });
    synthesized.template.hasResource('AWS::DynamoDB::Table', { DeletionPolicy: 'Retain' });
  });
});

describe('Lambda functions', () => {
  test('a function that reads the table outlives one DynamoDB call against a hung table, within API Gateway\'s 29 s', () => {
    const functions = resourcesOfType(synthesized.template, 'AWS::Lambda::Function');
    for (const name of Object.keys(HANDLERS) as HandlerName[]) {
      const spec: HandlerSpec = HANDLERS[name];
      if (!spec.grants.includes('table')) continue;
      const timeout = Number(functions[functionId(name)].Properties.Timeout);
      const withinGateway = spec.asynchronous ? true : timeout <= 29;
      expect({ name, longEnough: timeout * 1000 > worstCaseCallMs(), withinGateway }).toEqual({ name, longEnough: true, withinGateway: true });
    }
  });

  test('every handler is a Node.js 22 arm64 function with the shared settings', () => {
    const functions = resourcesOfType(synthesized.template, 'AWS::Lambda::Function');
    // Every handler, plus the media node's idle check (test/cdk/media-node-lifecycle.test.ts).
    const idleCheckId = logicalId(synthesized.stack.node.findChild('MediaLifecycle').node.findChild('Check').node.findChild('Function'));
    expect(Object.keys(functions).sort()).toEqual([...(Object.keys(HANDLERS) as HandlerName[]).map(functionId), idleCheckId].sort());
    for (const fn of Object.values(functions)) {
      expect(fn.Properties).toMatchObject({ Runtime: 'nodejs22.x', Architectures: ['arm64'], Handler: 'index.handler' });
      const variables = (fn.Properties.Environment as { Variables: Record<string, unknown> }).Variables;
      expect(Object.keys(variables)).toEqual(expect.arrayContaining(['TABLE_NAME', 'WS_MANAGEMENT_ENDPOINT', 'CORS_ORIGINS', 'NODE_OPTIONS']));
      expect(variables.MAX_GET_COUNT).toBe(String(DEFAULT_PARAMS.max_get_count));
      expect(variables.MAX_VIDEO_BITRATE).toBe(String(PAY_PER_USE_MAX_VIDEO_BITRATE));
      expect(variables.WS_PORT).toBe('443');
      expect(variables.WS_VC_PORT).toBe('443');
      expect(variables).not.toHaveProperty('COOKIE_DOMAIN');
      expect(JSON.stringify(variables.WS_MANAGEMENT_ENDPOINT)).toMatch(/https:\/\/.*execute-api.*\/live/);
    }
  });

  test('every function has its own log group with a retention', () => {
    const groups = resourcesOfType(synthesized.template, 'AWS::Logs::LogGroup');
    for (const fn of Object.values(resourcesOfType(synthesized.template, 'AWS::Lambda::Function'))) {
      const group = JSON.stringify(fn.Properties.LoggingConfig);
      const [groupId] = Object.keys(groups).filter((id) => group.includes(`"${id}"`));
      expect(groups[groupId].Properties.RetentionInDays).toBe(30);
    }
  });
});

describe('IAM', () => {
  test('no statement anywhere grants on the bare "*" resource', () => {
    for (const { policy, statement } of policyStatements(synthesized.template)) {
      expect({ policy, resources: resourcesOf(statement) }).toEqual({ policy, resources: expect.not.arrayContaining(['*']) });
    }
  });

  test('DynamoDB actions are scoped to the table and its index, ManageConnections to one socket API stage', () => {
    const tableId = Object.keys(resourcesOfType(synthesized.template, 'AWS::DynamoDB::Table'))[0];
    // The main socket, and the workspace and desk sockets (test/cdk/protocol-sockets.test.ts: which role gets which).
    const socketApiIds = ['MainSocket', 'WorkspaceSocket', 'DeskSocket'].map((id) => logicalId(synthesized.stack.node.findChild(id).node.findChild('Api')));
    let dynamoStatements = 0;
    let connectionStatements = 0;
    for (const { statement } of policyStatements(synthesized.template)) {
      const actions = actionsOf(statement);
      for (const resource of resourcesOf(statement)) {
        const text = JSON.stringify(resource);
        if (actions.some((a) => a.startsWith('dynamodb:'))) {
          dynamoStatements++;
          expect(text).toContain(`"${tableId}"`);
          expect(text.endsWith('Arn"]}') || text.includes(`/index/${TABLE_DEFINITION.globalSecondaryIndexes[0].indexName}"`)).toBe(true);
        }
        if (actions.includes('execute-api:ManageConnections')) {
          connectionStatements++;
          expect(socketApiIds.filter((id) => text.includes(`{"Ref":"${id}"}`))).toHaveLength(1);
          // GET: `$connect` probes the holders of a full connection cap (docs/security.md).
          expect(text).toMatch(/\/live\/(POST|DELETE|GET)\/@connections\/\*"/);
        }
      }
    }
    expect(dynamoStatements).toBeGreaterThan(0);
    expect(connectionStatements).toBeGreaterThan(0);
  });

  test('each role gets only its handler\'s grants', () => {
    const statementsOf = (name: HandlerName) =>
      policyStatements(synthesized.template)
        .filter(({ roles }) => roles.includes(`"${roleId(name)}"`))
        .flatMap(({ statement }) => actionsOf(statement));
    // The socket handlers' frame budget: UpdateItem of rate-limit counters (RATE# keys only), error event, close.
    expect(statementsOf('mainSocketPing').sort()).toEqual(['dynamodb:UpdateItem', 'execute-api:ManageConnections', 'logs:CreateLogStream', 'logs:PutLogEvents']);
    for (const name of ['mainSocketPing', 'mainSocketDefault'] as const) {
      const updates = policyStatements(synthesized.template).filter(({ roles, statement }) => roles.includes(`"${roleId(name)}"`) && actionsOf(statement).includes('dynamodb:UpdateItem'));
      expect(updates.map(({ statement }) => (statement as { Condition?: unknown }).Condition)).toEqual([{ 'ForAllValues:StringLike': { 'dynamodb:LeadingKeys': ['RATE#*'] } }]);
    }
    expect(statementsOf('mainSocketDefault')).not.toEqual(expect.arrayContaining(['dynamodb:GetItem']));
    expect(statementsOf('mainSocketDefault')).toContain('execute-api:ManageConnections');
    expect(statementsOf('mainSocketConnect')).toEqual(expect.arrayContaining([...TABLE_ITEM_ACTIONS, 'dynamodb:Query', 'execute-api:ManageConnections']));
    expect(statementsOf('rest')).toEqual(expect.arrayContaining(['s3:PutObject', 'dynamodb:PutItem', 'dynamodb:ConditionCheckItem', 'secretsmanager:GetSecretValue']));
    // Not an IAM action (cfn-lint W3037): transactions are authorized per element.
    expect(statementsOf('rest')).not.toContain('dynamodb:TransactWriteItems');
  });

  test('no role carries an AWS-managed policy but the media node\'s Session Manager policy (API Gateway\'s logging role, which has one, is opt-in)', () => {
    const roles = resourcesOfType(synthesized.template, 'AWS::IAM::Role');
    const managed = Object.values(roles).flatMap((r) => (r.Properties.ManagedPolicyArns as unknown[] | undefined) ?? []);
    expect(managed.map((arn) => JSON.stringify(arn))).toEqual([expect.stringContaining(':iam::aws:policy/AmazonSSMManagedInstanceCore')]);
    const mediaRoleId = logicalId(synthesized.stack.node.findChild('Media').node.findChild('Role'));
    expect(JSON.stringify(roles[mediaRoleId].Properties.ManagedPolicyArns)).toContain('AmazonSSMManagedInstanceCore');
  });
});

describe('media node', () => {
  test('security group opens the voice port, the control port and one UDP and TCP port range, nothing else', () => {
    const [group] = Object.values(resourcesOfType(synthesized.template, 'AWS::EC2::SecurityGroup'));
    const ingress = (group.Properties.SecurityGroupIngress as Array<Record<string, unknown>>).map(({ IpProtocol, FromPort, ToPort, CidrIp }) => ({
      IpProtocol,
      FromPort,
      ToPort,
      CidrIp,
    }));
    expect(ingress).toEqual(
      expect.arrayContaining([
        { IpProtocol: 'tcp', FromPort: 443, ToPort: 443, CidrIp: '0.0.0.0/0' },
        { IpProtocol: 'tcp', FromPort: 446, ToPort: 446, CidrIp: '0.0.0.0/0' },
        { IpProtocol: 'udp', FromPort: 40000, ToPort: 40009, CidrIp: '0.0.0.0/0' },
        { IpProtocol: 'tcp', FromPort: 40000, ToPort: 40009, CidrIp: '0.0.0.0/0' },
      ]),
    );
    expect(ingress).toHaveLength(4);
  });

  test('has an Elastic IP, IMDSv2, an encrypted root volume and its configuration in user data', () => {
    const { template } = synthesized;
    template.resourceCountIs('AWS::EC2::EIP', 1);
    template.resourceCountIs('AWS::EC2::EIPAssociation', 1);
    template.hasResourceProperties('AWS::EC2::LaunchTemplate', { LaunchTemplateData: { MetadataOptions: { HttpTokens: 'required' } } });
    template.hasResourceProperties('AWS::EC2::Instance', {
      InstanceType: 't4g.micro',
      BlockDeviceMappings: [{ DeviceName: '/dev/xvda', Ebs: { Encrypted: true, VolumeType: 'gp3' } }],
    });
    const script = userDataText(template);
    expect(script).toContain("printf 'MEDIA_CONTROL_SECRET=%s\\n' \"$secret\"");
    const settings = ['MEDIA_CONTROL_PORT=446', 'MEDIA_CONTROL_URL=', 'TABLE_NAME=', 'WS_MANAGEMENT_ENDPOINT=https://', 'ANNOUNCED_ADDRESS=', 'RTC_LISTEN_IP=0.0.0.0', 'VC_PORT=443', 'RTC_MIN_PORT=40000'];
    for (const line of settings) {
      expect(script).toContain(`'${line}`);
    }
    expect(script).toContain(`'TLS_CERT=%s\\nTLS_KEY=%s\\n' "$ZC_ETC/tls/fullchain.pem" "$ZC_ETC/tls/privkey.pem" >> "$ZC_ETC/media-node.env"`);
    // One worker per vCPU, but never more than the 10 ports the security group opens.
    expect(script).toContain('MEDIA_WORKERS=$(( $(nproc) < 10 ? $(nproc) : 10 ))');
    expect(script).toContain('$ZC_HOME/app/main.js');
    expect(script).toContain('openssl req -x509');
    expect(script).not.toContain('certbot');
  });

  test('its role reads its own bundle object, uses the table and posts to connections only', () => {
    const mediaRoleId = logicalId(synthesized.stack.node.findChild('Media').node.findChild('Role'));
    const statements = policyStatements(synthesized.template).filter(({ roles }) => roles.includes(`"${mediaRoleId}"`));
    const actions = statements.flatMap(({ statement }) => actionsOf(statement));
    expect(actions.sort()).toEqual(
      [...TABLE_ITEM_ACTIONS, 'dynamodb:Query', 'execute-api:ManageConnections', 's3:GetObject', 'secretsmanager:DescribeSecret', 'secretsmanager:GetSecretValue'].sort(),
    );
    const connections = statements.find(({ statement }) => actionsOf(statement).includes('execute-api:ManageConnections'));
    expect(JSON.stringify(connections?.statement.Resource)).not.toContain('DELETE');
  });
});

describe('files bucket', () => {
  test('blocks public access, encrypts, enforces TLS and allows the client origin', () => {
    const { template } = synthesized;
    template.hasResourceProperties('AWS::S3::Bucket', {
      PublicAccessBlockConfiguration: { BlockPublicAcls: true, BlockPublicPolicy: true, IgnorePublicAcls: true, RestrictPublicBuckets: true },
      BucketEncryption: { ServerSideEncryptionConfiguration: [{ ServerSideEncryptionByDefault: { SSEAlgorithm: 'AES256' } }] },
      CorsConfiguration: { CorsRules: [Match.objectLike({ AllowedOrigins: ['https://localhost:5173'] })] },
    });
    template.hasResourceProperties('AWS::S3::BucketPolicy', {
      PolicyDocument: { Statement: Match.arrayWith([Match.objectLike({ Effect: 'Deny', Condition: { Bool: { 'aws:SecureTransport': 'false' } } })]) },
    });
  });
});

describe('outputs', () => {
  test('REST, main socket and voice socket URLs for the web client', () => {
    const outputs = synthesized.template.toJSON().Outputs as Record<string, { Value: unknown }>;
    expect(JSON.stringify(outputs.RestUrl.Value)).toMatch(/ApiEndpoint.*"\/"/);
    expect(JSON.stringify(outputs.MainSocketUrl.Value)).toMatch(/ApiEndpoint.*"\/live"/);
    expect(JSON.stringify(outputs.VoiceSocketUrl.Value)).toMatch(/"wss:\/\/".*PublicIp.*"\/"/);
    expect(outputs).toHaveProperty('FilesBucketName');
    expect(outputs).toHaveProperty('TableName');
  });
});
