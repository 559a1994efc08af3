import { randomUUID } from 'node:crypto';
import WebSocket from 'ws';
import { type LocalRuntime, startLocalRuntime } from '../../local/runtime';
import { GENEROUS_RATE_LIMITS } from '../support/system';
import { describeMedia } from './support/mediasoup-check';

/** Opens a socket; resolves with its first frame, or rejects with the HTTP status of a refused upgrade. */
function firstFrame(url: string, headers: Record<string, string>): Promise<{ name: string }> {
  return new Promise((resolve, reject) => {
    const socket = new WebSocket(url, { headers });
    socket.once('message', (data) => {
      resolve(JSON.parse(data.toString()) as { name: string });
      socket.close();
    });
    socket.once('unexpected-response', (_request, response) => reject(new Error(`HTTP ${response.statusCode}`)));
    socket.once('error', reject);
  });
}

describeMedia('one origin: /voice reaches the voice socket with the origin cookie', {}, () => {
  let runtime: LocalRuntime;
  let origin: string;

  beforeAll(async () => {
    const endpoint = process.env.TEST_DYNAMODB_ENDPOINT;
    if (!endpoint) throw new Error('TEST_DYNAMODB_ENDPOINT is not set: run through jest');
    runtime = await startLocalRuntime({
      host: '127.0.0.1',
      restPort: 0,
      wsPort: 0,
      vcPort: 0,
      originPort: 0,
      dynamoDbEndpoint: endpoint,
      tableName: `t${randomUUID().replace(/-/g, '')}`,
      env: GENEROUS_RATE_LIMITS,
      log: (line) => console.error(line),
    });
    origin = runtime.originUrl!;
  }, 60_000);

  afterAll(() => runtime?.stop(), 30_000);

  test('the upgrade is handed to the voice node: admitted with the cookie, refused without', async () => {
    const call = async (method: string, path: string, headers: Record<string, string>, body?: unknown) => {
      const response = await fetch(`${origin}/api${path}`, {
        method,
        headers: body === undefined ? headers : { ...headers, 'content-type': 'application/json' },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
      return { status: response.status, text: await response.text(), cookie: response.headers.get('set-cookie') };
    };
    const username = `voice_${randomUUID().slice(0, 8)}`;
    expect((await call('POST', '/register', {}, { username, displayname: username, password: 'password1' })).status).toBe(200);
    const login = await call('POST', '/auth', {}, { username, password: 'password1' });
    // The browser's part: keep the cookie the origin set and send it back on the same host.
    const cookie = { cookie: login.cookie!.split(';')[0] };
    const serverId = Number((await call('POST', '/servers?name=v', cookie)).text);
    const channelId = Number((await call('POST', `/servers/${serverId}/channels`, cookie, { name: 'talk', type: 1 })).text);

    const voiceUrl = `${origin.replace('http', 'ws')}/voice?channel=${channelId}`;
    expect(await firstFrame(voiceUrl, cookie)).toMatchObject({ name: 'offer' });
    await expect(firstFrame(voiceUrl, {})).rejects.toThrow('HTTP 401');
  }, 60_000);
});
