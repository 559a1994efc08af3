/**
 * `npm run test:localstack`: deploys this CDK app to a running LocalStack with cdklocal, smoke-tests REST
 * and the main socket through the emulated API Gateway, then destroys the stack (KEEP_STACK=1 keeps it).
 *
 * Needs (docs/deploy.md, "LocalStack"): LocalStack with API Gateway v2, which is in its paid plans only;
 * the aws-cdk-local package; Docker for LocalStack itself and its Lambda containers. The media node is
 * left out (deployMediaNode=false): there is no real EC2 in the emulator to run mediasoup on.
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import WebSocket from 'ws';
import { DEFAULT_CONFIG } from '../../lib/config';

const ENDPOINT = process.env.AWS_ENDPOINT_URL ?? 'http://localhost.localstack.cloud:4566';
const REGION = process.env.AWS_REGION ?? DEFAULT_CONFIG.region;
const STACK = 'ZavodChatLocalStack';
const CONTEXT = [
  `stackName=${STACK}`,
  `region=${REGION}`,
  'deployMediaNode=false',
  // The smoke test talks to the execute-api endpoints: no distribution needed (nor CloudFront in the emulator).
  'singleOrigin=false',
  'tableDeletionProtection=false',
  'retainData=false',
].flatMap((entry) => ['-c', entry]);
const TIMEOUT_MS = 15_000;

function cdklocal(args: string[]): void {
  const result = spawnSync('npx', ['--no-install', 'cdklocal', ...args, ...CONTEXT], {
    stdio: 'inherit',
    env: {
      ...process.env,
      AWS_ENDPOINT_URL: ENDPOINT,
      AWS_REGION: REGION,
      AWS_DEFAULT_REGION: REGION,
      // LocalStack accepts any credentials; these keep real ones out of reach.
      AWS_ACCESS_KEY_ID: 'test',
      AWS_SECRET_ACCESS_KEY: 'test',
      AWS_PROFILE: '',
    },
  });
  if (result.status !== 0) throw new Error(`cdklocal ${args[0]} failed (exit ${result.status})`);
}

async function assertLocalStackRuns(): Promise<void> {
  let services: Record<string, string>;
  try {
    const response = await fetch(`${ENDPOINT}/_localstack/health`, { signal: AbortSignal.timeout(5000) });
    services = ((await response.json()) as { services: Record<string, string> }).services;
  } catch (error) {
    throw new Error(`LocalStack does not answer at ${ENDPOINT} (set AWS_ENDPOINT_URL): ${String(error)}`);
  }
  if (!services.apigatewayv2 || services.apigatewayv2 === 'disabled') {
    throw new Error('this LocalStack has no API Gateway v2 (HTTP and WebSocket APIs need a paid LocalStack plan)');
  }
}

interface Outputs {
  RestUrl: string;
  MainSocketUrl: string;
}

function readOutputs(file: string): Outputs {
  const all = JSON.parse(fs.readFileSync(file, 'utf8')) as Record<string, Outputs>;
  return all[STACK];
}

/** Opens a main-socket connection; resolves with it once open, rejects with the refused upgrade's status. */
function connect(url: string): Promise<WebSocket> {
  return new Promise((resolve, reject) => {
    const socket = new WebSocket(url);
    const timer = setTimeout(() => reject(new Error('no answer to the upgrade')), TIMEOUT_MS);
    socket.once('open', () => {
      clearTimeout(timer);
      resolve(socket);
    });
    socket.once('unexpected-response', (_request, response) => {
      clearTimeout(timer);
      reject(new Error(`upgrade refused with HTTP ${response.statusCode}`));
    });
    socket.once('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
  });
}

function nextFrame(socket: WebSocket): Promise<{ name: string; data: unknown }> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('no frame received')), TIMEOUT_MS);
    socket.once('message', (data) => {
      clearTimeout(timer);
      resolve(JSON.parse(String(data)) as { name: string; data: unknown });
    });
  });
}

function check(condition: boolean, message: string): void {
  if (!condition) throw new Error(message);
}

function smokeTests(outputs: Outputs): Array<[string, () => Promise<void>]> {
  const rest = outputs.RestUrl.endsWith('/') ? outputs.RestUrl : `${outputs.RestUrl}/`;
  const username = `smoke${Date.now()}`;
  const password = 'smoke-test-password';
  let token = '';
  return [
    [
      'GET /params reports the AWS ports',
      async () => {
        const response = await fetch(`${rest}params`);
        const params = (await response.json()) as { ws_port: number };
        check(response.status === 200 && params.ws_port === 443, `status ${response.status}, ws_port ${params.ws_port}`);
      },
    ],
    [
      'register and log in over REST',
      async () => {
        const body = JSON.stringify({ username, displayname: 'Smoke Test', password });
        const registered = await fetch(`${rest}register`, { method: 'POST', body, headers: { 'content-type': 'application/json' } });
        check(registered.status === 200, `register: HTTP ${registered.status} ${await registered.text()}`);
        const login = await fetch(`${rest}auth`, {
          method: 'POST',
          body: JSON.stringify({ username, password }),
          headers: { 'content-type': 'application/json' },
        });
        token = await login.text();
        check(login.status === 200 && /^[0-9a-f-]{36}$/.test(token), `auth: HTTP ${login.status}`);
      },
    ],
    [
      'the main socket refuses a connection without a token',
      async () => {
        let refusal = 'an open socket';
        try {
          (await connect(outputs.MainSocketUrl)).close();
        } catch (error) {
          refusal = (error as Error).message;
        }
        check(refusal.includes('HTTP 401'), `expected HTTP 401, got '${refusal}'`);
      },
    ],
    [
      'the main socket accepts ?token=, takes ping and answers unknown frames with an error event',
      async () => {
        const socket = await connect(`${outputs.MainSocketUrl}?token=${token}`);
        try {
          socket.send(JSON.stringify({ name: 'ping', data: {} }));
          const reply = nextFrame(socket);
          socket.send(JSON.stringify({ name: 'no_such_event', data: {} }));
          const frame = await reply;
          check(frame.name === 'error', `expected an error event, got ${JSON.stringify(frame)}`);
        } finally {
          socket.close();
        }
      },
    ],
  ];
}

async function main(): Promise<number> {
  await assertLocalStackRuns();
  const outputsFile = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'zavodchat-localstack-')), 'outputs.json');
  cdklocal(['bootstrap']);
  cdklocal(['deploy', '--require-approval', 'never', '--outputs-file', outputsFile]);
  let failed = 0;
  let passed = 0;
  try {
    for (const [name, run] of smokeTests(readOutputs(outputsFile))) {
      try {
        await run();
        passed++;
        console.log(`ok   ${name}`);
      } catch (error) {
        failed++;
        console.log(`FAIL ${name}: ${(error as Error).message}`);
      }
    }
  } finally {
    if (!process.env.KEEP_STACK) cdklocal(['destroy', '--force']);
  }
  console.log(`${passed} passed, ${failed} failed`);
  return failed === 0 ? 0 : 1;
}

main().then(
  (code) => process.exit(code),
  (error: Error) => {
    console.error(error.message);
    process.exit(1);
  },
);
