import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { ApiGatewayManagementApiClient } from '@aws-sdk/client-apigatewaymanagementapi';
import { ManagementApiSender } from '../../lambdas/aws/management-api-sender';
import { sha256Hex, SigV4Signer, type SigningCredentials } from '../../lambdas/aws/sigv4';

process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = 'true';

describe('SigV4Signer agrees with the AWS SDK', () => {
  const cases: Array<{ id: string; stage: string; credentials: SigningCredentials; body: string }> = [
    { id: 'L0SM9cOFvHcCIhw=', stage: '/prod', credentials: { accessKeyId: 'AKIDEXAMPLE', secretAccessKey: 'wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY' }, body: '{"name":"ping"}' },
    { id: 'a+b/c==', stage: '/dev', credentials: { accessKeyId: 'ASIA1', secretAccessKey: 's3cr3t', sessionToken: 'token/with+chars=' }, body: 'é'.repeat(300) },
    { id: "it's(*)!~", stage: '', credentials: { accessKeyId: 'AK', secretAccessKey: 'SK' }, body: '' },
  ];

  test.each(cases)('connection $id on stage "$stage"', async ({ id, stage, credentials, body }) => {
    const host = 'abc123.execute-api.eu-west-1.amazonaws.com';
    const path = `${stage}/@connections/${encodeURIComponent(id)}`;
    const date = new Date('2026-11-26T12:34:56Z');
    const ours = new SigV4Signer('eu-west-1', 'execute-api').sign({ method: 'POST', host, path, body: Buffer.from(body) }, credentials, date);
    expect(ours['x-amz-date']).toBe('20261126T123456Z');
    expect(ours['x-amz-security-token']).toBe(credentials.sessionToken);
    expect(ours.authorization).toBe(await sdkAuthorization({ host, path, body: Buffer.from(body) }, credentials, date));
  });
});

/**
 * Every request shape the Lambdas sign with it (lambdas/aws: Secrets Manager, EC2, Lambda's Invoke with its
 * invocation-type header, the Management API with a precomputed payload hash), and the cached signing key
 * across a change of credentials and of day, each against the SDK's signer. docs/performance.md, "SigV4:
 * our signer or the SDK's", says why the signer is ours.
 */
describe('SigV4Signer agrees with the AWS SDK for every service it signs', () => {
  const credentials: SigningCredentials = { accessKeyId: 'ASIAEXAMPLE', secretAccessKey: 'wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY', sessionToken: 'IQoJb3JpZ2lu/+=' };
  const date = new Date('2026-12-07T23:59:59Z');
  const cases: Array<{ service: string; region: string; host: string; path: string; body: string; headers?: Record<string, string> }> = [
    { service: 'secretsmanager', region: 'eu-west-1', host: 'secretsmanager.eu-west-1.amazonaws.com', path: '/', body: '{"SecretId":"arn:aws:secretsmanager:eu-west-1:123456789012:secret:MediaControlSecret-AbCdEf"}' },
    { service: 'ec2', region: 'eu-north-1', host: 'ec2.eu-north-1.amazonaws.com', path: '/', body: 'Action=StartInstances&Version=2016-11-15&InstanceId.1=i-0123456789abcdef0' },
    {
      service: 'lambda',
      region: 'us-east-1',
      host: 'lambda.us-east-1.amazonaws.com',
      path: `/2015-03-31/functions/${encodeURIComponent('arn:aws:lambda:us-east-1:123456789012:function:ZavodChat-AfterConnect')}/invocations`,
      body: '{"connectionId":"L0SM9cOFvHcCIhw="}',
      headers: { 'x-amz-invocation-type': 'Event' },
    },
  ];

  test.each(cases)('$service', async ({ service, region, host, path, body, headers }) => {
    const ours = new SigV4Signer(region, service).sign({ method: 'POST', host, path, body: Buffer.from(body), headers }, credentials, date);
    expect(ours.authorization).toBe(await sdkAuthorization({ host, path, body: Buffer.from(body), headers }, credentials, date, { region, service }));
    if (headers) expect(ours.authorization).toContain('SignedHeaders=host;x-amz-date;x-amz-invocation-type;x-amz-security-token,');
  });

  test('a precomputed payload hash signs as the body would', async () => {
    const host = 'abc123.execute-api.eu-west-1.amazonaws.com';
    const body = Buffer.from('{"name":"message_created","data":{}}');
    const signer = new SigV4Signer('eu-west-1', 'execute-api');
    const given = signer.sign({ method: 'POST', host, path: '/live/@connections/a%3D', body, bodySha256: sha256Hex(body) }, credentials, date);
    expect(given.authorization).toBe(signer.sign({ method: 'POST', host, path: '/live/@connections/a%3D', body }, credentials, date).authorization);
    expect(given.authorization).toBe(await sdkAuthorization({ host, path: '/live/@connections/a%3D', body }, credentials, date));
  });

  test('the cached signing key follows the credentials and the day', async () => {
    const host = 'abc123.execute-api.eu-west-1.amazonaws.com';
    const body = Buffer.from('x');
    const rotated: SigningCredentials = { accessKeyId: 'ASIAOTHER', secretAccessKey: 'another-secret', sessionToken: 'other' };
    const nextDay = new Date('2026-12-08T00:00:01Z');
    const signer = new SigV4Signer('eu-west-1', 'execute-api');
    for (const [creds, when] of [[credentials, date], [rotated, date], [rotated, nextDay], [credentials, nextDay]] as const) {
      const ours = signer.sign({ method: 'POST', host, path: '/live/@connections/c', body }, creds, when);
      expect(ours.authorization).toBe(await sdkAuthorization({ host, path: '/live/@connections/c', body }, creds, when));
    }
  });
});

/**
 * The reference: the SDK's SigV4 signer with the Management API client's hash, told not to add
 * x-amz-content-sha256 (API Gateway does not need it), so both sign host, x-amz-date (and the token).
 */
async function sdkAuthorization(
  request: { host: string; path: string; body: Buffer; headers?: Record<string, string> },
  credentials: SigningCredentials,
  date: Date,
  scope: { region: string; service: string } = { region: 'eu-west-1', service: 'execute-api' },
) {
  const { SignatureV4 } = await import('@smithy/signature-v4');
  const client = new ApiGatewayManagementApiClient({ endpoint: `https://${request.host}`, region: scope.region, credentials });
  const signer = new SignatureV4({ credentials, region: scope.region, service: scope.service, sha256: client.config.sha256, applyChecksum: false });
  const signed = await signer.sign(
    { method: 'POST', protocol: 'https:', hostname: request.host, path: request.path, query: {}, headers: { ...request.headers, host: request.host }, body: request.body },
    { signingDate: date },
  );
  return signed.headers.authorization;
}

describe('ManagementApiSender over loopback HTTP', () => {
  const credentials: SigningCredentials = { accessKeyId: 'AKID', secretAccessKey: 'SECRET', sessionToken: 'SESSION' };
  let server: Server;
  let endpoint: string;
  /** What the fake Management API answers next, per call; 200 once the list is used up. */
  let answers: number[] = [];
  let received: Array<{ method?: string; url?: string; headers: IncomingMessage['headers']; body: string }> = [];

  beforeAll(async () => {
    server = createServer((request, response) => {
      const chunks: Buffer[] = [];
      request.on('data', (chunk: Buffer) => chunks.push(chunk));
      request.on('end', () => {
        received.push({ method: request.method, url: request.url, headers: request.headers, body: Buffer.concat(chunks).toString() });
        const status = answers.shift() ?? 200;
        const type = status === 410 ? 'GoneException' : status === 403 ? 'ForbiddenException' : status >= 500 ? 'InternalServerErrorException' : undefined;
        response.writeHead(status, type ? { 'x-amzn-ErrorType': `${type}:http://internal.amazon.com/` } : {}).end(type ? '{"message":"x"}' : '');
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}/prod`;
  });
  afterAll(async () => {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  });
  beforeEach(() => {
    answers = [];
    received = [];
  });

  const sender = () => new ManagementApiSender(endpoint, { region: 'eu-west-1', credentials: async () => credentials });

  test('posts the payload to the connection, signed for execute-api in the region', async () => {
    const before = new Date();
    expect(await sender().post('L0SM9cOFvHcCIhw=', '{"name":"x","data":1}')).toBe('sent');
    expect(received).toHaveLength(1);
    const [request] = received;
    expect(request.method).toBe('POST');
    expect(request.url).toBe('/prod/@connections/L0SM9cOFvHcCIhw%3D');
    expect(request.body).toBe('{"name":"x","data":1}');
    expect(request.headers['x-amz-security-token']).toBe('SESSION');
    const date = String(request.headers['x-amz-date']);
    const expected = new SigV4Signer('eu-west-1', 'execute-api').sign(
      { method: 'POST', host: String(request.headers.host), path: request.url!, body: Buffer.from(request.body) },
      credentials,
      new Date(`${date.slice(0, 4)}-${date.slice(4, 6)}-${date.slice(6, 11)}:${date.slice(11, 13)}:${date.slice(13, 15)}Z`),
    );
    expect(request.headers.authorization).toBe(expected.authorization);
    expect(expected.authorization).toContain(`AKID/${before.toISOString().slice(0, 10).replace(/-/g, '')}/eu-west-1/execute-api/aws4_request`);
  });

  test('410 means gone, and is not retried', async () => {
    answers = [410];
    expect(await sender().post('c1', 'x')).toBe('gone');
    expect(received).toHaveLength(1);
  });

  test('a 5xx is retried once; a second 5xx is an error', async () => {
    answers = [503];
    expect(await sender().post('c1', 'x')).toBe('sent');
    expect(received).toHaveLength(2);
    answers = [500, 502];
    await expect(sender().post('c1', 'x')).rejects.toThrow('HTTP 502 (InternalServerErrorException)');
  });

  test('a 403 is an error at once, named by its error type', async () => {
    answers = [403];
    await expect(sender().post('c1', 'x')).rejects.toThrow('HTTP 403 (ForbiddenException)');
    expect(received).toHaveLength(1);
  });

  test('an unreachable endpoint is an error, not a hang', async () => {
    const closed = new ManagementApiSender('http://127.0.0.1:1/prod', { region: 'eu-west-1', credentials: async () => credentials });
    await expect(closed.post('c1', 'x')).rejects.toThrow(/ECONNREFUSED/);
  });
});
