import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Ec2ApiError, Ec2InstanceClient } from '../../lambdas/aws/ec2-instance';
import { SigV4Signer } from '../../lambdas/aws/sigv4';
import { IncorrectInstanceStateError } from '../../lambdas/domain/media-node-lifecycle';

/**
 * The EC2 Query API client against a local HTTP server that checks what EC2 checks: the SigV4 signature
 * (recomputed with the signer `test/unit/sigv4.test.ts` proves against the SDK's), the form body, and
 * answers in EC2's XML.
 */
const credentials = { accessKeyId: 'AKIDEXAMPLE', secretAccessKey: 'wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY', sessionToken: 'session-token' };
const INSTANCE = 'i-0abc1234def567890';

const stateChange = (root: string, current: string, previous: string) =>
  `<?xml version="1.0" encoding="UTF-8"?>\n<${root} xmlns="http://ec2.amazonaws.com/doc/2016-11-15/"><requestId>r-1</requestId><instancesSet><item>` +
  `<instanceId>${INSTANCE}</instanceId><currentState><code>0</code><name>${current}</name></currentState>` +
  `<previousState><code>80</code><name>${previous}</name></previousState></item></instancesSet></${root}>`;

let server: Server;
let endpoint: string;
let answer: { status: number; body: string };
const received: Array<{ form: URLSearchParams; signatureValid: boolean; headers: IncomingMessage['headers'] }> = [];

beforeAll(async () => {
  server = createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      const body = Buffer.concat(chunks);
      const amzDate = String(request.headers['x-amz-date']);
      const date = new Date(`${amzDate.slice(0, 4)}-${amzDate.slice(4, 6)}-${amzDate.slice(6, 8)}T${amzDate.slice(9, 11)}:${amzDate.slice(11, 13)}:${amzDate.slice(13, 15)}Z`);
      const expected = new SigV4Signer('eu-north-1', 'ec2').sign({ method: request.method!, host: request.headers.host!, path: request.url!, body }, credentials, date);
      received.push({ form: new URLSearchParams(body.toString()), signatureValid: expected.authorization === request.headers.authorization, headers: request.headers });
      response.writeHead(answer.status, { 'content-type': 'text/xml' }).end(answer.body);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
});
afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

const client = () => new Ec2InstanceClient(INSTANCE, async () => credentials, { region: 'eu-north-1', endpoint });

test('StartInstances: a signed form POST naming the one instance; the answer is its current state', async () => {
  answer = { status: 200, body: stateChange('StartInstancesResponse', 'pending', 'stopped') };
  expect(await client().start()).toBe('pending');
  const request = received.at(-1)!;
  expect(Object.fromEntries(request.form)).toEqual({ Action: 'StartInstances', Version: '2016-11-15', 'InstanceId.1': INSTANCE });
  expect(request.signatureValid).toBe(true);
  expect(request.headers.authorization).toMatch(/^AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE\/\d{8}\/eu-north-1\/ec2\/aws4_request, SignedHeaders=host;x-amz-date;x-amz-security-token, Signature=[0-9a-f]{64}$/);
  expect(request.headers['x-amz-security-token']).toBe('session-token');
  expect(request.headers['content-type']).toMatch(/^application\/x-www-form-urlencoded/);
});

test('StopInstances of a stopped instance reports it stopped', async () => {
  answer = { status: 200, body: stateChange('StopInstancesResponse', 'stopped', 'stopped') };
  expect(await client().stop()).toBe('stopped');
  expect(received.at(-1)!.form.get('Action')).toBe('StopInstances');
  expect(received.at(-1)!.signatureValid).toBe(true);
});

test('IncorrectInstanceState becomes IncorrectInstanceStateError; other errors keep their code and status', async () => {
  answer = {
    status: 400,
    body: `<?xml version="1.0" encoding="UTF-8"?>\n<Response><Errors><Error><Code>IncorrectInstanceState</Code><Message>The instance &apos;${INSTANCE}&apos; is not in a state from which it can be started.</Message></Error></Errors><RequestID>r-2</RequestID></Response>`,
  };
  await expect(client().start()).rejects.toThrow(IncorrectInstanceStateError);
  await expect(client().start()).rejects.toThrow(`The instance '${INSTANCE}' is not in a state from which it can be started.`);

  answer = { status: 403, body: '<Response><Errors><Error><Code>UnauthorizedOperation</Code><Message>You are not authorized to perform this operation.</Message></Error></Errors></Response>' };
  const error = await client().stop().catch((e: unknown) => e);
  expect(error).toBeInstanceOf(Ec2ApiError);
  expect(error).toMatchObject({ code: 'UnauthorizedOperation', status: 403 });
});

test('an answer without a state is an error, not a guess', async () => {
  answer = { status: 200, body: '<StartInstancesResponse><instancesSet/></StartInstancesResponse>' };
  await expect(client().start()).rejects.toThrow(/without a <currentState>/);
});

test('refuses what is not an instance id', () => {
  expect(() => new Ec2InstanceClient('i-*', async () => credentials, { region: 'eu-north-1' })).toThrow(/not an EC2 instance id/);
});

test('the runtime wires MEDIA_INSTANCE_ID to this client, signed with the credentials the SDK finds', async () => {
  const saved = { ...process.env };
  Object.assign(process.env, {
    TABLE_NAME: 'ec2-wiring-test',
    WS_MANAGEMENT_ENDPOINT: 'https://wiring.invalid/live',
    AWS_REGION: 'eu-north-1',
    AWS_ACCESS_KEY_ID: credentials.accessKeyId,
    AWS_SECRET_ACCESS_KEY: credentials.secretAccessKey,
    AWS_SESSION_TOKEN: credentials.sessionToken,
    MEDIA_INSTANCE_ID: INSTANCE,
    MEDIA_IDLE_MINUTES: '20',
    EC2_ENDPOINT: endpoint,
  });
  delete process.env.DYNAMODB_ENDPOINT;
  delete process.env.AWS_PROFILE;
  try {
    const { appContext } = await import('../../lambdas/runtime');
    const lifecycle = appContext().mediaNode!;
    expect(lifecycle.idleMs).toBe(20 * 60_000);
    answer = { status: 200, body: stateChange('StartInstancesResponse', 'pending', 'stopped') };
    expect(await lifecycle.ec2.start()).toBe('pending');
    expect(received.at(-1)!.signatureValid).toBe(true);
    expect(received.at(-1)!.form.get('InstanceId.1')).toBe(INSTANCE);
  } finally {
    process.env = saved;
  }
});
