import { Duration, Stack } from 'aws-cdk-lib';
import type * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as events from 'aws-cdk-lib/aws-events';
import * as eventTargets from 'aws-cdk-lib/aws-events-targets';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as logs from 'aws-cdk-lib/aws-logs';
import type * as route53 from 'aws-cdk-lib/aws-route53';
import { Construct } from 'constructs';
import type { MediaStartOn } from '../lambdas/domain/media-node-lifecycle';
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
  /** The media node's instance: the only thing any of the functions may start, and the only one the check may stop. */
  instance: ec2.Instance;
  /**
   * What starts the node: `online`, the main socket's `$connect` (a member came online); `voice`, the voice
   * wake's `$connect` (a voice join attempt; lib/voice-wake.ts).
   */
  startOn: MediaStartOn;
  /** The function that starts the node: may StartInstances on it, and gets the lifecycle's settings. */
  starter: ChatFunction;
  table: ChatTable;
  /** The Lambdas' shared settings (TABLE_NAME, WS_MANAGEMENT_ENDPOINT, ...). */
  environment: Record<string, string>;
  idleMinutes: number;
  logRetention: logs.RetentionDays;
}

/**
 * Pay-per-use voice (lambdas/domain/media-node-lifecycle.ts): the starter (the main socket's `$connect`, or
 * the voice wake's) may start the media node, and a check every minute (EventBridge -> Lambda) completes
 * transitions and stops it after the idle time. Least privilege: StartInstances (both functions) and
 * StopInstances (the check only) on this one instance's ARN; no DescribeInstances, which cannot be scoped
 * to an instance. With `voice` the main socket's `$connect` gets neither the permission nor the instance id.
 */
export class MediaNodeLifecycle extends Construct {
  readonly check: ChatFunction;
  readonly rule: events.Rule;
  readonly instanceArn: string;

  constructor(scope: Construct, id: string, props: MediaNodeLifecycleProps) {
    super(scope, id);
    this.instanceArn = Stack.of(this).formatArn({ service: 'ec2', resource: 'instance', resourceName: props.instance.instanceId });
    const lifecycleEnvironment = {
      MEDIA_INSTANCE_ID: props.instance.instanceId,
      MEDIA_IDLE_MINUTES: String(props.idleMinutes),
      MEDIA_START_ON: props.startOn,
    };

    this.check = new ChatFunction(this, 'Check', {
      spec: MEDIA_NODE_CHECK,
      environment: { ...props.environment, ...lifecycleEnvironment },
      logRetention: props.logRetention,
    });
    props.table.grantDataAccess(this.check.role);
    this.check.role.addToPolicy(new iam.PolicyStatement({ actions: ['ec2:StartInstances', 'ec2:StopInstances'], resources: [this.instanceArn] }));

    for (const [name, value] of Object.entries(lifecycleEnvironment)) props.starter.function.addEnvironment(name, value);
    props.starter.role.addToPolicy(new iam.PolicyStatement({ actions: ['ec2:StartInstances'], resources: [this.instanceArn] }));

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
   * this boot into it and into ANNOUNCED_ADDRESS before the media service starts, and parks it when the
   * instance shuts down: at 127.0.0.1 (`online`: a voice join fails at once, connection refused, instead of
   * waiting on an address that answers nothing) or, with `voice`, as an alias A record to the voice wake
   * (whose `$connect` starts the node). Either way no released address that AWS may give to someone else
   * stays in the domain's DNS. The permission is one action on one zone, narrowed by
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

/** Where a stopped node leaves `voice.<domain>`: the voice wake's API Gateway domain (an alias target). */
export interface ParkTarget {
  /** The custom domain's regional endpoint (`d-....execute-api.<region>.amazonaws.com`). */
  dnsName: string;
  /** Its Route 53 zone (API Gateway's regional zone id). */
  hostedZoneId: string;
}

/**
 * First-boot commands that install and run the address unit: a oneshot that runs before the media service
 * at every boot (`publish`) and again when the instance shuts down (`park`). They run before the
 * certificate step of the first boot, whose challenge needs the record. `parkAt`: the voice wake
 * (`mediaStartOn=voice`); without it the record is parked at 127.0.0.1.
 */
export function voiceAddressCommands(zoneId: string, recordName: string, parkAt?: ParkTarget): string[] {
  const P = VOICE_ADDRESS_PATHS;
  const file = (path: string, lines: string[]) => [`cat > ${path} <<'ZAVODCHAT_EOF'`, ...lines, 'ZAVODCHAT_EOF'];
  const publish = `'{"Changes":[{"Action":"UPSERT","ResourceRecordSet":{"Name":"${recordName}","Type":"A","TTL":60,"ResourceRecords":[{"Value":"'"$address"'"}]}}]}'`;
  // UPSERT replaces the record of that name and type, alias or not: the same one action both ways.
  const park = parkAt
    ? `'{"Changes":[{"Action":"UPSERT","ResourceRecordSet":{"Name":"${recordName}","Type":"A","AliasTarget":{"HostedZoneId":"${parkAt.hostedZoneId}","DNSName":"${parkAt.dnsName}","EvaluateTargetHealth":false}}}]}'`
    : undefined;
  return [
    ...file(P.script, [
      '#!/bin/bash',
      parkAt
        ? "# publish: this boot's public IPv4 becomes ANNOUNCED_ADDRESS and the voice record; park: the record becomes an alias of the voice wake."
        : "# publish: this boot's public IPv4 becomes ANNOUNCED_ADDRESS and the voice record; park: the record points at 127.0.0.1.",
      'set -euo pipefail',
      'if [ "$1" = publish ]; then',
      "  token=$(curl -sf -X PUT http://169.254.169.254/latest/api/token -H 'X-aws-ec2-metadata-token-ttl-seconds: 60')",
      '  address=$(curl -sf -H "X-aws-ec2-metadata-token: $token" http://169.254.169.254/latest/meta-data/public-ipv4)',
      `  echo "ANNOUNCED_ADDRESS=$address" > ${P.environmentFile}`,
      `  change=${publish}`,
      'else',
      ...(park ? ['  address="the voice wake"', `  change=${park}`] : ['  address=127.0.0.1', `  change=${publish}`]),
      'fi',
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
      `Description=Point ${recordName} at this boot's public address (and at ${parkAt ? 'the voice wake' : '127.0.0.1'} on shutdown)`,
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
