/**
 * The desk socket's limits: the frame budget (RATE_LIMIT_SOCKET, low here), and token expiry: the real OpenID provider of test/desk-socket.test.ts cannot sign expired
 * tokens, so here a Keycloak-like issuer (test/support/oidc-issuer.ts, Keycloak's paths and claims) signs
 * tokens with any `exp`/`nbf`, on the local runtime with DynamoDB Local. Expired and not-yet-valid tokens are
 * refused on the upgrade; a token still inside the verifier's clock skew is accepted, and its connection is
 * closed at the first event after the issuer's `exp` (docs/desk.md, "Socket").
 */
import { type DeskClient, openDesk, refusal, type DeskFrame } from './support/desk';
import { TestIssuer } from './support/oidc-issuer';
import { TestSystem } from './support/system';

let keycloak: TestIssuer;
let other: TestSystem;
beforeAll(async () => {
  keycloak = await TestIssuer.start();
  // A budget of 3 frames a minute per connection: the barrier's marker frames count too (2 per connection at most here).
  other = await TestSystem.start({ desk: true, env: { DESK_OIDC_ISSUER: keycloak.url, DESK_OIDC_AUDIENCE: keycloak.audience, RATE_LIMIT_SOCKET: '3/60' } });
});
afterAll(async () => {
  await other?.stop();
  await keycloak?.stop();
});

async function ok(response: Promise<{ status: number; text: string; json: any }>) {
  const r = await response;
  if (r.status !== 200) throw new Error(`expected 200, got ${r.status} ${r.text}`);
  return r.json ?? r.text;
}

const status = (id: string, value: 'online' | 'offline'): DeskFrame => ({ event_type: 'user_status', data: { user_id: id, status: value } });

describe('desk socket with a token near its expiry', () => {

  test('expired and not-yet-valid tokens are refused; a token within the clock skew connects and is closed at its first event after expiry', async () => {
    expect(await refusal(openDesk(other, await keycloak.token({ expiresIn: -120 })))).toEqual([401, 'Invalid or expired token']);
    expect(await refusal(openDesk(other, await keycloak.token({ notBefore: 120 })))).toEqual([401, 'Invalid or expired token']);
    const as = (token: string) => ({ headers: { authorization: `Bearer ${token}` } });
    const adminToken = await keycloak.token({ roles: ['desk-admin'] });
    const curatorToken = await keycloak.token({ roles: ['curator'], name: 'C' });
    const curatorId = (await ok(other.rest('GET', '/desk/me', as(curatorToken)))).id;
    const topicId = (await ok(other.rest('POST', '/desk/topics', { json: { name: 'T' }, ...as(adminToken) }))).id;
    await ok(other.rest('PUT', `/desk/topics/${topicId}/curators/${curatorId}`, as(adminToken)));
    const curator = await openDesk(other, curatorToken);

    // Within the 60 s skew, but past the issuer's `exp`: accepted, and the connection lives until its next event.
    const lateToken = await keycloak.token({ expiresIn: -30, name: 'Late' });
    const late = await openDesk(other, lateToken);
    const lateId = (await ok(other.rest('GET', '/desk/me', as(lateToken)))).id;
    expect(await curator.take()).toEqual([status(lateId, 'online')]);
    const chatId = (await ok(other.rest('POST', '/desk/chats', { json: { chat_type: 'topic', topic_id: topicId }, ...as(lateToken) }))).chat_id;
    // Its event is not delivered to the expired connection: that is closed instead, and its user goes offline.
    expect(await curator.take()).toEqual([{ event_type: 'new_chat', data: { user_id: lateId, chat_id: chatId, chat_type: 'topic' } }, status(lateId, 'offline')]);
    await late.closed;
    expect(late.frames).toEqual([]);
    await curator.close();
  });
});

describe('desk socket frame budget', () => {
  /** Condition wait for `count` frames (no barrier here: its marker would be a frame of the budget). */
  async function frames(client: DeskClient, count: number): Promise<DeskFrame[]> {
    const deadline = Date.now() + 10_000;
    while (client.frames.length < count) {
      if (Date.now() > deadline) throw new Error(`expected ${count} frames, got ${JSON.stringify(client.frames)}`);
      await new Promise((resolve) => client.socket.once('message', resolve));
    }
    return client.frames.splice(0);
  }

  test('over RATE_LIMIT_SOCKET frames are refused once, then dropped; twice the budget closes the connection', async () => {
    const client = await openDesk(other, await keycloak.token({ name: 'Chatty' }));
    for (let i = 0; i < 3; i++) client.send({ event_type: `hello-${i}` });
    const answers = await frames(client, 3);
    expect(answers.map((f) => f.data.message).sort()).toEqual([0, 1, 2].map((i) => `unknown event 'hello-${i}': the desk socket takes no events from clients`));
    client.send({ event_type: 'fourth' });
    expect(await frames(client, 1)).toEqual([{ event_type: 'error', data: { message: 'too many frames: at most 3 per 60 s, the rest of this window is ignored' } }]);
    for (let i = 0; i < 3; i++) client.send({ event_type: `more-${i}` });
    await client.closed;
    expect(client.frames).toEqual([]);
  });
});
