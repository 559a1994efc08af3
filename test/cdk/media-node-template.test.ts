import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Annotations, Match } from 'aws-cdk-lib/assertions';
import { MEDIA_NODE_BOOT_TIMEOUT } from '../../lib/media-node';
import { actionsOf, logicalId, policyStatements, removeOutput, resourcesOfType, type Synthesized, synthesize, userDataText } from './support/synth';

/**
 * The media node in the synthesized templates: it boots verifiably (CreationPolicy + cfn-signal after its
 * health check), keeps the control secret out of every log, is reached by Session Manager instead of SSH,
 * listens for voice on 443, and with a domain gets and keeps its Let's Encrypt certificate with the least
 * rights that takes.
 */

const ZONE = { domain: 'chat.example.com', hostedZoneId: 'Z0123456789EXAMPLE', hostedZoneName: 'example.com', clientOrigins: 'https://chat.example.com' };
const CERTIFICATE = {
  domain: 'chat.example.com',
  certificateArn: 'arn:aws:acm:eu-west-1:123456789012:certificate/00000000-0000-0000-0000-000000000000',
  region: 'eu-west-1',
  mediaAvailabilityZone: 'eu-west-1b',
  mediaAmiId: 'ami-0123456789abcdef0',
  voicePort: '445',
};

const configurations: Record<string, Record<string, string>> = { default: {}, zone: ZONE, certificate: CERTIFICATE };
const synthesized: Record<string, Synthesized> = {};

beforeAll(() => {
  // Templates only: assets are not bundled (CDK's own switch; test/cdk/media-node-asset.test.ts builds the bundle).
  for (const [name, context] of Object.entries(configurations)) synthesized[name] = synthesize({ ...context, 'aws:cdk:bundling-stacks': [] });
}, 120_000);

afterAll(() => Object.values(synthesized).forEach(removeOutput));

const mediaRoleId = (s: Synthesized) => logicalId(s.stack.node.findChild('Media').node.findChild('Role'));
const mediaStatements = (s: Synthesized) => policyStatements(s.template).filter(({ roles }) => roles.includes(`"${mediaRoleId(s)}"`));
const ingress = (s: Synthesized) => {
  const [group] = Object.values(resourcesOfType(s.template, 'AWS::EC2::SecurityGroup'));
  return (group.Properties.SecurityGroupIngress as Array<{ IpProtocol: string; FromPort: number; ToPort: number }>).map(({ IpProtocol, FromPort, ToPort }) => `${IpProtocol}/${FromPort}-${ToPort}`);
};

describe.each(Object.keys(configurations))('%s configuration', (name) => {
  const s = () => synthesized[name];

  test('the instance waits for one success signal, sent by its own user data after the health check', () => {
    const instances = resourcesOfType(s().template, 'AWS::EC2::Instance') as Record<string, { CreationPolicy?: unknown }>;
    const [[instanceId, instance]] = Object.entries(instances);
    expect(instance.CreationPolicy).toEqual({ ResourceSignal: { Count: 1, Timeout: MEDIA_NODE_BOOT_TIMEOUT } });
    const script = userDataText(s().template);
    expect(script).toContain(`--resource '${instanceId}'`);
    const signalled = script.indexOf('zc_signal 0');
    expect(signalled).toBeGreaterThan(script.indexOf('/health; do'));
    expect(script.indexOf('zc_signal 1')).toBeGreaterThan(-1);
  });

  test('the user data parses (bash -n) and never traces or echoes the control secret', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'zavodchat-user-data-'));
    try {
      // CloudFormation fills each function with a plain value (an ARN, an address, a name).
      const file = path.join(dir, 'user-data.sh');
      fs.writeFileSync(file, userDataText(s().template, () => 'cfn-value'));
      execFileSync('bash', ['-n', file]);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
    const script = userDataText(s().template);
    expect(script).not.toMatch(/^\s*set\s+-[a-z]*x/m);
    expect(script).not.toMatch(/xtrace|bash -x/);
    // The secret is fetched into a variable and written to the file by printf; nothing else names it.
    const mentions = script.split('\n').filter((line) => /\$secret\b|\$\{secret\}/.test(line));
    expect(mentions).toEqual([`printf 'MEDIA_CONTROL_SECRET=%s\\n' "$secret" >> "$ZC_ETC/media-node.env"`]);
    expect(script).toMatch(/^secret=\$\(aws secretsmanager get-secret-value .* --query SecretString --output text\)$/m);
    // No secret value or dynamic reference to one in the user data (the Lambdas' environment is checked elsewhere).
    expect(script).not.toContain('{{resolve:');
  });

  test('Session Manager instead of SSH: the SSM core policy on the role, no port 22, no key pair', () => {
    const [role] = Object.values(resourcesOfType(s().template, 'AWS::IAM::Role')).filter((r) => JSON.stringify(r.Properties.AssumeRolePolicyDocument).includes('ec2.amazonaws.com'));
    expect(JSON.stringify(role.Properties.ManagedPolicyArns)).toContain(':iam::aws:policy/AmazonSSMManagedInstanceCore');
    expect(ingress(s()).filter((rule) => /^tcp\/(\d+)-(\d+)$/.test(rule) && Number(rule.split('/')[1].split('-')[0]) <= 22 && Number(rule.split('-')[1]) >= 22)).toEqual([]);
    const [instance] = Object.values(resourcesOfType(s().template, 'AWS::EC2::Instance'));
    expect(instance.Properties.KeyName).toBeUndefined();
  });

  test('runs the bundle with node, not tsx, and installs only mediasoup with npm ci --omit=dev', () => {
    const script = userDataText(s().template);
    expect(script).toContain('ExecStart=$ZC_HOME/bin/node $ZC_HOME/app/main.js');
    expect(script).toContain('npm ci --omit=dev');
    expect(script).not.toContain('tsx');
    expect(script).toContain('the mediasoup worker is missing');
  });

  test('the control endpoint is HTTPS in every configuration, with or without a domain, and no key or certificate for it is in the user data', () => {
    const script = userDataText(s().template);
    const urls = script.match(/MEDIA_CONTROL_URL=[^']*/g) ?? [];
    expect(urls).toHaveLength(1);
    const expected = name === 'default' ? /^MEDIA_CONTROL_URL=https:\/\/\$\{\{"Fn::GetAtt":\["MediaAddress[0-9A-F]+","PublicIp"\]\}\}:446$/ : /^MEDIA_CONTROL_URL=https:\/\/voice\.chat\.example\.com:446$/;
    expect(urls[0]).toMatch(expected);
    expect(script).not.toMatch(/http:\/\/[^'\s]*:446/);
    // The node makes its control identity in memory at each start (media-node/control-identity.ts): nothing on disk.
    expect(script).not.toMatch(/MEDIA_CONTROL_(TLS|CERT|KEY)/);
  });

  test('cdk-nag stays clean', () => {
    const annotations = Annotations.fromStack(s().stack);
    expect(annotations.findError('*', Match.stringLikeRegexp('AwsSolutions-.*'))).toEqual([]);
    expect(annotations.findWarning('*', Match.stringLikeRegexp('AwsSolutions-.*'))).toEqual([]);
  });
});

describe('defaults', () => {
  test('voice on 443 at the node\'s own address; 446 control; no port 80 without a domain', () => {
    const s = synthesized.default;
    expect(ingress(s).sort()).toEqual(['tcp/443-443', 'tcp/446-446', 'tcp/40000-40009', 'udp/40000-40009'].sort());
    const outputs = s.template.toJSON().Outputs as Record<string, { Value: unknown }>;
    expect(JSON.stringify(outputs.VoiceSocketUrl.Value)).toMatch(/"wss:\/\/",\{"Fn::GetAtt":\["MediaAddress[0-9A-F]+","PublicIp"\]\},"\/"/);
    expect(userDataText(s.template)).toContain("'VC_PORT=443'");
  });

  test('the zone is the region\'s first and the AMI the latest Amazon Linux 2023, with a warning to pin it and an output to pin it with', () => {
    const s = synthesized.default;
    s.template.hasResourceProperties('AWS::EC2::Subnet', { AvailabilityZone: { 'Fn::Select': [0, { 'Fn::GetAZs': '' }] } });
    const [instance] = Object.values(resourcesOfType(s.template, 'AWS::EC2::Instance'));
    expect(JSON.stringify(instance.Properties.ImageId)).toMatch(/SsmParameterValue.*al2023/);
    const outputs = s.template.toJSON().Outputs as Record<string, { Value: unknown }>;
    expect(outputs.MediaNodeImageId.Value).toEqual(instance.Properties.ImageId);
    expect(outputs).toHaveProperty('MediaNodeInstanceId');
    const warnings = Annotations.fromStack(s.stack).findWarning('*', Match.stringLikeRegexp('mediaAmiId'));
    expect(warnings).toHaveLength(1);
  });

  test('no certificate store and no Route 53 rights without a domain', () => {
    const actions = mediaStatements(synthesized.default).flatMap(({ statement }) => actionsOf(statement));
    expect(actions.filter((a) => a.startsWith('route53:') || a === 'secretsmanager:PutSecretValue')).toEqual([]);
  });
});

describe('custom domain with a hosted zone', () => {
  test("Let's Encrypt by DNS-01: the role may only UPSERT/DELETE the host's _acme-challenge TXT record in that zone", () => {
    const statements = mediaStatements(synthesized.zone);
    // The on-demand node's own A record (test/cdk/media-node-lifecycle.test.ts) is the other change it may make.
    const change = statements.filter(
      ({ statement }) => actionsOf(statement).includes('route53:ChangeResourceRecordSets') && JSON.stringify(statement).includes('"TXT"'),
    );
    expect(change).toHaveLength(1);
    expect(actionsOf(change[0].statement)).toEqual(['route53:ChangeResourceRecordSets']);
    expect(JSON.stringify(change[0].statement.Resource)).toContain(':route53:::hostedzone/Z0123456789EXAMPLE"');
    expect((change[0].statement as unknown as { Condition: unknown }).Condition).toEqual({
      'ForAllValues:StringEquals': {
        'route53:ChangeResourceRecordSetsNormalizedRecordNames': ['_acme-challenge.voice.chat.example.com'],
        'route53:ChangeResourceRecordSetsRecordTypes': ['TXT'],
        'route53:ChangeResourceRecordSetsActions': ['UPSERT', 'DELETE'],
      },
    });
    const route53 = statements.flatMap(({ statement }) => actionsOf(statement)).filter((a) => a.startsWith('route53:'));
    expect([...new Set(route53)].sort()).toEqual(['route53:ChangeResourceRecordSets', 'route53:GetChange']);
    const script = userDataText(synthesized.zone.template);
    expect(script).toContain('--manual --preferred-challenges dns');
    expect(script).toContain("change-resource-record-sets --hosted-zone-id 'Z0123456789EXAMPLE'");
    expect(script).not.toContain('--standalone');
    expect(ingress(synthesized.zone)).not.toContain('tcp/80-80');
  });

  test('the certificate is kept in its own secret, which only the media role reads and writes', () => {
    const { template } = synthesized.zone;
    const secrets = resourcesOfType(template, 'AWS::SecretsManager::Secret');
    const [storeId] = Object.keys(secrets).filter((id) => id.includes('CertificateStore'));
    expect(storeId).toBeDefined();
    const grants = policyStatements(template).filter(({ statement }) => JSON.stringify(statement.Resource).includes(`"${storeId}"`));
    expect(grants.map(({ roles }) => roles)).toEqual([JSON.stringify([{ Ref: mediaRoleId(synthesized.zone) }])]);
    expect(grants.flatMap(({ statement }) => actionsOf(statement)).sort()).toEqual(['secretsmanager:GetSecretValue', 'secretsmanager:PutSecretValue']);
    const script = userDataText(template);
    // Restored before anything is requested; saved by the deploy hook; renewed by a retrying service and a daily timer.
    expect(script.indexOf('--query SecretBinary')).toBeLessThan(script.indexOf('certbot certonly'));
    expect(script).toContain('put-secret-value');
    expect(script).toContain('--keep-until-expiring');
    expect(script).toContain('Restart=on-failure');
    expect(script).toContain('OnCalendar=daily');
    // Served at once (self-signed for the host) while Let's Encrypt is asked in the background.
    expect(script).toContain('-subj "/CN=voice.chat.example.com"');
    expect(script).toContain('systemctl start --no-block zavodchat-certificate.service');
  });
});

describe('custom domain with certificateArn, a chosen zone, a pinned AMI and voice on 445', () => {
  test('HTTP-01 on port 80 (DNS is elsewhere), voice on 445', () => {
    const s = synthesized.certificate;
    expect(ingress(s)).toEqual(expect.arrayContaining(['tcp/80-80', 'tcp/445-445']));
    expect(ingress(s)).not.toContain('tcp/443-443');
    const script = userDataText(s.template);
    expect(script).toContain('--standalone --preferred-challenges http');
    expect(mediaStatements(s).flatMap(({ statement }) => actionsOf(statement)).filter((a) => a.startsWith('route53:'))).toEqual([]);
    const outputs = s.template.toJSON().Outputs as Record<string, { Value: unknown }>;
    expect(outputs.VoiceSocketUrl.Value).toBe('wss://voice.chat.example.com:445/');
  });

  test('the subnet is in the chosen zone and the instance runs the pinned AMI, with no AMI parameter', () => {
    const s = synthesized.certificate;
    s.template.hasResourceProperties('AWS::EC2::Subnet', { AvailabilityZone: 'eu-west-1b' });
    s.template.hasResourceProperties('AWS::EC2::Instance', { ImageId: 'ami-0123456789abcdef0' });
    expect(JSON.stringify(s.template.toJSON().Parameters ?? {})).not.toContain('al2023');
    expect(Annotations.fromStack(s.stack).findWarning('*', Match.stringLikeRegexp('mediaAmiId'))).toEqual([]);
  });
});
