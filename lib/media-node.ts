import { Aws, IgnoreMode } from 'aws-cdk-lib';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import type * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import * as iam from 'aws-cdk-lib/aws-iam';
import { Asset } from 'aws-cdk-lib/aws-s3-assets';
import { NagSuppressions } from 'cdk-nag';
import { Construct } from 'constructs';
import type { MediaNodeConfig } from './config';
import { REPOSITORY_ROOT } from './lambda-functions';
import { mediaNodeUserData, type VoiceTls } from './media-node-user-data';

/**
 * The repository subset the media node runs from: sources are shipped as they are (no bundling at synth,
 * so synth needs neither Docker nor the media node's code to be finished) and the instance installs the
 * locked dependencies itself. Git-style patterns: everything at the top level is left out except these.
 */
export const MEDIA_NODE_SOURCE_PATTERNS = [
  '/*',
  '!/package.json',
  '!/package-lock.json',
  '!/tsconfig.json',
  '!/lambdas/',
  '!/media-node/',
];

export interface MediaNodeProps {
  config: MediaNodeConfig;
  /** Settings shared with the Lambdas (TABLE_NAME, WS_MANAGEMENT_ENDPOINT, limits, ...). */
  environment: Record<string, string>;
  /** Present with a custom domain: the host the certificate is issued for. */
  voiceHost?: string;
  /** The HMAC secret of REST's control commands, read by the instance at boot. */
  controlSecret: secretsmanager.ISecret;
  /**
   * False: no Elastic IP; the node publishes the public address of each boot itself
   * (voiceAddressCommands in lib/media-node-lifecycle.ts), so no public IPv4 is billed while it is stopped.
   */
  stableAddress?: boolean;
  /** First-boot commands to run before the certificate step (voiceAddressCommands, with stableAddress false). */
  bootCommands?: string[];
}

/** The node's control endpoint (REST -> node, HMAC-signed, TLS with the node's certificate). */
export const MEDIA_CONTROL_PORT = 446;

/**
 * One EC2 instance running media-node/main.ts: the voice signalling socket (wss on the voice port) and
 * mediasoup workers (one UDP and one TCP port each). It has a stable Elastic IP, announced to clients in
 * ICE candidates, and sits alone in a public-subnet VPC without NAT gateways.
 */
export class MediaNode extends Construct {
  readonly instance: ec2.Instance;
  readonly role: iam.Role;
  readonly securityGroup: ec2.SecurityGroup;
  readonly address: string;

  constructor(scope: Construct, id: string, props: MediaNodeProps) {
    super(scope, id);
    const { config } = props;

    const vpc = new ec2.Vpc(this, 'Vpc', {
      maxAzs: 1,
      natGateways: 0,
      subnetConfiguration: [{ name: 'public', subnetType: ec2.SubnetType.PUBLIC }],
      // Nothing uses the default security group; restricting it would add a custom-resource Lambda.
      restrictDefaultSecurityGroup: false,
    });
    NagSuppressions.addResourceSuppressions(vpc, [
      { id: 'AwsSolutions-VPC7', reason: 'A one-instance public VPC; flow logs cost per GB of media traffic and can be enabled when an audit needs them.' },
    ]);

    this.securityGroup = new ec2.SecurityGroup(this, 'SecurityGroup', {
      vpc,
      description: 'ZavodChat media node: voice socket and WebRTC media',
      allowAllOutbound: true,
    });
    const lastRtcPort = config.rtcFirstPort + config.rtcPortCount - 1;
    this.securityGroup.addIngressRule(ec2.Peer.anyIpv4(), ec2.Port.tcp(config.voicePort), 'voice signalling socket (wss)');
    this.securityGroup.addIngressRule(ec2.Peer.anyIpv4(), ec2.Port.tcp(MEDIA_CONTROL_PORT), 'control commands from the REST Lambda (HMAC-signed)');
    this.securityGroup.addIngressRule(ec2.Peer.anyIpv4(), ec2.Port.udpRange(config.rtcFirstPort, lastRtcPort), 'WebRTC media (UDP)');
    this.securityGroup.addIngressRule(ec2.Peer.anyIpv4(), ec2.Port.tcpRange(config.rtcFirstPort, lastRtcPort), 'WebRTC media (TCP fallback)');
    if (props.voiceHost) {
      this.securityGroup.addIngressRule(ec2.Peer.anyIpv4(), ec2.Port.tcp(80), "Let's Encrypt HTTP-01 challenges");
    }
    NagSuppressions.addResourceSuppressions(this.securityGroup, [
      { id: 'AwsSolutions-EC23', reason: 'Browsers anywhere reach the voice socket and send WebRTC media directly to this node.' },
    ]);

    if (props.stableAddress === false && !props.voiceHost) throw new Error('a media node without an Elastic IP needs a voice host name');
    const elasticIp = props.stableAddress === false ? undefined : new ec2.CfnEIP(this, 'Address', { domain: 'vpc' });
    // Without an Elastic IP the address is learned at each boot; until then the node's host name stands in.
    const announcedAddress = elasticIp?.attrPublicIp ?? (props.voiceHost as string);

    const source = new Asset(this, 'Source', {
      path: REPOSITORY_ROOT,
      exclude: MEDIA_NODE_SOURCE_PATTERNS,
      ignoreMode: IgnoreMode.GIT,
    });

    this.role = new iam.Role(this, 'Role', { assumedBy: new iam.ServicePrincipal('ec2.amazonaws.com') });
    this.role.addToPolicy(
      new iam.PolicyStatement({ actions: ['s3:GetObject'], resources: [source.bucket.arnForObjects(source.s3ObjectKey)] }),
    );

    const instanceType = new ec2.InstanceType(config.instanceType);
    const tls: VoiceTls = props.voiceHost ? { kind: 'letsencrypt', host: props.voiceHost } : { kind: 'self-signed' };
    this.instance = new ec2.Instance(this, 'Instance', {
      vpc,
      vpcSubnets: { subnetType: ec2.SubnetType.PUBLIC },
      instanceType,
      machineImage: ec2.MachineImage.latestAmazonLinux2023({
        cpuType:
          instanceType.architecture === ec2.InstanceArchitecture.ARM_64 ? ec2.AmazonLinuxCpuType.ARM_64 : ec2.AmazonLinuxCpuType.X86_64,
      }),
      securityGroup: this.securityGroup,
      role: this.role,
      requireImdsv2: true,
      blockDevices: [
        { deviceName: '/dev/xvda', volume: ec2.BlockDeviceVolume.ebs(16, { encrypted: true, volumeType: ec2.EbsDeviceVolumeType.GP3 }) },
      ],
      userData: mediaNodeUserData({
        sourceUrl: `s3://${source.s3BucketName}/${source.s3ObjectKey}`,
        region: Aws.REGION,
        announcedAddress,
        maxWorkers: config.rtcPortCount,
        controlSecretArn: props.controlSecret.secretArn,
        environment: {
          ...props.environment,
          AWS_REGION: Aws.REGION,
          VC_PORT: String(config.voicePort),
          // Worker i listens on UDP and TCP port RTC_MIN_PORT + i.
          RTC_MIN_PORT: String(config.rtcFirstPort),
          MEDIA_CONTROL_PORT: String(MEDIA_CONTROL_PORT),
          // HTTPS where the certificate is a real one (custom domain); the self-signed fallback cannot be verified by REST.
          MEDIA_CONTROL_URL: props.voiceHost ? `https://${props.voiceHost}:${MEDIA_CONTROL_PORT}` : `http://${announcedAddress}:${MEDIA_CONTROL_PORT}`,
        },
        tls,
        beforeTls: props.bootCommands,
      }),
      // New code or settings mean a new instance (user data runs at first boot only); the Elastic IP moves over.
      userDataCausesReplacement: true,
    });
    if (elasticIp) {
      new ec2.CfnEIPAssociation(this, 'AddressAssociation', {
        allocationId: elasticIp.attrAllocationId,
        instanceId: this.instance.instanceId,
      });
    }
    this.address = elasticIp?.attrPublicIp ?? this.instance.instancePublicIp;
    NagSuppressions.addResourceSuppressions(this.instance, [
      { id: 'AwsSolutions-EC28', reason: 'Basic 5-minute EC2 metrics are enough for one media node; detailed monitoring is a paid extra.' },
      {
        id: 'AwsSolutions-EC29',
        reason: 'The node is stateless (state lives in DynamoDB) and is replaced on purpose when its code changes; it is not in an Auto Scaling group because clients reach it at one Elastic IP.',
      },
    ]);
  }

  /** The public address and port clients use for the voice socket. */
  voiceSocketUrl(voiceHost: string | undefined, port: number): string {
    const host = voiceHost ?? this.address;
    return port === 443 ? `wss://${host}/` : `wss://${host}:${port}/`;
  }
}
