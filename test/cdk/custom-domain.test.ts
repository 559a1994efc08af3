import { Annotations, Match } from 'aws-cdk-lib/assertions';
import { removeOutput, resourcesOfType, type Synthesized, synthesize, userDataText } from './support/synth';

const ZONE_CONTEXT = {
  domain: 'chat.example.com',
  hostedZoneId: 'Z0123456789EXAMPLE',
  hostedZoneName: 'example.com',
  clientOrigins: 'https://chat.example.com',
};

describe('custom domain with a hosted zone', () => {
  let synthesized: Synthesized;
  beforeAll(() => {
    synthesized = synthesize(ZONE_CONTEXT);
  }, 120_000);
  afterAll(() => removeOutput(synthesized));

  test('issues one DNS-validated certificate for api. and ws.', () => {
    synthesized.template.hasResourceProperties('AWS::CertificateManager::Certificate', {
      DomainName: 'api.chat.example.com',
      SubjectAlternativeNames: ['ws.chat.example.com'],
      ValidationMethod: 'DNS',
    });
  });

  test('maps both APIs (and the voice wake) to their custom domains and writes their records; the on-demand node writes voice. itself', () => {
    const { template } = synthesized;
    template.hasResourceProperties('AWS::ApiGatewayV2::DomainName', { DomainName: 'api.chat.example.com' });
    template.hasResourceProperties('AWS::ApiGatewayV2::DomainName', { DomainName: 'ws.chat.example.com' });
    // With a zone the media node starts on a voice join attempt (mediaStartOn=voice): the wake answers voice. while it is stopped (test/cdk/voice-wake.test.ts).
    template.hasResourceProperties('AWS::ApiGatewayV2::DomainName', { DomainName: 'voice.chat.example.com' });
    template.resourceCountIs('AWS::ApiGatewayV2::DomainName', 3);
    // REST, the main socket, the workspace and desk sockets (below) and the voice wake.
    template.resourceCountIs('AWS::ApiGatewayV2::ApiMapping', 5);
    const records = Object.values(resourcesOfType(template, 'AWS::Route53::RecordSet')).map((r) => r.Properties.Name);
    expect(records.sort()).toEqual(['api.chat.example.com.', 'ws.chat.example.com.']);
    // No Elastic IP (billed while stopped): the node publishes the address of each boot (test/cdk/media-node-lifecycle.test.ts).
    template.resourceCountIs('AWS::EC2::EIP', 0);
    expect(userDataText(template)).toContain('"Name":"voice.chat.example.com","Type":"A","TTL":60');
  });

  test('one domain for the three protocols: the workspace and desk sockets are mapped at /socket.io and /connect of ws., the main socket at its root', () => {
    const { template } = synthesized;
    const idOf = (type: string, test: (properties: Record<string, unknown>) => boolean) => {
      const ids = Object.entries(resourcesOfType(template, type))
        .filter(([, resource]) => test(resource.Properties))
        .map(([id]) => id);
      expect(ids).toHaveLength(1);
      return ids[0];
    };
    const api = (suffix: string) => idOf('AWS::ApiGatewayV2::Api', (p) => p.Name === `ZavodChat-${suffix}`);
    const wsDomain = idOf('AWS::ApiGatewayV2::DomainName', (p) => p.DomainName === 'ws.chat.example.com');
    const onWs = Object.values(resourcesOfType(template, 'AWS::ApiGatewayV2::ApiMapping'))
      .filter((m) => JSON.stringify(m.Properties.DomainName) === JSON.stringify({ Ref: wsDomain }))
      .map((m) => ({ api: (m.Properties.ApiId as { Ref: string }).Ref, path: m.Properties.ApiMappingKey }));
    expect(onWs).toEqual(
      expect.arrayContaining([
        { api: api('main-socket'), path: undefined },
        { api: api('workspace-socket'), path: 'socket.io' },
        { api: api('desk-socket'), path: 'connect' },
      ]),
    );
    expect(onWs).toHaveLength(3);
    const outputs = template.toJSON().Outputs as Record<string, { Value: unknown; Description: string }>;
    expect(outputs.WorkspaceSocketUrl.Value).toBe('wss://ws.chat.example.com/socket.io');
    expect(outputs.WorkspaceSocketUrl.Description).toContain("io('https://ws.chat.example.com', { path: '/socket.io', addTrailingSlash: false");
    expect(outputs.DeskSocketUrl.Value).toBe('wss://ws.chat.example.com/connect');
  });

  test('one cookie: every function gets COOKIE_DOMAIN=<parent> and the client origin for CORS', () => {
    for (const fn of Object.values(resourcesOfType(synthesized.template, 'AWS::Lambda::Function'))) {
      const variables = (fn.Properties.Environment as { Variables: Record<string, unknown> }).Variables;
      expect(variables).toMatchObject({ COOKIE_DOMAIN: 'chat.example.com', CORS_ORIGINS: 'https://chat.example.com' });
    }
  });

  test("the media node gets a Let's Encrypt certificate for voice. by DNS-01 in the zone, so port 80 stays closed", () => {
    const script = userDataText(synthesized.template);
    expect(script).toContain('certbot certonly');
    expect(script).toContain('--preferred-challenges dns');
    expect(script).toContain('-d voice.chat.example.com');
    expect(script).not.toContain('-subj "/CN=${');
    const [group] = Object.values(resourcesOfType(synthesized.template, 'AWS::EC2::SecurityGroup'));
    expect(JSON.stringify(group.Properties.SecurityGroupIngress)).not.toContain('"FromPort":80,');
  });

  test('outputs the custom-domain URLs', () => {
    const outputs = synthesized.template.toJSON().Outputs as Record<string, { Value: unknown }>;
    expect(outputs.RestUrl.Value).toBe('https://api.chat.example.com/');
    expect(outputs.MainSocketUrl.Value).toBe('wss://ws.chat.example.com/');
    expect(outputs.VoiceSocketUrl.Value).toBe('wss://voice.chat.example.com/');
  });

  test('no one-origin distribution: the domain hosts and their cookie are the layout', () => {
    synthesized.template.resourceCountIs('AWS::CloudFront::Distribution', 0);
    const outputs = Object.keys(synthesized.template.toJSON().Outputs as object);
    expect(outputs.filter((name) => /^(PublicBase|SiteUrl|WebClientVoice)/.test(name))).toEqual([]);
  });

  test('cdk-nag stays clean', () => {
    expect(Annotations.fromStack(synthesized.stack).findError('*', Match.stringLikeRegexp('AwsSolutions-.*'))).toEqual([]);
  });
});

describe('custom domain with an existing certificate, without the media node', () => {
  let synthesized: Synthesized;
  beforeAll(() => {
    synthesized = synthesize({
      domain: 'chat.example.com',
      certificateArn: 'arn:aws:acm:us-east-1:123456789012:certificate/00000000-0000-0000-0000-000000000000',
      deployMediaNode: 'false',
    });
  }, 120_000);
  afterAll(() => removeOutput(synthesized));

  test('creates no certificate or records and prints the DNS targets instead', () => {
    const { template } = synthesized;
    template.resourceCountIs('AWS::CertificateManager::Certificate', 0);
    template.resourceCountIs('AWS::Route53::RecordSet', 0);
    const outputs = Object.keys(template.toJSON().Outputs as object);
    for (const target of ['RestDnsTarget', 'SocketDnsTarget']) {
      expect(outputs.some((name) => name.includes(target))).toBe(true);
    }
  });

  test('has no EC2 resources and no voice outputs', () => {
    const resourceTypes = Object.values(synthesized.template.toJSON().Resources as Record<string, { Type: string }>).map((r) => r.Type);
    expect(resourceTypes.filter((type) => type.startsWith('AWS::EC2::'))).toEqual([]);
    const outputs = Object.keys(synthesized.template.toJSON().Outputs as object);
    expect(outputs.filter((name) => /Voice|MediaNode/.test(name))).toEqual([]);
  });
});
