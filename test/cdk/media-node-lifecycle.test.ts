import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MAIN_SOCKET_ROUTE_HANDLERS } from '../../lib/lambda-functions';
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

/** Template assertions of pay-per-use voice: who may start and stop what, and the schedule of the idle check. */
let onDemand: Synthesized;
let alwaysOn: Synthesized;
let withZone: Synthesized;

beforeAll(() => {
  onDemand = synthesize();
  alwaysOn = synthesize({ mediaOnDemand: 'false' });
  // Started when someone comes online: the record is parked at 127.0.0.1 (mediaStartOn=voice: test/cdk/voice-wake.test.ts).
  withZone = synthesize({ domain: 'chat.example.com', hostedZoneId: 'Z0123456789EXAMPLE', hostedZoneName: 'example.com', mediaStartOn: 'online' });
}, 300_000);
afterAll(() => {
  removeOutput(onDemand);
  removeOutput(alwaysOn);
  removeOutput(withZone);
});

/** The one instance's logical id as the template has it (user data changes replace it, so its id carries a hash). */
function instanceId(s: Synthesized): string {
  const ids = Object.keys(resourcesOfType(s.template, 'AWS::EC2::Instance'));
  expect(ids).toHaveLength(1);
  return ids[0];
}
const isWorkspaceHeartbeat = (s: Synthesized, rule: { Properties: Record<string, unknown> }) =>
  JSON.stringify(rule.Properties.Targets).includes(`"${logicalId(s.stack.functions.workspaceHeartbeat.function)}"`);
const checkFunctionId = (s: Synthesized) => logicalId(s.stack.node.findChild('MediaLifecycle').node.findChild('Check').node.findChild('Function'));
const checkRoleId = (s: Synthesized) => logicalId(s.stack.node.findChild('MediaLifecycle').node.findChild('Check').node.findChild('Role'));
const connectRoleId = (s: Synthesized) => logicalId(s.stack.functions[MAIN_SOCKET_ROUTE_HANDLERS.$connect].role);
const ec2Statements = (s: Synthesized) => policyStatements(s.template).filter(({ statement }) => actionsOf(statement).some((a) => a === '*' || a.startsWith('ec2:')));

/** The instance's own ARN, arn:<partition>:ec2:<region>:<account>:instance/<its id>, and nothing else. */
function expectOnlyTheNode(s: Synthesized, resources: unknown[]): void {
  expect(resources).toHaveLength(1);
  const arn = JSON.stringify(resources[0]);
  expect(arn).toContain(':ec2:us-east-1:"');
  expect(arn).toContain(`":instance/",{"Ref":"${instanceId(s)}"}`);
  expect(arn).not.toContain('*');
}

describe('media node on demand (default)', () => {
  test('only the $connect handler and the idle check may touch EC2, each on the node instance alone', () => {
    const statements = ec2Statements(onDemand);
    expect(statements.map(({ roles }) => roles).sort()).toEqual([`[{"Ref":"${checkRoleId(onDemand)}"}]`, `[{"Ref":"${connectRoleId(onDemand)}"}]`].sort());
    for (const { statement } of statements) {
      expect(statement.Effect).toBe('Allow');
      expectOnlyTheNode(onDemand, resourcesOf(statement));
    }
  });

  test('$connect may start the node but never stop it; the idle check may start and stop it, nothing more', () => {
    const actionsOfRole = (roleId: string) =>
      ec2Statements(onDemand)
        .filter(({ roles }) => roles.includes(`"${roleId}"`))
        .flatMap(({ statement }) => actionsOf(statement))
        .sort();
    expect(actionsOfRole(connectRoleId(onDemand))).toEqual(['ec2:StartInstances']);
    expect(actionsOfRole(checkRoleId(onDemand))).toEqual(['ec2:StartInstances', 'ec2:StopInstances']);
    // No condition is needed to narrow what is already one ARN, and none widens it.
    for (const { statement } of ec2Statements(onDemand)) expect((statement as { Condition?: unknown }).Condition).toBeUndefined();
  });

  test('the idle check runs every minute, without retries, and both functions name the instance', () => {
    const { template } = onDemand;
    // Besides the workspace socket's heartbeat (test/cdk/protocol-sockets.test.ts), which runs in every deployment.
    const rules = Object.values(resourcesOfType(template, 'AWS::Events::Rule')).filter((rule) => !isWorkspaceHeartbeat(onDemand, rule));
    expect(rules).toHaveLength(1);
    expect(rules[0].Properties).toMatchObject({ ScheduleExpression: 'rate(1 minute)', State: 'ENABLED' });
    const [target] = rules[0].Properties.Targets as Array<{ Arn: unknown; RetryPolicy?: { MaximumRetryAttempts: number } }>;
    expect(JSON.stringify(target.Arn)).toContain(`"${checkFunctionId(onDemand)}"`);
    expect(target.RetryPolicy?.MaximumRetryAttempts).toBe(0);

    const functions = resourcesOfType(template, 'AWS::Lambda::Function');
    const connectId = logicalId(onDemand.stack.functions[MAIN_SOCKET_ROUTE_HANDLERS.$connect].function);
    for (const id of [connectId, checkFunctionId(onDemand)]) {
      const variables = (functions[id].Properties.Environment as { Variables: Record<string, unknown> }).Variables;
      expect(variables.MEDIA_INSTANCE_ID).toEqual({ Ref: instanceId(onDemand) });
      expect(variables.MEDIA_IDLE_MINUTES).toBe('15');
      expect(variables).toHaveProperty('TABLE_NAME');
    }
    // Other handlers neither know the instance nor may touch it.
    for (const [id, fn] of Object.entries(functions)) {
      if (id === connectId || id === checkFunctionId(onDemand)) continue;
      expect((fn.Properties.Environment as { Variables: Record<string, unknown> }).Variables).not.toHaveProperty('MEDIA_INSTANCE_ID');
    }
  });

  test('the smallest instance type that holds the reference community is the default', () => {
    onDemand.template.hasResourceProperties('AWS::EC2::Instance', { InstanceType: 't4g.micro' });
  });
});

describe('mediaOnDemand=false (always on)', () => {
  test('no schedule, no check function, no EC2 permission anywhere, nothing for $connect to start', () => {
    const { template } = alwaysOn;
    expect(Object.values(resourcesOfType(template, 'AWS::Events::Rule')).filter((rule) => !isWorkspaceHeartbeat(alwaysOn, rule))).toEqual([]);
    expect(ec2Statements(alwaysOn)).toEqual([]);
    expect(alwaysOn.stack.node.tryFindChild('MediaLifecycle')).toBeUndefined();
    const connectId = logicalId(alwaysOn.stack.functions[MAIN_SOCKET_ROUTE_HANDLERS.$connect].function);
    const variables = (resourcesOfType(template, 'AWS::Lambda::Function')[connectId].Properties.Environment as { Variables: Record<string, unknown> }).Variables;
    expect(variables).not.toHaveProperty('MEDIA_INSTANCE_ID');
  });
});

describe('on demand with a Route 53 zone (mediaStartOn=online): the node publishes its own address', () => {
  const mediaRoleId = () => logicalId(withZone.stack.node.findChild('Media').node.findChild('Role'));

  test('no Elastic IP, and the voice record is not a CloudFormation resource', () => {
    withZone.template.resourceCountIs('AWS::EC2::EIP', 0);
    withZone.template.resourceCountIs('AWS::EC2::EIPAssociation', 0);
    const names = Object.values(resourcesOfType(withZone.template, 'AWS::Route53::RecordSet')).map((r) => r.Properties.Name);
    expect(names).not.toContain('voice.chat.example.com.');
  });

  test('only the node may change DNS: UPSERT of the voice A record in that zone, nothing else', () => {
    const route53 = policyStatements(withZone.template).filter(({ statement }) => actionsOf(statement).some((a) => a === '*' || a.startsWith('route53:')));
    expect([...new Set(route53.map(({ roles }) => roles))]).toEqual([`[{"Ref":"${mediaRoleId()}"}]`]);
    // Its other Route 53 statements are DNS-01's TXT record (test/cdk/media-node-template.test.ts).
    const statements = route53.filter(({ statement }) => !JSON.stringify(statement).includes('_acme-challenge') && !actionsOf(statement).includes('route53:GetChange'));
    expect(statements).toHaveLength(1);
    const [{ statement }] = statements;
    expect(actionsOf(statement)).toEqual(['route53:ChangeResourceRecordSets']);
    expect(JSON.stringify(resourcesOf(statement))).toBe('["arn:aws:route53:::hostedzone/Z0123456789EXAMPLE"]');
    expect((statement as { Condition?: unknown }).Condition).toEqual({
      'ForAllValues:StringEquals': {
        'route53:ChangeResourceRecordSetsNormalizedRecordNames': ['voice.chat.example.com'],
        'route53:ChangeResourceRecordSetsRecordTypes': ['A'],
        'route53:ChangeResourceRecordSetsActions': ['UPSERT'],
      },
    });
  });

  test('the first boot installs the address unit before the certificate step, and the script is valid bash', () => {
    const script = userDataText(withZone.template);
    const unitStart = script.indexOf('systemctl enable --now zavodchat-address.service');
    expect(unitStart).toBeGreaterThan(0);
    expect(unitStart).toBeLessThan(script.indexOf('certbot'));
    expect(script).toContain('ExecStart=/opt/zavodchat/voice-address.sh publish');
    expect(script).toContain('ExecStop=/opt/zavodchat/voice-address.sh park');
    expect(script).toContain('Before=zavodchat-media.service');
    expect(script).toContain('EnvironmentFile=/etc/zavodchat/address.env');
    expect(script).toContain('--hosted-zone-id Z0123456789EXAMPLE');
    const folder = mkdtempSync(join(tmpdir(), 'zavodchat-userdata-'));
    try {
      writeFileSync(join(folder, 'user-data.sh'), script);
      // The address script itself, as the heredoc writes it.
      const body = /cat > \/opt\/zavodchat\/voice-address.sh <<'ZAVODCHAT_EOF'\n([\s\S]*?)\nZAVODCHAT_EOF/.exec(script)?.[1];
      expect(body).toContain('address=127.0.0.1');
      writeFileSync(join(folder, 'voice-address.sh'), body ?? '');
      execFileSync('bash', ['-n', join(folder, 'user-data.sh')]);
      execFileSync('bash', ['-n', join(folder, 'voice-address.sh')]);
    } finally {
      rmSync(folder, { recursive: true, force: true });
    }
  });
});
