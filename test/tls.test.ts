import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { request } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import WebSocket from 'ws';
import { type LocalRuntime, startLocalRuntime } from '../local/runtime';

/** With TLS_CERT/TLS_KEY the runtime speaks HTTPS and WSS (a self-signed certificate made for the test). */
describe('TLS', () => {
  let runtime: LocalRuntime;
  let cert: Buffer;
  beforeAll(async () => {
    const dir = mkdtempSync(join(tmpdir(), 'zavodchat-tls-'));
    const [certFile, keyFile] = [join(dir, 'cert.pem'), join(dir, 'key.pem')];
    execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '1', '-subj', '/CN=localhost', '-addext', 'subjectAltName=DNS:localhost,IP:127.0.0.1', '-keyout', keyFile, '-out', certFile], { stdio: 'ignore' });
    cert = readFileSync(certFile);
    runtime = await startLocalRuntime({
      host: '127.0.0.1',
      restPort: 0,
      wsPort: 0,
      vcPort: false,
      dynamoDbEndpoint: process.env.TEST_DYNAMODB_ENDPOINT,
      tableName: `tls${Date.now()}`,
      tls: { certFile, keyFile },
    });
  });
  afterAll(() => runtime.stop());

  test('REST answers over HTTPS and the main socket upgrades over WSS', async () => {
    expect(runtime.restUrl).toMatch(/^https:\/\//);
    expect(runtime.wsUrl).toMatch(/^wss:\/\//);
    const params = await new Promise<string>((resolve, reject) => {
      request(`${runtime.restUrl}/params`, { ca: cert }, (response) => {
        let body = '';
        response.on('data', (chunk) => (body += chunk));
        response.on('end', () => resolve(body));
      })
        .on('error', reject)
        .end();
    });
    expect(JSON.parse(params)).toHaveProperty('max_get_count', 50);
    const status = await new Promise<number>((resolve) => {
      const socket = new WebSocket(`${runtime.wsUrl}/`, { ca: cert });
      socket.on('unexpected-response', (_req, response) => resolve(response.statusCode ?? 0));
      socket.on('error', () => resolve(-1));
    });
    // Reached the gateway over TLS: refused for the missing token, as over plain WS.
    expect(status).toBe(401);
  });
});
