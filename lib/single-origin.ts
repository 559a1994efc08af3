import { CfnOutput, RemovalPolicy, Stack } from 'aws-cdk-lib';
import type * as apigwv2 from 'aws-cdk-lib/aws-apigatewayv2';
import * as cloudfront from 'aws-cdk-lib/aws-cloudfront';
import * as origins from 'aws-cdk-lib/aws-cloudfront-origins';
import * as s3 from 'aws-cdk-lib/aws-s3';
import * as s3deploy from 'aws-cdk-lib/aws-s3-deployment';
import { NagSuppressions } from 'cdk-nag';
import { Construct } from 'constructs';
import { ORIGIN_PATHS, viewerRequestFunctionCode } from './origin-paths';

export interface SingleOriginProps {
  rest: apigwv2.HttpApi;
  socket: { api: apigwv2.WebSocketApi; stage: apigwv2.WebSocketStage };
  /** The workspace socket (socket.io), served at its clients' default path `/socket.io/`. */
  workspaceSocket: { api: apigwv2.WebSocketApi; stage: apigwv2.WebSocketStage };
  /** The desk socket, at the seed's `/connect/` (`?token=`). */
  deskSocket: { api: apigwv2.WebSocketApi; stage: apigwv2.WebSocketStage };
  /** A web client build (a folder with index.html) uploaded at deploy time; without it the bucket stays empty. */
  clientBuildDir?: string;
}

/**
 * One HTTPS host for everything without a custom domain: a CloudFront distribution with `/api/*` to the HTTP
 * API, `/socket` to the main WebSocket API, `/socket.io/` to the workspace socket's, `/connect/` to the desk
 * socket's and the rest to a private S3 bucket holding the web client. The session
 * cookie is host-only: issued by `/api/auth` on this host, the browser sends it on `/socket` of the same host,
 * which two execute-api hosts can never have (docs/deploy.md, "One origin").
 */
export class SingleOrigin extends Construct {
  readonly distribution: cloudfront.Distribution;
  readonly clientBucket: s3.Bucket;

  constructor(scope: Construct, id: string, props: SingleOriginProps) {
    super(scope, id);
    const stack = Stack.of(this);
    const executeApiHost = (apiId: string) => `${apiId}.execute-api.${stack.region}.${stack.urlSuffix}`;

    this.clientBucket = new s3.Bucket(this, 'ClientBucket', {
      blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
      encryption: s3.BucketEncryption.S3_MANAGED,
      enforceSSL: true,
      objectOwnership: s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
      // A build output, rebuilt at will: nothing to keep (CloudFormation deletes it once it is empty).
      removalPolicy: RemovalPolicy.DESTROY,
    });

    const pathMapping = new cloudfront.Function(this, 'PathMapping', {
      comment: 'Single origin: /api/* -> REST without /api; /socket, /socket.io/, /connect/ -> their sockets; client routes -> index.html',
      runtime: cloudfront.FunctionRuntime.JS_2_0,
      code: cloudfront.FunctionCode.fromInline(
        viewerRequestFunctionCode(`/${props.socket.stage.stageName}`, `/${props.workspaceSocket.stage.stageName}`, `/${props.deskSocket.stage.stageName}`),
      ),
    });
    const functionAssociations = [{ function: pathMapping, eventType: cloudfront.FunctionEventType.VIEWER_REQUEST }];
    // The APIs: nothing cached, every viewer header (Cookie, Origin, Sec-WebSocket-*), cookie and query string
    // forwarded except Host, which must stay the execute-api host API Gateway routes on.
    const api = {
      viewerProtocolPolicy: cloudfront.ViewerProtocolPolicy.HTTPS_ONLY,
      allowedMethods: cloudfront.AllowedMethods.ALLOW_ALL,
      cachePolicy: cloudfront.CachePolicy.CACHING_DISABLED,
      originRequestPolicy: cloudfront.OriginRequestPolicy.ALL_VIEWER_EXCEPT_HOST_HEADER,
      functionAssociations,
    };
    const https = { protocolPolicy: cloudfront.OriginProtocolPolicy.HTTPS_ONLY, originSslProtocols: [cloudfront.OriginSslPolicy.TLS_V1_2] };

    this.distribution = new cloudfront.Distribution(this, 'Distribution', {
      comment: `${stack.stackName}: web client, REST, main and workspace sockets on one host`,
      defaultBehavior: {
        origin: origins.S3BucketOrigin.withOriginAccessControl(this.clientBucket),
        viewerProtocolPolicy: cloudfront.ViewerProtocolPolicy.REDIRECT_TO_HTTPS,
        cachePolicy: cloudfront.CachePolicy.CACHING_OPTIMIZED,
        functionAssociations,
      },
      additionalBehaviors: {
        [`${ORIGIN_PATHS.rest}*`]: { origin: new origins.HttpOrigin(executeApiHost(props.rest.apiId), https), ...api },
        [ORIGIN_PATHS.mainSocket]: { origin: new origins.HttpOrigin(executeApiHost(props.socket.api.apiId), https), ...api },
        // `/socket.io/*`: socket.io clients ask for `/socket.io/?EIO=4&transport=websocket`; the function maps
        // exactly `/socket.io/` to the stage, and any deeper path reaches API Gateway as is and is refused.
        [`${ORIGIN_PATHS.workspaceSocket}*`]: { origin: new origins.HttpOrigin(executeApiHost(props.workspaceSocket.api.apiId), https), ...api },
        // The same for the desk's `/connect/?token=`.
        [`${ORIGIN_PATHS.deskSocket}*`]: { origin: new origins.HttpOrigin(executeApiHost(props.deskSocket.api.apiId), https), ...api },
      },
      // North America and Europe edges: the lowest price per GB; viewers elsewhere are served from those.
      priceClass: cloudfront.PriceClass.PRICE_CLASS_100,
      httpVersion: cloudfront.HttpVersion.HTTP2_AND_3,
    });

    if (props.clientBuildDir) {
      const upload = new s3deploy.BucketDeployment(this, 'ClientBuild', {
        sources: [s3deploy.Source.asset(props.clientBuildDir)],
        destinationBucket: this.clientBucket,
        // A new build replaces the old one everywhere at once, index.html included.
        distribution: this.distribution,
        distributionPaths: ['/*'],
        prune: true,
        retainOnDelete: false,
      });
      this.suppressUploadFindings(upload);
    }

    NagSuppressions.addResourceSuppressions(this.clientBucket, [
      { id: 'AwsSolutions-S1', reason: 'A public web client build read only through CloudFront; server access logs need a second bucket and cost per request.' },
    ]);
    NagSuppressions.addResourceSuppressions(this.distribution, [
      { id: 'AwsSolutions-CFR1', reason: 'A chat open to its members wherever they are; no geographic restriction.' },
      { id: 'AwsSolutions-CFR2', reason: 'AWS WAF costs at least $5 a month plus per request, more than the whole system at the reference size; API Gateway stage throttling and the handlers\' rate limits bound abuse.' },
      { id: 'AwsSolutions-CFR3', reason: 'Standard logs need a log bucket and cost per request; API Gateway access logs already record every API request.' },
      { id: 'AwsSolutions-CFR4', reason: 'The default *.cloudfront.net certificate (no domain) cannot be given a minimum TLS version (it still accepts TLS 1.0 from old clients; current browsers use 1.2 or 1.3). Pinning TLSv1.2_2021 needs an alternate domain name and its certificate.' },
    ]);
  }

  /** CDK's own upload function (one per stack, outside this construct) and its role, as CDK builds them. */
  private suppressUploadFindings(upload: s3deploy.BucketDeployment): void {
    NagSuppressions.addResourceSuppressions(
      upload.handlerRole,
      [
        { id: 'AwsSolutions-IAM4', reason: "CDK's BucketDeployment function logs with the managed basic-execution policy; it runs only during deploys." },
        {
          id: 'AwsSolutions-IAM5',
          reason: "CDK's BucketDeployment grants: reading the build from the bootstrap assets bucket, replacing objects of the client bucket, invalidating the distribution (CloudFront invalidation actions have no resource-level scoping).",
        },
      ],
      true,
    );
    const stack = Stack.of(this);
    for (const child of stack.node.children) {
      if (child.node.id.startsWith('Custom::CDKBucketDeployment')) {
        NagSuppressions.addResourceSuppressions(child, [
          { id: 'AwsSolutions-L1', reason: 'The Python runtime is the one CDK pins for its BucketDeployment function (with its AWS CLI layer); it runs only during deploys.' },
        ]);
      }
    }
  }

  /** https://dxxxx.cloudfront.net, no trailing slash. */
  get url(): string {
    return `https://${this.distribution.distributionDomainName}`;
  }

  /** The outputs a web client build needs for this origin. */
  addOutputs(scope: Construct): void {
    new CfnOutput(scope, 'SiteUrl', { description: 'The single origin: open the web client here (its build goes to ClientBucketName)', value: `${this.url}/` });
    new CfnOutput(scope, 'PublicBaseRest', {
      description: `PUBLIC_BASE_REST of the web client (or just ${ORIGIN_PATHS.rest} when it is served from SiteUrl)`,
      value: `${this.url}${ORIGIN_PATHS.rest}`,
    });
    new CfnOutput(scope, 'PublicBaseSocket', {
      description: `PUBLIC_BASE_SOCKET of the web client (or just ${ORIGIN_PATHS.mainSocket} when it is served from SiteUrl)`,
      value: `wss://${this.distribution.distributionDomainName}${ORIGIN_PATHS.mainSocket}`,
    });
    new CfnOutput(scope, 'PublicWorkspaceSocket', {
      description: `The workspace socket (socket.io) on the single origin: io(<this>, { transports: ['websocket'] }), at socket.io's default path ${ORIGIN_PATHS.workspaceSocket}`,
      value: this.url,
    });
    new CfnOutput(scope, 'PublicDeskSocket', {
      description: 'The desk socket on the single origin (seed 004): <this>?token=<the OIDC access token>',
      value: `wss://${this.distribution.distributionDomainName}${ORIGIN_PATHS.deskSocket}`,
    });
    new CfnOutput(scope, 'ClientBucketName', { description: 'Where the web client build goes (aws s3 sync build/ s3://<this>/)', value: this.clientBucket.bucketName });
  }
}
