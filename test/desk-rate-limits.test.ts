/**
 * The desk's budgets over real HTTP: every request counts against its desk user's REST budget, message
 * writes against his message budget, requests without a valid token against their address; one user over
 * his budget leaves another (same address) untouched.
 */
import { randomUUID } from 'node:crypto';
import { TestIssuer } from './support/oidc-issuer';
import { TestSystem } from './support/system';

let issuer: TestIssuer;
let system: TestSystem;

beforeAll(async () => {
  issuer = await TestIssuer.start();
  // Hour-long windows: a test of a few seconds does not straddle one.
  system = await TestSystem.start({
    env: { DESK_OIDC_ISSUER: issuer.url, DESK_OIDC_AUDIENCE: issuer.audience, RATE_LIMIT_REST: '4/3600', RATE_LIMIT_MESSAGES: '2/3600' },
  });
});
afterAll(async () => {
  await system.stop();
  await issuer.stop();
});

const call = (method: string, path: string, token: string | undefined, json?: unknown) =>
  system.rest(method, path, { json, headers: token === undefined ? {} : { authorization: `Bearer ${token}` } });

test('desk requests count per desk user; message writes on their own budget; bad tokens per address', async () => {
  const token = (roles: string[] = []) => issuer.token({ sub: randomUUID(), roles, expiresIn: 600 });
  const [admin, customer, busy, other] = [await token(['desk-admin']), await token(), await token(), await token()];

  const topic = (await call('POST', '/desk/topics', admin, { name: 't' })).json.id;
  const chat = (await call('POST', '/desk/chats', customer, { chat_type: 'topic', topic_id: topic })).json.chat_id;
  // Message writes: two, then 429; reads still go (REST budget: the open above and this read).
  expect((await call('POST', `/desk/chats/${chat}/messages`, customer, { text: 'one' })).status).toBe(200);
  expect((await call('POST', `/desk/chats/${chat}/messages`, customer, { text: 'two' })).status).toBe(200);
  const third = await call('POST', `/desk/chats/${chat}/messages`, customer, { text: 'three' });
  expect([third.status, third.text]).toEqual([429, 'Too many requests']);
  expect(Number(third.headers.get('retry-after'))).toBeGreaterThan(0);
  expect((await call('GET', `/desk/chats/${chat}/messages`, customer)).json.map((m: any) => m.text)).toEqual(['two', 'one']);

  // The REST budget: four requests, then 429 for this user only.
  for (let i = 0; i < 4; i++) expect((await call('GET', '/desk/me', busy)).status).toBe(200);
  expect((await call('GET', '/desk/me', busy)).status).toBe(429);
  expect((await call('GET', '/desk/me', other)).status).toBe(200);

  // Without a valid token: the address's budget (4), then 429 before the 401.
  const statuses: number[] = [];
  for (let i = 0; i < 5; i++) statuses.push((await call('GET', '/desk/me', i % 2 ? undefined : 'garbage')).status);
  expect(statuses).toEqual([401, 401, 401, 401, 429]);
  // Signed-in users at that address are not affected.
  expect((await call('GET', '/desk/me', other)).status).toBe(200);
});
