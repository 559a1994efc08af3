import { Annotations, Match } from 'aws-cdk-lib/assertions';
import { configFromContext } from '../../lib/config';
import { HANDLERS, type HandlerName, type HandlerSpec } from '../../lib/lambda-functions';
import { SKIP_BUNDLING } from './support/configurations';
import { actionsOf, logicalId, policyStatements, removeOutput, resourcesOf, resourcesOfType, type Synthesized, synthesize } from './support/synth';

/*
 * The offline grace on AWS (lib/offline-grace.ts): one delay queue feeding the presence function, which
 * only the functions that can remove a user's last connection may send to.
 */

let synthesized: Synthesized;
beforeAll(() => {
  synthesized = synthesize({ ...SKIP_BUNDLING, offlineGraceSeconds: '20' });
}, 120_000);
afterAll(() => removeOutput(synthesized));

const functionId = (name: HandlerName) => logicalId(synthesized.stack.functions[name].function);
const roleId = (name: HandlerName) => logicalId(synthesized.stack.functions[name].role);
const grace = () => synthesized.stack.node.findChild('OfflineGrace');
const queueId = () => logicalId(grace().node.findChild('Queue'));
const senders = (Object.keys(HANDLERS) as HandlerName[]).filter((name) => (HANDLERS[name] as HandlerSpec).grants.includes('offlineGrace'));

test('cdk-nag AwsSolutions finds nothing to report about the queues or the presence function', () => {
  const annotations = Annotations.fromStack(synthesized.stack);
  const findings = [
    ...annotations.findError('*', Match.stringLikeRegexp('AwsSolutions-.*')),
    ...annotations.findWarning('*', Match.stringLikeRegexp('AwsSolutions-.*')),
  ].map((f) => `${f.id}: ${String(f.entry.data)}`);
  expect(findings.filter((f) => /OfflineGrace|presenceOffline/.test(f))).toEqual([]);
});

test('an encrypted queue, TLS only, with a dead-letter queue and a visibility timeout six times the function\'s', () => {
  const queues = resourcesOfType(synthesized.template, 'AWS::SQS::Queue');
  const queue = queues[queueId()].Properties;
  const deadLetters = logicalId(grace().node.findChild('DeadLetters'));
  expect(queue).toMatchObject({ SqsManagedSseEnabled: true, VisibilityTimeout: 6 * HANDLERS.presenceOffline.timeoutSeconds });
  expect(JSON.stringify(queue.RedrivePolicy)).toContain(`"${deadLetters}"`);
  expect(queues[deadLetters].Properties).toMatchObject({ SqsManagedSseEnabled: true, MessageRetentionPeriod: 14 * 24 * 3600 });
  // enforceSSL: each queue's policy denies requests without TLS.
  const policies = Object.values(resourcesOfType(synthesized.template, 'AWS::SQS::QueuePolicy'));
  for (const id of [queueId(), deadLetters]) {
    const policy = policies.find((p) => JSON.stringify(p.Properties.Queues).includes(`"${id}"`));
    expect(JSON.stringify(policy?.Properties.PolicyDocument)).toContain('"aws:SecureTransport":"false"');
  }
});

test('the presence function consumes it with partial batch responses', () => {
  const mappings = Object.values(resourcesOfType(synthesized.template, 'AWS::Lambda::EventSourceMapping'));
  const mapping = mappings.find((m) => JSON.stringify(m.Properties.EventSourceArn).includes(`"${queueId()}"`));
  expect(mapping?.Properties).toMatchObject({ BatchSize: 10, FunctionResponseTypes: ['ReportBatchItemFailures'] });
  expect(JSON.stringify(mapping?.Properties.FunctionName)).toContain(`"${functionId('presenceOffline')}"`);
});

test('only the functions that remove connections may send, SendMessage only, to this queue only; they know the queue and the grace', () => {
  expect(senders.sort()).toEqual(
    [
      'mainSocketConnect',
      'mainSocketDisconnect',
      'mainSocketOpened',
      'presenceOffline',
      'rest',
      // The workspace socket shares presence: its disconnects, heartbeat closes and 410 prunes remove connections too.
      'workspaceHeartbeat',
      'workspaceSocketDefault',
      'workspaceSocketDisconnect',
      'workspaceSocketOpened',
    ].sort(),
  );
  const functions = resourcesOfType(synthesized.template, 'AWS::Lambda::Function');
  const sqsStatements = policyStatements(synthesized.template).filter(({ statement }) => actionsOf(statement).some((a) => a.startsWith('sqs:')));
  for (const name of Object.keys(HANDLERS) as HandlerName[]) {
    const mine = sqsStatements.filter(({ roles }) => roles.includes(`"${roleId(name)}"`));
    const sends = mine.filter(({ statement }) => actionsOf(statement).includes('sqs:SendMessage'));
    expect({ name, sends: sends.length }).toEqual({ name, sends: senders.includes(name) ? 1 : 0 });
    // The consumer's statement is merged with what its event source needs (below).
    const consume = name === 'presenceOffline' ? ['sqs:ChangeMessageVisibility', 'sqs:DeleteMessage', 'sqs:GetQueueAttributes', 'sqs:GetQueueUrl', 'sqs:ReceiveMessage'] : [];
    for (const { statement } of sends) {
      expect(actionsOf(statement).sort()).toEqual([...consume, 'sqs:SendMessage']);
      expect(resourcesOf(statement).map((r) => JSON.stringify(r))).toEqual([JSON.stringify({ 'Fn::GetAtt': [queueId(), 'Arn'] })]);
    }
    const variables = (functions[functionId(name)].Properties.Environment as { Variables: Record<string, unknown> }).Variables;
    if (senders.includes(name)) {
      expect(variables.PRESENCE_OFFLINE_GRACE_MS).toBe('20000');
      expect(JSON.stringify(variables.PRESENCE_OFFLINE_QUEUE_URL)).toContain(`"${queueId()}"`);
    } else {
      expect(variables).not.toHaveProperty('PRESENCE_OFFLINE_QUEUE_URL');
    }
  }
  // The consumer's event source reads and deletes; nobody else does.
  const consumers = sqsStatements.filter(({ statement }) => actionsOf(statement).includes('sqs:ReceiveMessage'));
  expect(consumers.map(({ roles }) => roles)).toEqual([expect.stringContaining(`"${roleId('presenceOffline')}"`)]);
});

test('the grace is a deployment setting in whole seconds, 15 s by default, at most SQS\'s 15 minutes', () => {
  const read = (context: Record<string, unknown>) => configFromContext((key) => context[key], {});
  expect(read({}).offlineGraceSeconds).toBe(15);
  expect(read({ offlineGraceSeconds: '0' }).offlineGraceSeconds).toBe(0);
  expect(() => read({ offlineGraceSeconds: '901' })).toThrow("context 'offlineGraceSeconds' must be an integer from 0 to 900");
});
