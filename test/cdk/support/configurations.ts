/**
 * The deployment configurations the project supports (docs/deploy.md), as the CDK context `cdk deploy -c`
 * would give. CI synthesizes each one and lints its template (test/cdk/cfn-lint.test.ts).
 */
export const SUPPORTED_CONFIGURATIONS: Record<string, Record<string, unknown>> = {
  'no context': {},
  // With a zone the media node starts on a voice join attempt by default (mediaStartOn=voice: the voice wake).
  'hosted zone': {
    domain: 'chat.example.com',
    hostedZoneId: 'Z0123456789EXAMPLE',
    hostedZoneName: 'example.com',
    clientOrigins: 'https://chat.example.com',
  },
  'hosted zone, media node started when someone is online': {
    domain: 'chat.example.com',
    hostedZoneId: 'Z0123456789EXAMPLE',
    hostedZoneName: 'example.com',
    clientOrigins: 'https://chat.example.com',
    mediaStartOn: 'online',
  },
  certificate: {
    domain: 'chat.example.com',
    certificateArn: 'arn:aws:acm:us-east-1:123456789012:certificate/00000000-0000-0000-0000-000000000000',
    clientOrigins: 'https://chat.example.com',
  },
  'no media node': { deployMediaNode: 'false' },
  'second stack name': { stackName: 'ZavodChatStaging' },
  'API Gateway logging role created': { apiGatewayCloudWatchRole: 'create' },
  // The support desk signed in by a Cognito user pool (docs/deploy.md, "Pointing the desk at Keycloak or Cognito").
  'desk on Cognito': {
    DESK_OIDC_ISSUER: 'https://cognito-idp.us-east-1.amazonaws.com/us-east-1_EXAMPLE',
    DESK_OIDC_AUDIENCE: '1example23456789abcdefghij',
    DESK_ROLES_CLAIM: 'cognito:groups',
  },
};

/** Context that skips Lambda bundling: the template is the same apart from asset hashes, and synth takes a second. */
export const SKIP_BUNDLING = { 'aws:cdk:bundling-stacks': [] };
