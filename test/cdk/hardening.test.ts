/**
 * Template assertions for the deploy fixes of issue 13 that the template can show: feature flags, the API
 * Gateway account role, the control secret kept out of every environment, IAM actions, API names and
 * mappings, the files bucket's CORS, the region and the video bitrate of a deployment.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Match } from 'aws-cdk-lib/assertions';
import { PAY_PER_USE_MAX_VIDEO_BITRATE } from '../../lambdas/domain/config';
import { configFromContext } from '../../lib/config';
import { SKIP_BUNDLING, SUPPORTED_CONFIGURATIONS } from './support/configurations';
import {
  actionsOf,
  cdkJsonContext,
  logicalId,
  policyStatements,
  removeOutput,
  resourcesOf,
  resourcesOfType,
  type Synthesized,
  synthesize,
} from './support/synth';

/** One synth per distinct context, shared by the tests (a synth takes seconds). */
const outputs = new Map<string, Synthesized>();
function synth(context: Record<string, unknown> = {}): Synthesized {
  const key = JSON.stringify(context);
  if (!outputs.has(key)) outputs.set(key, synthesize({ ...context, ...SKIP_BUNDLING }));
  return outputs.get(key)!;
}
afterAll(() => outputs.forEach(removeOutput));
jest.setTimeout(120_000);

const environmentOf = (fn: { Properties: Record<string, unknown> }) =>
  ((fn.Properties.Environment as { Variables?: Record<string, unknown> } | undefined)?.Variables ?? {});

describe('feature flags (cdk.json)', () => {
  test("cdk.json enables every flag aws-cdk-lib recommends for new apps, at its recommended value", () => {
    const recommended = JSON.parse(
      fs.readFileSync(path.join(path.dirname(require.resolve('aws-cdk-lib/package.json')), 'recommended-feature-flags.json'), 'utf8'),
    ) as Record<string, unknown>;
    expect(Object.keys(recommended).length).toBeGreaterThan(50);
    expect(recommended['@aws-cdk/aws-ec2:uniqueImdsv2TemplateName']).toBe(true);
    expect(cdkJsonContext()).toMatchObject(recommended);
  });

  test('two stacks in one account and region get different launch template names', () => {
    const names = [synth(), synth({ stackName: 'ZavodChatStaging' })].map(({ template }) => {
      const templates = Object.values(resourcesOfType(template, 'AWS::EC2::LaunchTemplate'));
      expect(templates).toHaveLength(1);
      return templates[0].Properties.LaunchTemplateName;
    });
    expect(names[0]).not.toBe('InstanceLaunchTemplate');
    expect(names[0]).toMatch(/^ZavodChat/);
    expect(names[1]).toMatch(/^ZavodChatStaging/);
    expect(names[0]).not.toEqual(names[1]);
  });
});

describe("API Gateway's account-wide CloudWatch role", () => {
  const stageLogs = (s: Synthesized) => {
    const stages = Object.values(resourcesOfType(s.template, 'AWS::ApiGatewayV2::Stage'));
    const socket = stages.find((stage) => stage.Properties.StageName === 'live')!;
    const rest = stages.find((stage) => stage.Properties.StageName === '$default')!;
    return { socket: socket.Properties.AccessLogSettings !== undefined, rest: rest.Properties.AccessLogSettings !== undefined };
  };
  const cloudWatchRoles = (s: Synthesized) =>
    Object.values(resourcesOfType(s.template, 'AWS::IAM::Role')).filter((role) => JSON.stringify(role.Properties.ManagedPolicyArns ?? []).includes('AmazonAPIGatewayPushToCloudWatchLogs'));

  test('by default the stack leaves the account setting alone and the main socket has no access log', () => {
    const s = synth();
    s.template.resourceCountIs('AWS::ApiGateway::Account', 0);
    expect(cloudWatchRoles(s)).toHaveLength(0);
    expect(stageLogs(s)).toEqual({ socket: false, rest: true });
  });

  test("'existing' logs through the account's role without setting it", () => {
    const s = synth({ apiGatewayCloudWatchRole: 'existing' });
    s.template.resourceCountIs('AWS::ApiGateway::Account', 0);
    expect(cloudWatchRoles(s)).toHaveLength(0);
    expect(stageLogs(s)).toEqual({ socket: true, rest: true });
    s.template.hasResourceProperties('AWS::ApiGatewayV2::Stage', {
      StageName: 'live',
      AccessLogSettings: { DestinationArn: Match.anyValue(), Format: Match.stringLikeRegexp('connectionId') },
    });
  });

  test("'create' sets the role (retained) and the stage waits for it", () => {
    const s = synth({ apiGatewayCloudWatchRole: 'create' });
    const [accountId] = Object.keys(resourcesOfType(s.template, 'AWS::ApiGateway::Account'));
    expect(accountId).toBeDefined();
    expect(cloudWatchRoles(s)).toHaveLength(1);
    expect(cloudWatchRoles(s)[0].DeletionPolicy).toBe('Retain');
    const socket = Object.values(s.template.findResources('AWS::ApiGatewayV2::Stage', { Properties: { StageName: 'live' } }))[0];
    expect(socket.DependsOn).toContain(accountId);
    expect(stageLogs(s)).toEqual({ socket: true, rest: true });
  });

  test('the former boolean key still works, and a wrong value is refused', () => {
    const from = (context: Record<string, unknown>) => configFromContext((key) => context[key], {}).apiGatewayCloudWatchRole;
    expect(from({})).toBe('none');
    expect(from({ manageApiGatewayAccountRole: 'true' })).toBe('create');
    expect(from({ manageApiGatewayAccountRole: false })).toBe('existing');
    expect(from({ apiGatewayCloudWatchRole: 'existing', manageApiGatewayAccountRole: 'true' })).toBe('existing');
    expect(() => from({ apiGatewayCloudWatchRole: 'replace' })).toThrow(/must be one of none, existing, create/);
  });
});

describe('the media control secret', () => {
  test('is in no environment and no template text: REST gets its ARN and reads it at run time', () => {
    const s = synth();
    const [secretId] = Object.keys(resourcesOfType(s.template, 'AWS::SecretsManager::Secret'));
    expect(JSON.stringify(s.template.toJSON())).not.toMatch(/resolve:secretsmanager/);
    const functions = resourcesOfType(s.template, 'AWS::Lambda::Function');
    for (const [id, fn] of Object.entries(functions)) {
      const variables = environmentOf(fn);
      expect({ id, names: Object.keys(variables) }).toEqual({ id, names: expect.not.arrayContaining(['MEDIA_CONTROL_SECRET']) });
      const mentions = Object.entries(variables).filter(([, value]) => JSON.stringify(value).includes(`"${secretId}"`));
      if (id === logicalId(s.stack.functions.rest.function)) {
        expect(mentions).toEqual([['MEDIA_CONTROL_SECRET_ARN', { Ref: secretId }]]);
      } else {
        expect({ id, mentions }).toEqual({ id, mentions: [] });
      }
    }
  });

  test('only REST (GetSecretValue, that one secret) and the media node may read it', () => {
    const s = synth();
    const [secretId] = Object.keys(resourcesOfType(s.template, 'AWS::SecretsManager::Secret'));
    const restRole = logicalId(s.stack.functions.rest.role);
    const mediaRole = logicalId(s.stack.node.findChild('Media').node.findChild('Role'));
    const readers = policyStatements(s.template).filter(({ statement }) => actionsOf(statement).some((a) => a.startsWith('secretsmanager:')));
    const rest = readers.filter(({ roles }) => roles.includes(`"${restRole}"`));
    expect(rest.map(({ statement }) => ({ actions: actionsOf(statement), resources: resourcesOf(statement) }))).toEqual([
      { actions: ['secretsmanager:GetSecretValue'], resources: [{ Ref: secretId }] },
    ]);
    for (const { roles } of readers) expect([`[{"Ref":"${restRole}"}]`, `[{"Ref":"${mediaRole}"}]`]).toContain(roles);
  });

  test('without a media node there is no secret and REST gets no ARN', () => {
    const s = synth({ deployMediaNode: 'false' });
    s.template.resourceCountIs('AWS::SecretsManager::Secret', 0);
    expect(Object.keys(environmentOf(resourcesOfType(s.template, 'AWS::Lambda::Function')[logicalId(s.stack.functions.rest.function)]))).not.toContain(
      'MEDIA_CONTROL_SECRET_ARN',
    );
  });
});

describe('polish', () => {
  test('every IAM action is a real one: no dynamodb:TransactWriteItems (transactions are authorized per element)', () => {
    const actions = policyStatements(synth().template).flatMap(({ statement }) => actionsOf(statement));
    expect(actions).toContain('dynamodb:PutItem');
    expect(actions).toContain('dynamodb:ConditionCheckItem');
    expect(actions).not.toContain('dynamodb:TransactWriteItems');
  });

  test('the four APIs have distinct names that carry the stack name', () => {
    for (const stackName of ['ZavodChat', 'ZavodChatStaging']) {
      const s = synth({ stackName });
      const names = Object.values(resourcesOfType(s.template, 'AWS::ApiGatewayV2::Api')).map((api) => `${api.Properties.ProtocolType} ${api.Properties.Name}`);
      expect(names.sort()).toEqual([`HTTP ${stackName}-rest`, `WEBSOCKET ${stackName}-desk-socket`, `WEBSOCKET ${stackName}-main-socket`, `WEBSOCKET ${stackName}-workspace-socket`]);
    }
  });

  test('API mappings have plain logical ids; each API at the root of its domain but the workspace and desk sockets, at their paths', () => {
    const s = synth(SUPPORTED_CONFIGURATIONS['hosted zone']);
    const mappings = resourcesOfType(s.template, 'AWS::ApiGatewayV2::ApiMapping');
    // REST, the main socket, the voice wake (mediaStartOn=voice, the default with a zone), the workspace and desk sockets.
    expect(Object.keys(mappings)).toHaveLength(5);
    for (const id of Object.keys(mappings)) expect(id).not.toMatch(/undefined/i);
    const keys = Object.values(mappings).map((mapping) => mapping.Properties.ApiMappingKey ?? '(root)');
    expect(keys.sort()).toEqual(['(root)', '(root)', '(root)', 'connect', 'socket.io']);
  });

  test('the files bucket allows cross-origin reads only (uploads go through REST)', () => {
    const s = synth();
    const [bucket] = Object.values(resourcesOfType(s.template, 'AWS::S3::Bucket'));
    const rules = (bucket.Properties.CorsConfiguration as { CorsRules: Array<{ AllowedMethods: string[] }> }).CorsRules;
    expect(rules.map((rule) => rule.AllowedMethods)).toEqual([['GET', 'HEAD']]);
  });

  test("the region follows the user's configured region unless the context names one", () => {
    const region = (context: Record<string, unknown>, environment: NodeJS.ProcessEnv) => configFromContext((key) => context[key], environment).region;
    expect(region({}, { CDK_DEFAULT_REGION: 'eu-north-1' })).toBe('eu-north-1');
    expect(region({ region: 'ap-south-1' }, { CDK_DEFAULT_REGION: 'eu-north-1' })).toBe('ap-south-1');
    expect(region({}, {})).toBe('us-east-1');
  });

  test('a deployment caps video at the pay-per-use bitrate', () => {
    const s = synth();
    for (const fn of Object.values(resourcesOfType(s.template, 'AWS::Lambda::Function'))) {
      expect(environmentOf(fn).MAX_VIDEO_BITRATE).toBe(String(PAY_PER_USE_MAX_VIDEO_BITRATE));
    }
    expect(PAY_PER_USE_MAX_VIDEO_BITRATE).toBe(2_500_000);
  });
});
