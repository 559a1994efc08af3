import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Annotations, Match } from 'aws-cdk-lib/assertions';
import { configFromContext } from '../../lib/config';
import { ORIGIN_PATHS, viewerRequestFunctionCode } from '../../lib/origin-paths';
import { logicalId, removeOutput, type Resource, resourcesOfType, type Synthesized, synthesize } from './support/synth';

/** AWS managed policies, by their fixed ids (CloudFront developer guide, "managed policies"). */
const CACHING_DISABLED = '4135ea2d-6df8-44a3-9df3-4b5a84be39ad';
const ALL_VIEWER_EXCEPT_HOST_HEADER = 'b689b0a8-53d0-40ab-baf2-68738e2966ac';

interface Behaviour {
  PathPattern?: string;
  TargetOriginId: string;
  ViewerProtocolPolicy: string;
  AllowedMethods?: string[];
  CachePolicyId: string;
  OriginRequestPolicyId?: string;
  FunctionAssociations?: Array<{ EventType: string; FunctionARN: unknown }>;
}
interface Origin {
  Id: string;
  DomainName: unknown;
  OriginPath?: string;
  CustomOriginConfig?: { OriginProtocolPolicy: string; OriginSSLProtocols: string[] };
  S3OriginConfig?: unknown;
  OriginAccessControlId?: unknown;
}

function distributionOf(synthesized: Synthesized): { behaviours: Behaviour[]; defaultBehaviour: Behaviour; origins: Origin[] } {
  const distributions = Object.values(resourcesOfType(synthesized.template, 'AWS::CloudFront::Distribution'));
  expect(distributions).toHaveLength(1);
  const config = distributions[0].Properties.DistributionConfig as { CacheBehaviors: Behaviour[]; DefaultCacheBehavior: Behaviour; Origins: Origin[] };
  return { behaviours: config.CacheBehaviors, defaultBehaviour: config.DefaultCacheBehavior, origins: config.Origins };
}

const apiId = (synthesized: Synthesized, api: 'Rest' | 'MainSocket') => logicalId(synthesized.stack.node.findChild(api).node.findChild('Api'));

describe('single origin (no domain: the default)', () => {
  let synthesized: Synthesized;
  beforeAll(() => {
    synthesized = synthesize();
  }, 120_000);
  afterAll(() => removeOutput(synthesized));

  const behaviour = (pattern: string) => {
    const found = distributionOf(synthesized).behaviours.find((b) => b.PathPattern === pattern);
    if (!found) throw new Error(`no behaviour for ${pattern}`);
    return found;
  };
  const originOf = (b: Behaviour) => distributionOf(synthesized).origins.find((o) => o.Id === b.TargetOriginId)!;

  test('/api/* goes to the HTTP API over HTTPS, uncached, with every viewer header but Host', () => {
    const rest = behaviour(`${ORIGIN_PATHS.rest}*`);
    expect(rest).toMatchObject({
      ViewerProtocolPolicy: 'https-only',
      CachePolicyId: CACHING_DISABLED,
      OriginRequestPolicyId: ALL_VIEWER_EXCEPT_HOST_HEADER,
    });
    expect([...rest.AllowedMethods!].sort()).toEqual(['DELETE', 'GET', 'HEAD', 'OPTIONS', 'PATCH', 'POST', 'PUT']);
    const origin = originOf(rest);
    expect(JSON.stringify(origin.DomainName)).toContain(`{"Ref":"${apiId(synthesized, 'Rest')}"},".execute-api.`);
    expect(origin.OriginPath ?? '').toBe('');
    expect(origin.CustomOriginConfig).toMatchObject({ OriginProtocolPolicy: 'https-only', OriginSSLProtocols: ['TLSv1.2'] });
  });

  test('/socket goes to the WebSocket API the same way (Cookie, query string and Sec-WebSocket-* forwarded)', () => {
    const socket = behaviour(ORIGIN_PATHS.mainSocket);
    expect(socket).toMatchObject({ ViewerProtocolPolicy: 'https-only', CachePolicyId: CACHING_DISABLED, OriginRequestPolicyId: ALL_VIEWER_EXCEPT_HOST_HEADER });
    const origin = originOf(socket);
    expect(JSON.stringify(origin.DomainName)).toContain(`{"Ref":"${apiId(synthesized, 'MainSocket')}"},".execute-api.`);
    expect(origin.CustomOriginConfig).toMatchObject({ OriginProtocolPolicy: 'https-only' });
  });

  test('every behaviour runs the path mapping, whose code is the one checked against the local runtime', () => {
    const functions = Object.entries(resourcesOfType(synthesized.template, 'AWS::CloudFront::Function'));
    expect(functions).toHaveLength(1);
    const [functionId, fn] = functions[0] as [string, Resource];
    expect(fn.Properties.FunctionCode).toBe(viewerRequestFunctionCode('/live'));
    expect(fn.Properties.FunctionConfig).toMatchObject({ Runtime: 'cloudfront-js-2.0' });
    const { behaviours, defaultBehaviour } = distributionOf(synthesized);
    for (const b of [...behaviours, defaultBehaviour]) {
      expect(b.FunctionAssociations).toEqual([{ EventType: 'viewer-request', FunctionARN: { 'Fn::GetAtt': [functionId, 'FunctionARN'] } }]);
    }
  });

  test('/ is the client bucket, private and read only by this distribution (origin access control)', () => {
    const { defaultBehaviour } = distributionOf(synthesized);
    expect(defaultBehaviour.ViewerProtocolPolicy).toBe('redirect-to-https');
    const origin = originOf(defaultBehaviour);
    const bucketId = logicalId(synthesized.stack.node.findChild('Origin').node.findChild('ClientBucket'));
    expect(JSON.stringify(origin.DomainName)).toContain(bucketId);
    expect(origin.OriginAccessControlId).toBeDefined();
    synthesized.template.hasResourceProperties('AWS::S3::Bucket', {
      PublicAccessBlockConfiguration: { BlockPublicAcls: true, BlockPublicPolicy: true, IgnorePublicAcls: true, RestrictPublicBuckets: true },
    });
    const policy = Object.values(resourcesOfType(synthesized.template, 'AWS::S3::BucketPolicy')).find((p) => JSON.stringify(p.Properties.Bucket).includes(bucketId))!;
    expect(JSON.stringify(policy.Properties.PolicyDocument)).toContain('cloudfront.amazonaws.com');
    // No build given: nothing is uploaded.
    synthesized.template.resourceCountIs('Custom::CDKBucketDeployment', 0);
  });

  test("the origin's own URL is an allowed origin of every Lambda", () => {
    const distributionId = logicalId(synthesized.stack.node.findChild('Origin').node.findChild('Distribution'));
    for (const [name, fn] of Object.entries(synthesized.stack.functions)) {
      const resource = resourcesOfType(synthesized.template, 'AWS::Lambda::Function')[logicalId(fn.function)];
      const cors = (resource.Properties.Environment as { Variables: Record<string, unknown> }).Variables.CORS_ORIGINS;
      expect([name, cors]).toEqual([name, { 'Fn::Join': ['', ['https://localhost:5173,https://', { 'Fn::GetAtt': [distributionId, 'DomainName'] }]] }]);
    }
  });

  test('outputs name the web client settings for this origin and say plainly that voice needs a domain', () => {
    const outputs = synthesized.template.toJSON().Outputs as Record<string, { Value: unknown; Description?: string }>;
    const distributionId = logicalId(synthesized.stack.node.findChild('Origin').node.findChild('Distribution'));
    const domain = { 'Fn::GetAtt': [distributionId, 'DomainName'] };
    expect(outputs.PublicBaseRest.Value).toEqual({ 'Fn::Join': ['', ['https://', domain, '/api/']] });
    expect(outputs.PublicBaseSocket.Value).toEqual({ 'Fn::Join': ['', ['wss://', domain, '/socket']] });
    expect(outputs.SiteUrl.Value).toEqual({ 'Fn::Join': ['', ['https://', domain, '/']] });
    expect(outputs.PublicBaseRest.Description).toMatch(/^PUBLIC_BASE_REST/);
    expect(outputs.PublicBaseSocket.Description).toMatch(/^PUBLIC_BASE_SOCKET/);
    // The execute-api URLs are not what the web client can use.
    expect(outputs.MainSocketUrl.Description).not.toMatch(/^PUBLIC_BASE_SOCKET/);
    expect(outputs.RestUrl.Description).not.toMatch(/^PUBLIC_BASE_REST/);
    expect(outputs.VoiceSocketUrl.Description).not.toMatch(/PUBLIC_BASE_SOCKET_VC of/);
    expect(outputs.WebClientVoice.Value).toMatch(/needs a custom domain/);
  });

  test('cdk-nag: no unsuppressed finding on the distribution or its bucket', () => {
    const annotations = Annotations.fromStack(synthesized.stack);
    const ours = (findings: Array<{ id: string }>) => findings.map((f) => f.id).filter((id) => id.includes('/Origin/'));
    expect(ours(annotations.findError('*', Match.stringLikeRegexp('AwsSolutions-.*')))).toEqual([]);
    expect(ours(annotations.findWarning('*', Match.stringLikeRegexp('AwsSolutions-.*')))).toEqual([]);
  });
});

describe('single origin with a client build given at deploy time and another socket stage', () => {
  let synthesized: Synthesized;
  let build: string;
  beforeAll(() => {
    build = mkdtempSync(join(tmpdir(), 'client-build-'));
    writeFileSync(join(build, 'index.html'), '<!doctype html><title>client</title>');
    synthesized = synthesize({ clientBuildDir: build, deployMediaNode: 'false', socketStageName: 'prod' });
  }, 120_000);
  afterAll(() => {
    removeOutput(synthesized);
    rmSync(build, { recursive: true, force: true });
  });

  test('uploads it to the client bucket and invalidates the distribution', () => {
    const distributionId = logicalId(synthesized.stack.node.findChild('Origin').node.findChild('Distribution'));
    synthesized.template.hasResourceProperties('Custom::CDKBucketDeployment', {
      DestinationBucketName: { Ref: logicalId(synthesized.stack.node.findChild('Origin').node.findChild('ClientBucket')) },
      DistributionId: { Ref: distributionId },
      DistributionPaths: ['/*'],
      Prune: true,
    });
  });

  test('/socket is mapped to the socket stage, whatever its name', () => {
    const [fn] = Object.values(resourcesOfType(synthesized.template, 'AWS::CloudFront::Function'));
    expect(fn.Properties.FunctionCode).toBe(viewerRequestFunctionCode('/prod'));
  });

  test('cdk-nag stays clean', () => {
    const annotations = Annotations.fromStack(synthesized.stack);
    expect(annotations.findError('*', Match.stringLikeRegexp('AwsSolutions-.*'))).toEqual([]);
    expect(annotations.findWarning('*', Match.stringLikeRegexp('AwsSolutions-.*'))).toEqual([]);
  });
});

describe('single-origin configuration', () => {
  const read = (context: Record<string, unknown>) => (key: string) => context[key];
  const domain = { domain: 'chat.example.com', hostedZoneId: 'Z123' };

  test('on without a domain, off with one (the domain cookie would not stick on the CloudFront host)', () => {
    expect(configFromContext(read({})).singleOrigin).toBe(true);
    expect(configFromContext(read(domain)).singleOrigin).toBe(false);
    expect(() => configFromContext(read({ ...domain, singleOrigin: 'true' }))).toThrow(/cannot be combined with 'domain'/);
    expect(configFromContext(read({ singleOrigin: 'false' })).singleOrigin).toBe(false);
  });

  test('clientBuildDir must hold an index.html and needs the single origin', () => {
    const empty = mkdtempSync(join(tmpdir(), 'client-build-'));
    try {
      expect(() => configFromContext(read({ clientBuildDir: empty }))).toThrow(/must be a folder with an index.html/);
      writeFileSync(join(empty, 'index.html'), '');
      expect(configFromContext(read({ clientBuildDir: empty })).clientBuildDir).toBe(empty);
      expect(() => configFromContext(read({ clientBuildDir: empty, singleOrigin: 'false' }))).toThrow(/needs the single origin/);
    } finally {
      rmSync(empty, { recursive: true, force: true });
    }
  });
});
