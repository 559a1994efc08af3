import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Annotations, Match } from 'aws-cdk-lib/assertions';
import type { SynthesisMessage } from 'aws-cdk-lib/cx-api';
import { configFromContext } from '../../lib/config';
import { MAIN_SOCKET_ROUTE_HANDLERS } from '../../lib/lambda-functions';
import { SKIP_BUNDLING, SUPPORTED_CONFIGURATIONS } from './support/configurations';
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

/**
 * Template assertions of the voice wake (`mediaStartOn=voice`, the default with a Route 53 zone): the wake
 * API on voice.<domain>, who may start the node, and where the stopped node parks the voice record.
 */
const ZONE = SUPPORTED_CONFIGURATIONS['hosted zone'];
let wake: Synthesized;
let online: Synthesized;

beforeAll(() => {
  wake = synthesize({ ...ZONE, ...SKIP_BUNDLING });
  online = synthesize({ ...SUPPORTED_CONFIGURATIONS['hosted zone, media node started when someone is online'], ...SKIP_BUNDLING });
}, 300_000);
afterAll(() => {
  removeOutput(wake);
  removeOutput(online);
});

const wakeChild = (s: Synthesized, ...path: string[]) => path.reduce((node, id) => node.node.findChild(id), s.stack.node.findChild('VoiceWake'));
const wakeRoleId = (s: Synthesized) => logicalId(wakeChild(s, 'Connect', 'Role'));
const wakeFunctionId = (s: Synthesized) => logicalId(wakeChild(s, 'Connect', 'Function'));
const wakeApiId = (s: Synthesized) => logicalId(wakeChild(s, 'Socket', 'Api'));
const wakeDomainId = (s: Synthesized) => logicalId(wakeChild(s, 'Domain'));
const checkRoleId = (s: Synthesized) => logicalId(s.stack.node.findChild('MediaLifecycle').node.findChild('Check').node.findChild('Role'));
const connectRoleId = (s: Synthesized) => logicalId(s.stack.functions[MAIN_SOCKET_ROUTE_HANDLERS.$connect].role);
const ec2Statements = (s: Synthesized) => policyStatements(s.template).filter(({ statement }) => actionsOf(statement).some((a) => a === '*' || a.startsWith('ec2:')));
const variablesOf = (s: Synthesized, functionId: string) =>
  (resourcesOfType(s.template, 'AWS::Lambda::Function')[functionId].Properties.Environment as { Variables: Record<string, unknown> }).Variables;
const instanceId = (s: Synthesized) => Object.keys(resourcesOfType(s.template, 'AWS::EC2::Instance'))[0];

/** The address script the first boot writes (heredoc body), CloudFormation values rendered by `token`. */
function addressScript(s: Synthesized, token?: (intrinsic: Record<string, unknown>) => string): string {
  const script = userDataText(s.template, token);
  return /cat > \/opt\/zavodchat\/voice-address.sh <<'ZAVODCHAT_EOF'\n([\s\S]*?)\nZAVODCHAT_EOF/.exec(script)?.[1] ?? '';
}

describe('mediaStartOn setting', () => {
  const from = (context: Record<string, unknown>) => configFromContext((key) => context[key], {}).mediaStartOn;

  test('defaults to voice with a Route 53 zone and on-demand voice on 443, else to online', () => {
    expect(from(ZONE)).toBe('voice');
    expect(from({})).toBe('online');
    expect(from({ ...ZONE, hostedZoneId: undefined, certificateArn: 'arn:aws:acm:us-east-1:123456789012:certificate/x' })).toBe('online');
    expect(from({ ...ZONE, mediaOnDemand: 'false' })).toBe('online');
    expect(from({ ...ZONE, voicePort: '445' })).toBe('online');
    expect(from({ ...ZONE, mediaStartOn: 'online' })).toBe('online');
  });

  test('voice without what the wake needs fails the synth with the reason', () => {
    expect(() => from({ mediaStartOn: 'voice' })).toThrow(/mediaStartOn=voice.*needs a Route 53 zone \('domain' with 'hostedZoneId'\)/);
    expect(() => from({ ...ZONE, mediaStartOn: 'voice', mediaOnDemand: 'false' })).toThrow(/needs 'mediaOnDemand=true'/);
    expect(() => from({ ...ZONE, mediaStartOn: 'voice', voicePort: '445' })).toThrow(/'voicePort' 443 \(got 445/);
    expect(() => from({ ...ZONE, mediaStartOn: 'voice', deployMediaNode: 'false' })).toThrow(/needs a media node/);
    expect(() => from({ ...ZONE, mediaStartOn: 'always' })).toThrow(/must be one of online, voice/);
  });
});

describe('the voice wake (mediaStartOn=voice)', () => {
  test('a WebSocket API with $connect alone, invoking the wake function, on voice.<domain> with its own DNS-validated certificate', () => {
    const { template } = wake;
    const apis = resourcesOfType(template, 'AWS::ApiGatewayV2::Api');
    expect(apis[wakeApiId(wake)].Properties).toMatchObject({ Name: 'ZavodChat-voice-wake', ProtocolType: 'WEBSOCKET' });
    const routes = Object.values(resourcesOfType(template, 'AWS::ApiGatewayV2::Route')).filter((r) => JSON.stringify(r.Properties.ApiId) === `{"Ref":"${wakeApiId(wake)}"}`);
    expect(routes.map((r) => r.Properties.RouteKey)).toEqual(['$connect']);
    const integrations = Object.values(resourcesOfType(template, 'AWS::ApiGatewayV2::Integration')).filter(
      (r) => JSON.stringify(r.Properties.ApiId) === `{"Ref":"${wakeApiId(wake)}"}`,
    );
    expect(integrations).toHaveLength(1);
    expect(JSON.stringify(integrations[0].Properties.IntegrationUri)).toContain(`"${wakeFunctionId(wake)}"`);

    const domains = resourcesOfType(template, 'AWS::ApiGatewayV2::DomainName');
    expect(domains[wakeDomainId(wake)].Properties).toMatchObject({ DomainName: 'voice.chat.example.com' });
    const certificateRef = JSON.stringify((domains[wakeDomainId(wake)].Properties.DomainNameConfigurations as Array<{ CertificateArn: unknown }>)[0].CertificateArn);
    const certificates = resourcesOfType(template, 'AWS::CertificateManager::Certificate');
    const [certificate] = Object.entries(certificates).filter(([id]) => certificateRef.includes(`"${id}"`));
    expect(certificate[1].Properties).toMatchObject({
      DomainName: 'voice.chat.example.com',
      ValidationMethod: 'DNS',
      DomainValidationOptions: [{ DomainName: 'voice.chat.example.com', HostedZoneId: 'Z0123456789EXAMPLE' }],
    });
    expect(certificate[1].Properties.SubjectAlternativeNames).toBeUndefined();
    const mappings = Object.values(resourcesOfType(template, 'AWS::ApiGatewayV2::ApiMapping')).filter((m) => JSON.stringify(m.Properties.ApiId) === `{"Ref":"${wakeApiId(wake)}"}`);
    expect(mappings).toHaveLength(1);
    expect(mappings[0].Properties.DomainName).toEqual({ Ref: wakeDomainId(wake) });
    // The record itself stays the node's (no CloudFormation record for voice.).
    const names = Object.values(resourcesOfType(template, 'AWS::Route53::RecordSet')).map((r) => r.Properties.Name);
    expect(names).not.toContain('voice.chat.example.com.');
    // What a hand-made park needs, should a shutdown fail to park the record.
    const outputs = template.toJSON().Outputs as Record<string, { Value: unknown }>;
    expect(outputs.VoiceWakeAliasTarget.Value).toEqual({ 'Fn::GetAtt': [wakeDomainId(wake), 'RegionalDomainName'] });
    expect(outputs.VoiceWakeAliasZoneId.Value).toEqual({ 'Fn::GetAtt': [wakeDomainId(wake), 'RegionalHostedZoneId'] });
  });

  test('only the wake and the idle check may touch EC2, each on the node instance alone; the main $connect may not', () => {
    const statements = ec2Statements(wake);
    expect(statements.map(({ roles }) => roles).sort()).toEqual([`[{"Ref":"${checkRoleId(wake)}"}]`, `[{"Ref":"${wakeRoleId(wake)}"}]`].sort());
    const actionsOfRole = (roleId: string) =>
      statements
        .filter(({ roles }) => roles.includes(`"${roleId}"`))
        .flatMap(({ statement }) => actionsOf(statement))
        .sort();
    expect(actionsOfRole(wakeRoleId(wake))).toEqual(['ec2:StartInstances']);
    expect(actionsOfRole(checkRoleId(wake))).toEqual(['ec2:StartInstances', 'ec2:StopInstances']);
    for (const { statement } of statements) {
      const resources = resourcesOf(statement);
      expect(resources).toHaveLength(1);
      expect(JSON.stringify(resources[0])).toContain(`":instance/",{"Ref":"${instanceId(wake)}"}`);
      expect(JSON.stringify(resources[0])).not.toContain('*');
    }
    expect(ec2Statements(wake).some(({ roles }) => roles.includes(connectRoleId(wake)))).toBe(false);
    expect(variablesOf(wake, logicalId(wake.stack.functions[MAIN_SOCKET_ROUTE_HANDLERS.$connect].function))).not.toHaveProperty('MEDIA_INSTANCE_ID');
  });

  test('the wake may write its logs, use the table and start the node: nothing else (no Management API, no invoke, no DNS)', () => {
    const actions = policyStatements(wake.template)
      .filter(({ roles }) => roles.includes(`"${wakeRoleId(wake)}"`))
      .flatMap(({ statement }) => actionsOf(statement));
    expect(actions.some((a) => a.startsWith('dynamodb:'))).toBe(true);
    expect(actions.filter((a) => !a.startsWith('dynamodb:')).sort()).toEqual(['ec2:StartInstances', 'logs:CreateLogStream', 'logs:PutLogEvents']);
  });

  test('the wake and the check know the instance and MEDIA_START_ON=voice', () => {
    const checkFunctionId = logicalId(wake.stack.node.findChild('MediaLifecycle').node.findChild('Check').node.findChild('Function'));
    for (const id of [wakeFunctionId(wake), checkFunctionId]) {
      expect(variablesOf(wake, id)).toMatchObject({ MEDIA_INSTANCE_ID: { Ref: instanceId(wake) }, MEDIA_IDLE_MINUTES: '15', MEDIA_START_ON: 'voice', COOKIE_DOMAIN: 'chat.example.com' });
      expect(variablesOf(wake, id)).toHaveProperty('TABLE_NAME');
    }
  });

  test('the stopping node parks voice.<domain> as an alias of the wake domain; the boot still writes its address with TTL 60', () => {
    const script = addressScript(wake);
    expect(script).toContain('"Name":"voice.chat.example.com","Type":"A","TTL":60,"ResourceRecords":[{"Value":"\'"$address"\'"}]');
    const alias = `"AliasTarget":{"HostedZoneId":"\${{"Fn::GetAtt":["${wakeDomainId(wake)}","RegionalHostedZoneId"]}}","DNSName":"\${{"Fn::GetAtt":["${wakeDomainId(wake)}","RegionalDomainName"]}}","EvaluateTargetHealth":false}`;
    expect(script).toContain(alias);
    expect(script).not.toContain('127.0.0.1');
    // Both changes are UPSERTs of that one A record: what the instance role's Route 53 conditions allow.
    expect(script.match(/"Action":"([A-Z]+)"/g)).toEqual(['"Action":"UPSERT"', '"Action":"UPSERT"']);
    const folder = mkdtempSync(join(tmpdir(), 'zavodchat-wake-'));
    try {
      writeFileSync(join(folder, 'voice-address.sh'), addressScript(wake, () => 'VALUE'));
      execFileSync('bash', ['-n', join(folder, 'voice-address.sh')]);
    } finally {
      rmSync(folder, { recursive: true, force: true });
    }
  });

  test('the node role may still only UPSERT the voice A record in the zone', () => {
    const mediaRoleId = logicalId(wake.stack.node.findChild('Media').node.findChild('Role'));
    const route53 = policyStatements(wake.template).filter(({ statement }) => actionsOf(statement).some((a) => a === '*' || a.startsWith('route53:')));
    expect([...new Set(route53.map(({ roles }) => roles))]).toEqual([`[{"Ref":"${mediaRoleId}"}]`]);
    const records = route53.filter(({ statement }) => !JSON.stringify(statement).includes('_acme-challenge') && !actionsOf(statement).includes('route53:GetChange'));
    expect(records).toHaveLength(1);
    expect((records[0].statement as { Condition?: unknown }).Condition).toEqual({
      'ForAllValues:StringEquals': {
        'route53:ChangeResourceRecordSetsNormalizedRecordNames': ['voice.chat.example.com'],
        'route53:ChangeResourceRecordSetsRecordTypes': ['A'],
        'route53:ChangeResourceRecordSetsActions': ['UPSERT'],
      },
    });
  });

  test('cdk-nag AwsSolutions: no unsuppressed error or warning', () => {
    const annotations = Annotations.fromStack(wake.stack);
    const summary = (found: SynthesisMessage[]) => found.map(({ id, entry }) => `${id}: ${String(entry.data).split('\n')[0]}`);
    expect(summary(annotations.findError('*', Match.stringLikeRegexp('AwsSolutions-.*')))).toEqual([]);
    expect(summary(annotations.findWarning('*', Match.stringLikeRegexp('AwsSolutions-.*')))).toEqual([]);
  });
});

describe('mediaStartOn=online with a Route 53 zone (as before the wake)', () => {
  test('no wake API, the main $connect starts the node, and the record is parked at 127.0.0.1', () => {
    expect(online.stack.node.tryFindChild('VoiceWake')).toBeUndefined();
    expect(Object.values(resourcesOfType(online.template, 'AWS::ApiGatewayV2::Api')).map((api) => api.Properties.Name)).not.toContain('ZavodChat-voice-wake');
    const roles = ec2Statements(online).map(({ roles }) => roles);
    expect(roles).toContain(`[{"Ref":"${connectRoleId(online)}"}]`);
    expect(variablesOf(online, logicalId(online.stack.functions[MAIN_SOCKET_ROUTE_HANDLERS.$connect].function))).toMatchObject({ MEDIA_START_ON: 'online' });
    const script = addressScript(online);
    expect(script).toContain('address=127.0.0.1');
    expect(script).not.toContain('AliasTarget');
  });

  test('cdk-nag AwsSolutions: no unsuppressed error', () => {
    expect(Annotations.fromStack(online.stack).findError('*', Match.stringLikeRegexp('AwsSolutions-.*'))).toEqual([]);
  });
});
