/**
 * The desk's authorization matrix (the desk's part of test/authorization.test.ts, whose identities are
 * ZavodChat sessions): every `/desk/` route the app serves, tried without a token, with a token for another
 * audience, an expired one and one not yet valid, as another
 * customer, as a curator of another topic and as a desk-admin who curates nothing, and as the customer or
 * curator of the chat. Every refusal must be the documented one, must change nothing and must call no event
 * seam; then the allowed caller's request goes through.
 */
import { randomUUID } from 'node:crypto';
import { type DeskEventSink, setDeskEventSink } from '../lambdas/domain/desk/events';
import { servedRoutes } from '../lambdas/rest/api-doc';
import { createApp } from '../lambdas/rest/app';
import { TestIssuer } from './support/oidc-issuer';
import { TestSystem } from './support/system';

type Identity = 'anonymous' | 'invalid' | 'expired' | 'future' | 'customer' | 'otherCustomer' | 'curator' | 'outsiderCurator' | 'admin';
const IDENTITIES: Identity[] = ['anonymous', 'invalid', 'expired', 'future', 'customer', 'otherCustomer', 'curator', 'outsiderCurator', 'admin'];

interface Outcome {
  status: number;
  text?: string;
}

interface Fixture {
  tokens: Record<Exclude<Identity, 'anonymous'>, string>;
  ids: Record<'customer' | 'curator' | 'outsiderCurator', string>;
  topic: string;
  otherTopic: string;
  chat: string;
  /** Messages of the customer: one to edit, one to delete, one to mark read. */
  messages: { edit: string; remove: string; read: string };
  file: string;
}

interface Operation {
  method: string;
  path: string;
  /** `any`: every signed-in user; `admin`: desk-admins; `chat`: the chat's customer and its curators; `topic`: the topic's curators. */
  scope: 'any' | 'admin' | 'chat' | 'topic';
  request: (f: Fixture) => { url: string; json?: unknown; form?: Record<string, string | Buffer> };
  ok: Exclude<Identity, 'anonymous' | 'invalid' | 'expired' | 'future'>;
  /** Answers that differ from what the scope implies. */
  also?: Partial<Record<Identity, Outcome>>;
}

const NOT_ADMIN: Outcome = { status: 403, text: 'Only a desk administrator can manage topics' };
const NO_CHAT: Outcome = { status: 404, text: 'Chat does not exist' };
const NO_TOPIC: Outcome = { status: 404, text: 'Topic does not exist' };
const PNG = Buffer.from('89504e470d0a1a0a0000000d49484452', 'hex');

const OPERATIONS: Operation[] = [
  { method: 'GET', path: '/desk/me', scope: 'any', ok: 'customer', request: () => ({ url: '/desk/me' }) },
  { method: 'GET', path: '/desk/topics', scope: 'any', ok: 'customer', request: () => ({ url: '/desk/topics' }) },
  { method: 'POST', path: '/desk/topics', scope: 'admin', ok: 'admin', request: () => ({ url: '/desk/topics', json: { name: 'new topic' } }) },
  { method: 'PUT', path: '/desk/topics/{tid}', scope: 'admin', ok: 'admin', request: (f) => ({ url: `/desk/topics/${f.otherTopic}`, json: { name: 'renamed' } }) },
  { method: 'GET', path: '/desk/topics/{tid}/curators', scope: 'admin', ok: 'admin', request: (f) => ({ url: `/desk/topics/${f.topic}/curators` }) },
  { method: 'PUT', path: '/desk/topics/{tid}/curators/{uid}', scope: 'admin', ok: 'admin', request: (f) => ({ url: `/desk/topics/${f.otherTopic}/curators/${f.ids.curator}` }) },
  { method: 'DELETE', path: '/desk/topics/{tid}/curators/{uid}', scope: 'admin', ok: 'admin', request: (f) => ({ url: `/desk/topics/${f.otherTopic}/curators/${f.ids.outsiderCurator}` }) },
  { method: 'GET', path: '/desk/topics/{tid}/chats', scope: 'topic', ok: 'curator', request: (f) => ({ url: `/desk/topics/${f.topic}/chats` }) },
  { method: 'GET', path: '/desk/curators', scope: 'admin', ok: 'admin', request: () => ({ url: '/desk/curators' }) },
  { method: 'GET', path: '/desk/my_topics', scope: 'any', ok: 'curator', request: () => ({ url: '/desk/my_topics' }) },
  { method: 'GET', path: '/desk/chats', scope: 'any', ok: 'customer', request: () => ({ url: '/desk/chats' }) },
  { method: 'POST', path: '/desk/chats', scope: 'any', ok: 'otherCustomer', request: (f) => ({ url: '/desk/chats', json: { chat_type: 'topic', topic_id: f.otherTopic } }) },
  { method: 'GET', path: '/desk/chats/{cid}', scope: 'chat', ok: 'curator', request: (f) => ({ url: `/desk/chats/${f.chat}` }) },
  {
    method: 'PUT',
    path: '/desk/chats/{cid}/status',
    scope: 'chat',
    ok: 'curator',
    request: (f) => ({ url: `/desk/chats/${f.chat}/status`, json: { status: 'resolved' } }),
    also: { customer: { status: 403, text: 'The customer cannot change status from in_progress to resolved' } },
  },
  {
    method: 'PUT',
    path: '/desk/chats/{cid}/curator',
    scope: 'chat',
    ok: 'curator',
    request: (f) => ({ url: `/desk/chats/${f.chat}/curator`, json: { curator_id: f.ids.curator } }),
    also: { customer: { status: 403, text: 'Only a curator can do this' } },
  },
  { method: 'GET', path: '/desk/chats/{cid}/messages', scope: 'chat', ok: 'curator', request: (f) => ({ url: `/desk/chats/${f.chat}/messages` }) },
  { method: 'POST', path: '/desk/chats/{cid}/messages', scope: 'chat', ok: 'customer', request: (f) => ({ url: `/desk/chats/${f.chat}/messages`, form: { file: PNG, ext: 'png' } }) },
  {
    method: 'PUT',
    path: '/desk/chats/{cid}/messages/{mid}',
    scope: 'chat',
    ok: 'customer',
    request: (f) => ({ url: `/desk/chats/${f.chat}/messages/${f.messages.edit}`, json: { text: 'edited' } }),
    also: { curator: { status: 403, text: 'Only the sender can change a message' } },
  },
  {
    method: 'DELETE',
    path: '/desk/chats/{cid}/messages/{mid}',
    scope: 'chat',
    ok: 'customer',
    request: (f) => ({ url: `/desk/chats/${f.chat}/messages/${f.messages.remove}` }),
    also: { curator: { status: 403, text: 'Only the sender can change a message' } },
  },
  { method: 'GET', path: '/desk/chats/{cid}/files/{f}', scope: 'chat', ok: 'curator', request: (f) => ({ url: f.file }) },
  { method: 'PUT', path: '/desk/chats/{cid}/read', scope: 'chat', ok: 'curator', request: (f) => ({ url: `/desk/chats/${f.chat}/read`, json: { last_message_id: f.messages.read } }) },
  { method: 'GET', path: '/desk/chats/{cid}/read', scope: 'chat', ok: 'customer', request: (f) => ({ url: `/desk/chats/${f.chat}/read` }) },
];

/** What each identity gets from an operation of a scope (undefined: allowed). */
function expected(op: Operation, who: Identity): Outcome | undefined {
  if (op.also?.[who]) return op.also[who];
  if (who === 'anonymous') return { status: 401, text: 'Missing bearer token' };
  if (who === 'invalid' || who === 'expired' || who === 'future') return { status: 401, text: 'Invalid or expired token' };
  switch (op.scope) {
    case 'any':
      return undefined;
    case 'admin':
      return who === 'admin' ? undefined : NOT_ADMIN;
    case 'topic':
      return who === 'curator' ? undefined : NO_TOPIC;
    case 'chat':
      return who === 'customer' || who === 'curator' ? undefined : NO_CHAT;
  }
}

let issuer: TestIssuer;
let system: TestSystem;
let f: Fixture;
const calls: string[] = [];
let restore: () => void;

const record = (name: string) => async () => void calls.push(name);
const recorder: DeskEventSink = {
  newChat: record('newChat'),
  newMessage: record('newMessage'),
  updateMessage: record('updateMessage'),
  deleteMessage: record('deleteMessage'),
  assignCurator: record('assignCurator'),
  updateChatStatus: record('updateChatStatus'),
  readChatMessage: record('readChatMessage'),
  userStatus: record('userStatus'),
};

async function send(method: string, request: { url: string; json?: unknown; form?: Record<string, string | Buffer> }, token?: string) {
  const headers: Record<string, string> = token === undefined ? {} : { authorization: `Bearer ${token}` };
  return system.rest(method, request.url, { json: request.json, form: request.form, headers, redirect: 'manual' });
}

async function ok(method: string, url: string, token: string, json?: unknown): Promise<any> {
  const r = await send(method, { url, json }, token);
  if (r.status !== 200) throw new Error(`${method} ${url}: ${r.status} ${r.text}`);
  return r.json ?? r.text;
}

beforeAll(async () => {
  issuer = await TestIssuer.start();
  system = await TestSystem.start({ env: { DESK_OIDC_ISSUER: issuer.url, DESK_OIDC_AUDIENCE: issuer.audience } });
  const token = (roles: string[]) => issuer.token({ sub: randomUUID(), roles, expiresIn: 900 });
  const tokens = {
    invalid: await issuer.token({ audience: 'someone-else' }),
    // Beyond the 60 s of tolerated clock skew.
    expired: await issuer.token({ expiresIn: -120, roles: ['desk-admin', 'curator'] }),
    future: await issuer.token({ notBefore: 120, roles: ['desk-admin', 'curator'] }),
    customer: await token([]),
    otherCustomer: await token([]),
    curator: await token(['curator']),
    outsiderCurator: await token(['curator']),
    admin: await token(['desk-admin']),
  };
  const id = async (t: string) => (await ok('GET', '/desk/me', t)).id as string;
  const ids = { customer: await id(tokens.customer), curator: await id(tokens.curator), outsiderCurator: await id(tokens.outsiderCurator) };
  await id(tokens.otherCustomer);
  await id(tokens.admin);
  const topic = (await ok('POST', '/desk/topics', tokens.admin, { name: 'guarded' })).id;
  const otherTopic = (await ok('POST', '/desk/topics', tokens.admin, { name: 'elsewhere' })).id;
  await ok('PUT', `/desk/topics/${topic}/curators/${ids.curator}`, tokens.admin);
  await ok('PUT', `/desk/topics/${otherTopic}/curators/${ids.outsiderCurator}`, tokens.admin);
  const chat = (await ok('POST', '/desk/chats', tokens.customer, { chat_type: 'topic', topic_id: topic })).chat_id;
  await ok('PUT', `/desk/chats/${chat}/curator`, tokens.curator, { curator_id: ids.curator });
  const post = async (text: string) => (await ok('POST', `/desk/chats/${chat}/messages`, tokens.customer, { text })).id as string;
  const messages = { edit: await post('to edit'), remove: await post('to delete'), read: await post('to read') };
  const file = (await send('POST', { url: `/desk/chats/${chat}/messages`, form: { file: PNG, ext: 'png' } }, tokens.customer)).json.files.file;
  f = { tokens, ids, topic, otherTopic, chat, messages, file };
  restore = setDeskEventSink(recorder);
}, 60_000);
afterAll(async () => {
  restore?.();
  await system.stop();
  await issuer.stop();
});

/** Everything a refused request could have changed, as the allowed users read it. */
async function state() {
  const t = f.tokens;
  return {
    chat: await ok('GET', `/desk/chats/${f.chat}`, t.curator),
    messages: await ok('GET', `/desk/chats/${f.chat}/messages`, t.customer),
    read: await ok('GET', `/desk/chats/${f.chat}/read`, t.customer),
    topics: await ok('GET', '/desk/topics', t.admin),
    curators: [await ok('GET', `/desk/topics/${f.topic}/curators`, t.admin), await ok('GET', `/desk/topics/${f.otherTopic}/curators`, t.admin)],
    chats: [await ok('GET', '/desk/chats', t.customer), await ok('GET', '/desk/chats', t.otherCustomer)],
  };
}

describe('the desk authorization matrix', () => {
  test('has an entry for every /desk/ route the app serves, and no other', () => {
    const served = servedRoutes(createApp())
      .filter((route) => route.path.startsWith('/desk/'))
      .map((route) => `${route.method} ${route.path.replace('{f}', '{f}')}`)
      .sort();
    expect(OPERATIONS.map((op) => `${op.method} ${op.path}`).sort()).toEqual(served);
  });

  test('every refusal is the documented one, changes nothing and emits nothing; the allowed caller gets through', async () => {
    const before = await state();
    const wrong: unknown[] = [];
    for (const op of OPERATIONS) {
      for (const who of IDENTITIES) {
        const expect = expected(op, who);
        if (!expect) continue;
        const r = await send(op.method, op.request(f), who === 'anonymous' ? undefined : f.tokens[who]);
        if (r.status !== expect.status || (expect.text !== undefined && r.text !== expect.text)) {
          wrong.push({ op: `${op.method} ${op.path}`, who, expected: expect, got: { status: r.status, text: r.text } });
        }
      }
    }
    expect(wrong).toEqual([]);
    expect(calls).toEqual([]);
    expect(await state()).toEqual(before);
    // The controls, in table order: each allowed request goes through.
    for (const op of OPERATIONS) {
      const r = await send(op.method, op.request(f), f.tokens[op.ok]);
      expect([`${op.method} ${op.path}`, r.status]).toEqual([`${op.method} ${op.path}`, 200]);
    }
    expect(calls.sort()).toEqual(['assignCurator', 'deleteMessage', 'newChat', 'newMessage', 'readChatMessage', 'updateChatStatus', 'updateMessage']);
  });
});
