import { CfnOutput, Duration } from 'aws-cdk-lib';
import * as apigwv2 from 'aws-cdk-lib/aws-apigatewayv2';
import * as acm from 'aws-cdk-lib/aws-certificatemanager';
import * as route53 from 'aws-cdk-lib/aws-route53';
import * as targets from 'aws-cdk-lib/aws-route53-targets';
import { Construct } from 'constructs';
import { type CustomDomainConfig, domainNames } from './config';

/**
 * api.<parent> (REST) and ws.<parent> (the main socket at its root, the workspace and desk sockets at
 * `/socket.io` and `/connect`: SOCKET_HOST_PATHS) as API Gateway regional custom domains, so one cookie with
 * Domain=<parent> reaches REST and every socket. With a hosted zone the stack issues the certificate
 * and writes the records; with a certificate ARN the records are printed as outputs to create by hand.
 */
export class CustomDomain extends Construct {
  readonly names: ReturnType<typeof domainNames>;
  readonly restDomain: apigwv2.DomainName;
  readonly socketDomain: apigwv2.DomainName;
  /** The Route 53 zone, when the stack manages the records. */
  readonly zone?: route53.IHostedZone;

  constructor(scope: Construct, id: string, config: CustomDomainConfig) {
    super(scope, id);
    this.names = domainNames(config);
    let certificate: acm.ICertificate;
    if (config.hostedZone) {
      this.zone = route53.HostedZone.fromHostedZoneAttributes(this, 'Zone', {
        hostedZoneId: config.hostedZone.id,
        zoneName: config.hostedZone.name,
      });
      certificate = new acm.Certificate(this, 'Certificate', {
        domainName: this.names.rest,
        subjectAlternativeNames: [this.names.mainSocket],
        validation: acm.CertificateValidation.fromDns(this.zone),
      });
    } else {
      certificate = acm.Certificate.fromCertificateArn(this, 'Certificate', config.certificateArn as string);
    }
    this.restDomain = new apigwv2.DomainName(this, 'RestDomain', { domainName: this.names.rest, certificate });
    this.socketDomain = new apigwv2.DomainName(this, 'SocketDomain', { domainName: this.names.mainSocket, certificate });

    if (this.zone) {
      const records = [
        ['RestRecord', this.names.rest, this.restDomain],
        ['SocketRecord', this.names.mainSocket, this.socketDomain],
      ] as const;
      for (const [recordId, recordName, domain] of records) {
        new route53.ARecord(this, recordId, {
          zone: this.zone,
          // The plain name, not the domain's Ref: a token would get the zone name appended a second time.
          recordName,
          target: route53.RecordTarget.fromAlias(
            new targets.ApiGatewayv2DomainProperties(domain.regionalDomainName, domain.regionalHostedZoneId),
          ),
        });
      }
    } else {
      new CfnOutput(this, 'RestDnsTarget', {
        description: `Create a CNAME ${this.names.rest} pointing here`,
        value: this.restDomain.regionalDomainName,
      });
      new CfnOutput(this, 'SocketDnsTarget', {
        description: `Create a CNAME ${this.names.mainSocket} pointing here`,
        value: this.socketDomain.regionalDomainName,
      });
    }
  }

  /** voice.<parent> → the media node's Elastic IP (an output instead when the zone is not managed here). */
  pointVoiceHostAt(address: string): void {
    if (this.zone) {
      new route53.ARecord(this, 'VoiceRecord', {
        zone: this.zone,
        recordName: this.names.voice,
        target: route53.RecordTarget.fromIpAddresses(address),
        ttl: Duration.minutes(5),
      });
    } else {
      new CfnOutput(this, 'VoiceDnsTarget', { description: `Create an A record ${this.names.voice} with this address`, value: address });
    }
  }
}
