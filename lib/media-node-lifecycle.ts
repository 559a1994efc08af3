import { Duration, Stack } from 'aws-cdk-lib';
import type * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as events from 'aws-cdk-lib/aws-events';
import * as eventTargets from 'aws-cdk-lib/aws-events-targets';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as logs from 'aws-cdk-lib/aws-logs';
import type * as route53 from 'aws-cdk-lib/aws-route53';
import { Construct } from 'constructs';
import { ChatFunction, type HandlerSpec } from './lambda-functions';
import type { ChatTable } from './storage';

/** The scheduled check: a handler outside HANDLERS because it exists only with an on-demand media node. */
export const MEDIA_NODE_CHECK: HandlerSpec = {
  entry: 'lambdas/schedule/media-node-check.ts',
  description: 'Media node on demand: completes starts and stops, stops the node when idle',
  grants: [],
  // Two DynamoDB queries and at most two EC2 calls; more than one hung table call (worstCaseCallMs).
  timeoutSeconds: 30,
};

/** How often the check runs: the idle time is counted in these steps. */
export const CHECK_RATE = Duration.minutes(1);

export interface MediaNodeLifecycleProps {
  /** The media node's instance: the only thing either function may start, and the only one the check may stop. */
  instance: ec2.Instance;
  /** `$connect` of the main socket: starts the node when a member comes online. */
  connectFunction: ChatFunction;
  table: ChatTable;
  /** The Lambdas' shared settings (TABLE_NAME, WS_MANAGEMENT_ENDPOINT, ...). */
  environment: Record<string, string>;
  idleMinutes: number;
  logRetention: logs.RetentionDays;
}

/**
 * Pay-per-use voice (lambdas/domain/media-node-lifecycle.ts): `$connect` may start the media node, and a
 * check every minute (EventBridge -> Lambda) completes transitions and stops it after the idle time.
 * Least privilege: StartInstances (both functions) and StopInstances (the check only) on this one
 * instance's ARN; no DescribeInstances, which cannot be scoped to an instance.
 */
export class MediaNodeLifecycle extends Construct {
  readonly check: ChatFunction;
  readonly rule: events.Rule;
  readonly instanceArn: string;

  constructor(scope: Construct, id: string, props: MediaNodeLifecycleProps) {
    super(scope, id);
    this.instanceArn = Stack.of(this).formatArn({ service: 'ec2', resource: 'instance', resourceName: props.instance.instanceId });
    const lifecycleEnvironment = { MEDIA_INSTANCE_ID: props.instance.instanceId, MEDIA_IDLE_MINUTES: String(props.idleMinutes) };

    this.check = new ChatFunction(this, 'Check', {
      spec: MEDIA_NODE_CHECK,
      environment: { ...props.environment, ...lifecycleEnvironment },
      logRetention: props.logRetention,
    });
    props.table.grantDataAccess(this.check.role);
    this.check.role.addToPolicy(new iam.PolicyStatement({ actions: ['ec2:StartInstances', 'ec2:StopInstances'], resources: [this.instanceArn] }));

    for (const [name, value] of Object.entries(lifecycleEnvironment)) props.connectFunction.function.addEnvironment(name, value);
    props.connectFunction.role.addToPolicy(new iam.PolicyStatement({ actions: ['ec2:StartInstances'], resources: [this.instanceArn] }));

    this.rule = new events.Rule(this, 'Schedule', {
      description: 'Media node on demand: the idle check',
      schedule: events.Schedule.rate(CHECK_RATE),
      // A check that failed is simply run again a minute later: no retries piling up behind it.
      targets: [new eventTargets.LambdaFunction(this.check.function, { retryAttempts: 0 })],
    });
  }

  /**
   * Without an Elastic IP the node's public address changes at every start: with a Route 53 zone the node
   * updates `recordName` (A, UPSERT only, that one name) at boot. The permission is scoped by Route 53's
   * condition keys, so the instance cannot touch any other record of the zone.
   */
  allowAddressRecordUpdate(role: iam.IRole, zone: route53.IHostedZone, recordName: string): void {
    role.addToPrincipalPolicy(
      new iam.PolicyStatement({
        actions: ['route53:ChangeResourceRecordSets'],
        resources: [zone.hostedZoneArn],
        conditions: {
          'ForAllValues:StringEquals': {
            'route53:ChangeResourceRecordSetsNormalizedRecordNames': [recordName.toLowerCase()],
            'route53:ChangeResourceRecordSetsRecordTypes': ['A'],
            'route53:ChangeResourceRecordSetsActions': ['UPSERT'],
          },
        },
      }),
    );
  }
}
