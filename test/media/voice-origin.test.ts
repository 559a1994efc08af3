/**
 * Issue 18 item 2 on the voice socket: an upgrade from a page of an origin that is not allowed is refused
 * with 403 before admission, even with the victim's valid cookie; allowed origins and clients that name no
 * origin (native apps, our Node clients) are admitted as before. The list is CORS_ORIGINS, as for REST.
 */
import WebSocket from 'ws';
import { TestSystem, type TestUser } from '../support/system';
import { describeMedia } from './support/mediasoup-check';

const ALLOWED = 'http://localhost:5173';

describeMedia('voice socket: upgrades from pages of other origins', {}, () => {
  let system: TestSystem;
  let voiceUrl: string;
  let owner: TestUser;
  let channelId: number;

  beforeAll(async () => {
    system = await TestSystem.start({ voice: true, env: { CORS_ORIGINS: ALLOWED } });
    if (!('url' in system.runtime.voice)) throw new Error(`voice is off: ${system.runtime.voice.disabled}`);
    voiceUrl = system.runtime.voice.url;
    owner = await system.user();
    const serverId = await system.server(owner);
    channelId = Number((await system.rest('POST', `/servers/${serverId}/channels`, { as: owner, json: { name: 'voice', type: 1 } })).text);
  }, 60_000);
  afterAll(() => system?.stop());

  /** The upgrade's outcome: `open` (admitted, then closed again) or the refusal's status and body. */
  function upgrade(headers: Record<string, string>): Promise<{ status: number; body: string } | 'open'> {
    const socket = new WebSocket(`${voiceUrl}/?channel=${channelId}`, { headers: { cookie: `zavodchat_token=${owner.token}`, ...headers } });
    return new Promise((resolve, reject) => {
      // Admitted: closed once the node has set the peer up (its first frame, the SDP offer), not mid-setup.
      socket.once('open', () => {
        socket.once('close', () => resolve('open'));
        socket.once('message', () => socket.close());
      });
      socket.once('unexpected-response', (_request, response) => {
        let body = '';
        response.on('data', (chunk: Buffer) => (body += chunk.toString()));
        response.on('end', () => resolve({ status: response.statusCode ?? 0, body }));
      });
      socket.once('error', reject);
    });
  }

  test('a foreign origin gets 403 with a valid cookie; the allowed origin and no origin at all are admitted', async () => {
    expect(await upgrade({ origin: 'http://localhost:6666' })).toEqual({ status: 403, body: 'Origin not allowed' });
    expect(await upgrade({ origin: 'https://evil.example' })).toEqual({ status: 403, body: 'Origin not allowed' });
    expect(await upgrade({ origin: 'null' })).toEqual({ status: 403, body: 'Origin not allowed' });
    expect(await upgrade({ origin: ALLOWED })).toBe('open');
    expect(await upgrade({})).toBe('open');
  }, 30_000);
});
