import * as acm from 'aws-cdk-lib/aws-certificatemanager';
import * as apigwv2 from 'aws-cdk-lib/aws-apigatewayv2';
import type * as route53 from 'aws-cdk-lib/aws-route53';
import { Construct } from 'constructs';
import { ConnectOnlySocketApi, type StageSettings } from './apis';
import { ChatFunction, type HandlerSpec } from './lambda-functions';
import type { ChatTable } from './storage';

/** The wake's `$connect`: a handler outside HANDLERS because it exists only with `mediaStartOn=voice`. */
export const VOICE_WAKE_CONNECT: HandlerSpec = {
  entry: 'lambdas/socket-voice-wake/connect.ts',
  description: 'Voice wake $connect: admit a voice join as the media node would, start the node, refuse while it starts',
  grants: [],
  // A few DynamoDB calls and at most one EC2 call, within API Gateway's 29 s (as the main socket's $connect).
  timeoutSeconds: 25,
};

const AUTHORIZATION_IN_WAKE_CONNECT =
  "The voice wake's `$connect` authenticates and authorizes exactly as the media node's voice socket does (cookie, Bearer or ?token=; the channel's access rule: lambdas/domain/voice-wake.ts), and refuses every upgrade anyway: an API Gateway authorizer cannot read that cookie contract.";

export interface VoiceWakeProps extends StageSettings {
  zone: route53.IHostedZone;
  /** voice.<domain>: the name the stock client's PUBLIC_BASE_SOCKET_VC points at. */
  hostName: string;
  stageName: string;
  accessLogs: boolean;
  table: ChatTable;
  /** The Lambdas' shared settings (TABLE_NAME, CORS_ORIGINS, COOKIE_DOMAIN, ...). */
  environment: Record<string, string>;
}

/**
 * The voice wake (`mediaStartOn=voice`; docs/voice.md, "On demand"): a WebSocket API with one route,
 * `$connect`, on a regional custom domain `voice.<domain>` (its own certificate, DNS-validated in the zone).
 * While the node is stopped it parks `voice.<domain>` here (an alias A record to `regionalDomainName`), so a
 * voice join attempt reaches this `$connect`, which starts the node for an attempt the node would admit and
 * refuses it with 503 `Voice is starting, try again in a minute`. At boot the node points the record back at
 * itself. The record is the node's, not a CloudFormation resource (lib/media-node-lifecycle.ts).
 */
export class VoiceWake extends Construct {
  readonly socket: ConnectOnlySocketApi;
  readonly domainName: apigwv2.DomainName;
  readonly connect: ChatFunction;

  constructor(scope: Construct, id: string, props: VoiceWakeProps) {
    super(scope, id);
    const certificate = new acm.Certificate(this, 'Certificate', {
      domainName: props.hostName,
      validation: acm.CertificateValidation.fromDns(props.zone),
    });
    this.domainName = new apigwv2.DomainName(this, 'Domain', { domainName: props.hostName, certificate });
    this.socket = new ConnectOnlySocketApi(this, 'Socket', {
      stageName: props.stageName,
      throttle: props.throttle,
      logRetention: props.logRetention,
      accessLogs: props.accessLogs,
      domainMapping: { domainName: this.domainName },
      nameSuffix: 'voice-wake',
      description: `ZavodChat voice wake: answers ${props.hostName} while the media node is stopped`,
    });
    this.connect = new ChatFunction(this, 'Connect', { spec: VOICE_WAKE_CONNECT, environment: props.environment, logRetention: props.logRetention });
    // Reads: the session and the channel's access rule; writes: the connect budget and the node's state item.
    props.table.grantDataAccess(this.connect.role);
    this.socket.addConnectRoute(this.connect.function, AUTHORIZATION_IN_WAKE_CONNECT);
  }

  /** Where the node parks `voice.<domain>` while stopped: the custom domain's regional endpoint (an alias target). */
  get parkTarget(): { dnsName: string; hostedZoneId: string } {
    return { dnsName: this.domainName.regionalDomainName, hostedZoneId: this.domainName.regionalHostedZoneId };
  }

}
