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
   * Without an Elastic IP (billed every hour, running or stopped) the node's public address changes at each
   * start. With a Route 53 zone the node owns `recordName` (A, TTL 60): a boot unit writes the address of
   * this boot into it and into ANNOUNCED_ADDRESS before the media service starts, and parks it at 127.0.0.1
   * when the instance shuts down, so that while the node is stopped a voice join fails at once (connection
   * refused) instead of waiting on an address that answers nothing, and no released address that AWS may
   * give to someone else stays in the domain's DNS. The permission is one action on one zone, narrowed by
   * Route 53's condition keys to UPSERT of that one A record. The unit itself is installed by the node's
   * first-boot script (voiceAddressCommands, before the certificate step, which needs the record).
   */
  allowAddressPublishing(role: iam.IRole, zone: route53.IHostedZone, recordName: string): void {
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

export const VOICE_ADDRESS_PATHS = {
  script: '/opt/zavodchat/voice-address.sh',
  environmentFile: '/etc/zavodchat/address.env',
  unit: 'zavodchat-address',
  mediaService: 'zavodchat-media',
} as const;

/**
 * First-boot commands that install and run the address unit: a oneshot that runs before the media service
 * at every boot (`publish`) and again when the instance shuts down (`park`). They run before the
 * certificate step of the first boot, whose challenge needs the record.
 */
export function voiceAddressCommands(zoneId: string, recordName: string): string[] {
  const P = VOICE_ADDRESS_PATHS;
  const file = (path: string, lines: string[]) => [`cat > ${path} <<'ZAVODCHAT_EOF'`, ...lines, 'ZAVODCHAT_EOF'];
  return [
    ...file(P.script, [
      '#!/bin/bash',
      '# publish: this boot\'s public IPv4 becomes ANNOUNCED_ADDRESS and the voice record; park: the record points at 127.0.0.1.',
      'set -euo pipefail',
      'if [ "$1" = publish ]; then',
      "  token=$(curl -sf -X PUT http://169.254.169.254/latest/api/token -H 'X-aws-ec2-metadata-token-ttl-seconds: 60')",
      '  address=$(curl -sf -H "X-aws-ec2-metadata-token: $token" http://169.254.169.254/latest/meta-data/public-ipv4)',
      `  echo "ANNOUNCED_ADDRESS=$address" > ${P.environmentFile}`,
      'else',
      '  address=127.0.0.1',
      'fi',
      `change='{"Changes":[{"Action":"UPSERT","ResourceRecordSet":{"Name":"${recordName}","Type":"A","TTL":60,"ResourceRecords":[{"Value":"'"$address"'"}]}}]}'`,
      'for attempt in 1 2 3 4 5; do',
      `  if aws route53 change-resource-record-sets --hosted-zone-id ${zoneId} --change-batch "$change" > /dev/null; then exit 0; fi`,
      '  sleep $((attempt * 2))',
      'done',
      'echo "could not point ' + recordName + ' at $address" >&2',
      'exit 1',
    ]),
    `chmod 0755 ${P.script}`,
    ...file(`/etc/systemd/system/${P.unit}.service`, [
      '[Unit]',
      `Description=Point ${recordName} at this boot's public address (and at 127.0.0.1 on shutdown)`,
      'After=network-online.target',
      'Wants=network-online.target',
      `Before=${P.mediaService}.service`,
      '[Service]',
      'Type=oneshot',
      'RemainAfterExit=yes',
      `ExecStart=${P.script} publish`,
      `ExecStop=${P.script} park`,
      'Restart=on-failure',
      'RestartSec=10',
      '[Install]',
      'WantedBy=multi-user.target',
    ]),
    `install -d /etc/systemd/system/${P.mediaService}.service.d`,
    ...file(`/etc/systemd/system/${P.mediaService}.service.d/address.conf`, [
      '[Unit]',
      `Requires=${P.unit}.service`,
      `After=${P.unit}.service`,
      '[Service]',
      '# Read after the main environment file: this ANNOUNCED_ADDRESS wins.',
      `EnvironmentFile=${P.environmentFile}`,
    ]),
    'systemctl daemon-reload',
    `systemctl enable --now ${P.unit}.service`,
  ];
}
