import { Annotations, AssetHashType, Aws, DockerImage, Lazy, Stack } from 'aws-cdk-lib';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import * as iam from 'aws-cdk-lib/aws-iam';
import { Asset } from 'aws-cdk-lib/aws-s3-assets';
import { NagSuppressions } from 'cdk-nag';
import { Construct } from 'constructs';
import type { MediaNodeConfig } from './config';
import { REPOSITORY_ROOT } from './lambda-functions';
import { buildMediaNodeBundle } from './media-node-bundle';
import { mediaNodeUserData, type VoiceTls } from './media-node-user-data';

/** How long the first boot may take before CloudFormation gives up on the node (packages, npm ci, a worker build). */
export const MEDIA_NODE_BOOT_TIMEOUT = 'PT30M';
/** From the service's start to a healthy voice socket (the cold start is seconds; this allows for a slow disk). */
export const MEDIA_NODE_HEALTH_TIMEOUT_SECONDS = 300;

/**
 * The media node's S3 asset: the esbuild bundle of media-node/main.ts and a package.json/lockfile of its
 * native dependency (lib/media-node-bundle.ts), built at synth by the local esbuild (no Docker). The asset
 * hash is the output's: only a change of what the node runs changes it, and with it the instance.
 */
export function mediaNodeBundleAsset(scope: Construct, id: string, root: string = REPOSITORY_ROOT): Asset {
  return new Asset(scope, id, {
    path: root,
    assetHashType: AssetHashType.OUTPUT,
    bundling: {
      // Never used: local bundling always succeeds or throws.
      image: DockerImage.fromRegistry('unused-local-bundling-only'),
      local: {
        tryBundle(outputDir: string): boolean {
          buildMediaNodeBundle(outputDir, root);
          return true;
        },
      },
    },
  });
}

export interface MediaNodeProps {
  config: MediaNodeConfig;
  /** Settings shared with the Lambdas (TABLE_NAME, WS_MANAGEMENT_ENDPOINT, limits, ...). */
  environment: Record<string, string>;
  /** Present with a custom domain: the host the certificate is issued for. */
  voiceHost?: string;
  /**
   * The Route 53 hosted zone holding voiceHost, when the stack manages it: Let's Encrypt then validates
   * by DNS-01 (the role may write only the host's `_acme-challenge` TXT record). Otherwise HTTP-01 on port 80.
   */
  hostedZoneId?: string;
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

/** The node's control endpoint (REST -> node, HMAC-signed, TLS with the node's own pinned certificate). */
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
  /** The AMI id the instance runs (resolved at deploy when not pinned): the MediaNodeImageId output. */
  readonly imageId: string;

  constructor(scope: Construct, id: string, props: MediaNodeProps) {
    super(scope, id);
    const { config } = props;

    const vpc = new ec2.Vpc(this, 'Vpc', {
      // One zone: the configured one, else the region's first (Fn::GetAZs). Instance types differ per zone.
      ...(config.availabilityZone ? { availabilityZones: [config.availabilityZone] } : { maxAzs: 1 }),
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
    if (props.voiceHost && !props.hostedZoneId) {
      this.securityGroup.addIngressRule(ec2.Peer.anyIpv4(), ec2.Port.tcp(80), "Let's Encrypt HTTP-01 challenges (no hosted zone for DNS-01)");
    }
    NagSuppressions.addResourceSuppressions(this.securityGroup, [
      { id: 'AwsSolutions-EC23', reason: 'Browsers anywhere reach the voice socket and send WebRTC media directly to this node.' },
    ]);

    if (props.stableAddress === false && !props.voiceHost) throw new Error('a media node without an Elastic IP needs a voice host name');
    const elasticIp = props.stableAddress === false ? undefined : new ec2.CfnEIP(this, 'Address', { domain: 'vpc' });
    // Without an Elastic IP the address is learned at each boot; until then the node's host name stands in.
    const announcedAddress = elasticIp?.attrPublicIp ?? (props.voiceHost as string);

    const bundle = mediaNodeBundleAsset(this, 'Bundle');

    this.role = new iam.Role(this, 'Role', { assumedBy: new iam.ServicePrincipal('ec2.amazonaws.com') });
    this.role.addToPolicy(
      new iam.PolicyStatement({ actions: ['s3:GetObject'], resources: [bundle.bucket.arnForObjects(bundle.s3ObjectKey)] }),
    );
    // Operators get a shell through Session Manager (no SSH key, no port 22): docs/deploy.md.
    this.role.addManagedPolicy(iam.ManagedPolicy.fromAwsManagedPolicyName('AmazonSSMManagedInstanceCore'));
    NagSuppressions.addResourceSuppressions(this.role, [
      {
        id: 'AwsSolutions-IAM4',
        reason: "AmazonSSMManagedInstanceCore is AWS's documented policy for Session Manager access, which replaces SSH.",
        appliesTo: ['Policy::arn:<AWS::Partition>:iam::aws:policy/AmazonSSMManagedInstanceCore'],
      },
    ]);

    const tls = props.voiceHost ? this.letsEncrypt(props.voiceHost, props.hostedZoneId) : ({ kind: 'self-signed' } as const);

    const instanceType = new ec2.InstanceType(config.instanceType);
    const cpuType = instanceType.architecture === ec2.InstanceArchitecture.ARM_64 ? ec2.AmazonLinuxCpuType.ARM_64 : ec2.AmazonLinuxCpuType.X86_64;
    const machineImage = config.amiId
      ? ec2.MachineImage.genericLinux({ [Stack.of(this).region]: config.amiId })
      : ec2.MachineImage.latestAmazonLinux2023({ cpuType });
    this.imageId = machineImage.getImage(this).imageId;
    if (!config.amiId) {
      Annotations.of(this).addWarningV2(
        'zavodchat:media-ami-unpinned',
        'The media node runs the latest Amazon Linux 2023 AMI, resolved at each deploy: a new AMI release replaces the node. Pin it with -c mediaAmiId=<the MediaNodeImageId output> (docs/deploy.md).',
      );
    }
    // The instance's logical id ends with a hash of its user data, which names it: resolved late.
    const signalled: { instance?: ec2.CfnInstance } = {};
    this.instance = new ec2.Instance(this, 'Instance', {
      vpc,
      vpcSubnets: { subnetType: ec2.SubnetType.PUBLIC },
      instanceType,
      machineImage,
      securityGroup: this.securityGroup,
      role: this.role,
      requireImdsv2: true,
      blockDevices: [
        { deviceName: '/dev/xvda', volume: ec2.BlockDeviceVolume.ebs(16, { encrypted: true, volumeType: ec2.EbsDeviceVolumeType.GP3 }) },
      ],
      userData: mediaNodeUserData({
        bundleUrl: `s3://${bundle.s3BucketName}/${bundle.s3ObjectKey}`,
        region: Aws.REGION,
        announcedAddress,
        maxWorkers: config.rtcPortCount,
        controlSecretArn: props.controlSecret.secretArn,
        voicePort: config.voicePort,
        environment: {
          ...props.environment,
          AWS_REGION: Aws.REGION,
          // Worker i listens on UDP and TCP port RTC_MIN_PORT + i.
          RTC_MIN_PORT: String(config.rtcFirstPort),
          MEDIA_CONTROL_PORT: String(MEDIA_CONTROL_PORT),
          // Always HTTPS, with or without a domain: the node serves its own certificate there and writes its
          // fingerprint next to this URL in each voice state; REST pins it (docs/security.md, "Media node control path").
          MEDIA_CONTROL_URL: `https://${props.voiceHost ?? announcedAddress}:${MEDIA_CONTROL_PORT}`,
        },
        tls,
        signal: { stackName: Aws.STACK_NAME, logicalId: Lazy.string({ produce: () => signalled.instance?.logicalId }) },
        healthTimeoutSeconds: MEDIA_NODE_HEALTH_TIMEOUT_SECONDS,
        beforeTls: props.bootCommands,
      }),
      // New code or settings mean a new instance (user data runs at first boot only); the Elastic IP moves over
      // once the new node has signalled that it is healthy (CreationPolicy), and only then is the old one removed.
      userDataCausesReplacement: true,
    });
    signalled.instance = this.instance.node.defaultChild as ec2.CfnInstance;
    signalled.instance.cfnOptions.creationPolicy = { resourceSignal: { count: 1, timeout: MEDIA_NODE_BOOT_TIMEOUT } };
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

  /**
   * Let's Encrypt for the voice host. The certificate and certbot's account live in a secret only this
   * role may read and write, so a replacement instance reuses them instead of issuing a new certificate.
   */
  private letsEncrypt(host: string, hostedZoneId: string | undefined): VoiceTls {
    const secret = new secretsmanager.Secret(this, 'CertificateStore', {
      description: `Let's Encrypt certificate and account of ${host} (tar.gz of certbot's directory), kept across media node replacements`,
    });
    NagSuppressions.addResourceSuppressions(secret, [
      { id: 'AwsSolutions-SMG4', reason: 'Holds a certificate that certbot renews itself; there is nothing to rotate.' },
    ]);
    this.role.addToPolicy(
      new iam.PolicyStatement({ actions: ['secretsmanager:GetSecretValue', 'secretsmanager:PutSecretValue'], resources: [secret.secretArn] }),
    );
    if (!hostedZoneId) {
      return { kind: 'letsencrypt', host, certificateSecretArn: secret.secretArn, challenge: { kind: 'http' } };
    }
    const challengeRecord = `_acme-challenge.${host}`;
    this.role.addToPolicy(
      new iam.PolicyStatement({
        actions: ['route53:ChangeResourceRecordSets'],
        resources: [`arn:${Aws.PARTITION}:route53:::hostedzone/${hostedZoneId}`],
        conditions: {
          'ForAllValues:StringEquals': {
            'route53:ChangeResourceRecordSetsNormalizedRecordNames': [challengeRecord],
            'route53:ChangeResourceRecordSetsRecordTypes': ['TXT'],
            'route53:ChangeResourceRecordSetsActions': ['UPSERT', 'DELETE'],
          },
        },
      }),
    );
    this.role.addToPolicy(
      new iam.PolicyStatement({ actions: ['route53:GetChange'], resources: [`arn:${Aws.PARTITION}:route53:::change/*`] }),
    );
    NagSuppressions.addResourceSuppressions(
      this.role,
      [
        {
          id: 'AwsSolutions-IAM5',
          reason: "Route 53 change ids are not known in advance; GetChange only reads the status of a change (certbot's wait for its TXT record).",
          appliesTo: ['Resource::arn:<AWS::Partition>:route53:::change/*'],
        },
      ],
      true,
    );
    return { kind: 'letsencrypt', host, certificateSecretArn: secret.secretArn, challenge: { kind: 'dns-route53', hostedZoneId } };
  }

  /** The public address and port clients use for the voice socket. */
  voiceSocketUrl(voiceHost: string | undefined, port: number): string {
    const host = voiceHost ?? this.address;
    return port === 443 ? `wss://${host}/` : `wss://${host}:${port}/`;
  }
}
