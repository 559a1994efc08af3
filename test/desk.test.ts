/**
 * The support desk's REST routes over real HTTP, on the local runtime with DynamoDB Local and a real OpenID
 * provider (npm oidc-provider in a child process, test/support/oidc-provider.ts) issuing the access tokens
 * through the authorization code flow: sign-in, topics, chats, statuses, messages, files, read markers, every
 * refusal, and the event seam's calls (events.ts) with their exact seed-004 payloads and audiences.
 */
import { randomUUID } from 'node:crypto';
import { type DeskEventSink, setDeskEventSink } from '../lambdas/domain/desk/events';
import type { Chat } from '../lambdas/domain/desk/model';
import { resolveChatAudience } from '../lambdas/domain/desk/store';
import { dynamoDbRequestCounter } from '../lambdas/aws/dynamodb-store';
import { deskEventData } from '../lambdas/domain/desk/views';
import { SignJWT } from 'jose';
import { makeKey, TestIssuer, unsignedToken } from './support/oidc-issuer';
import { RealProvider } from './support/oidc-provider';
import { TestSystem } from './support/system';

let provider: RealProvider;
/** Another real issuer: its tokens are well signed, by the wrong issuer. */
let issuer: TestIssuer;
let system: TestSystem;

/** Every seam call, in order: the event's name, its seed payload, and the chat (when it is about one). */
const seen: Array<{ event: string; data: unknown; chat?: Chat }> = [];
let restoreSink: () => void;

const recorder: DeskEventSink = {
  newChat: async (_c, chat) => void seen.push({ event: 'new_chat', data: deskEventData.new_chat(chat), chat }),
  newMessage: async (_c, chat, message) => void seen.push({ event: 'new_message', data: deskEventData.new_message(message), chat }),
  updateMessage: async (_c, chat, message) => void seen.push({ event: 'update_message', data: deskEventData.update_message(message), chat }),
  deleteMessage: async (_c, chat, message) => void seen.push({ event: 'delete_message', data: deskEventData.delete_message(message), chat }),
  assignCurator: async (_c, chat, curatorId) => void seen.push({ event: 'assign_curator', data: deskEventData.assign_curator(chat, curatorId), chat }),
  updateChatStatus: async (_c, chat) => void seen.push({ event: 'update_chat_status', data: deskEventData.update_chat_status(chat), chat }),
  readChatMessage: async (_c, chat, marker) => void seen.push({ event: 'read_chat_message', data: deskEventData.read_chat_message(marker), chat }),
  userStatus: async (_c, user, status) => void seen.push({ event: 'user_status', data: deskEventData.user_status(user, status) }),
};

/** Takes the seam calls so far. */
function events() {
  return seen.splice(0).map(({ event, data }) => ({ event, data }));
}

interface DeskUser {
  token: string;
  id: string;
  name: string;
}

beforeAll(async () => {
  [provider, issuer] = await Promise.all([RealProvider.start(), TestIssuer.start()]);
  system = await TestSystem.start({ env: { DESK_OIDC_ISSUER: provider.issuer, DESK_OIDC_AUDIENCE: provider.audience } });
  restoreSink = setDeskEventSink(recorder);
});
afterAll(async () => {
  restoreSink();
  await system.stop();
  await Promise.all([provider.stop(), issuer.stop()]);
});

async function call(method: string, path: string, options: { token?: string; json?: unknown; form?: Record<string, string | Buffer>; headers?: Record<string, string> } = {}) {
  const headers = { ...options.headers, ...(options.token !== undefined ? { authorization: `Bearer ${options.token}` } : {}) };
  return system.rest(method, path, { json: options.json, form: options.form, headers });
}

/** A signed-in desk user (created by his first request). */
async function user(roles: string[] = [], name = `u-${randomUUID().slice(0, 6)}`): Promise<DeskUser> {
  const token = await provider.token({ sub: randomUUID(), name, roles });
  const me = await call('GET', '/desk/me', { token });
  if (me.status !== 200) throw new Error(`desk/me: ${me.status} ${me.text}`);
  return { token, id: me.json.id, name };
}

async function ok(response: Promise<{ status: number; text: string; json: any }>) {
  const r = await response;
  if (r.status !== 200) throw new Error(`expected 200, got ${r.status} ${r.text}`);
  return r.json ?? r.text;
}

let admin: DeskUser;
beforeAll(async () => {
  admin = await user(['desk-admin'], 'Admin');
});

async function topic(name = `topic ${randomUUID().slice(0, 4)}`): Promise<string> {
  return (await ok(call('POST', '/desk/topics', { token: admin.token, json: { name } }))).id;
}

async function grant(topicId: string, curator: DeskUser) {
  await ok(call('PUT', `/desk/topics/${topicId}/curators/${curator.id}`, { token: admin.token }));
}

describe('desk sign-in', () => {
  test('no token, a malformed, forged, tampered, wrong-issuer, wrong-audience, unsigned or HS256 token: 401', async () => {
    const missing = await call('GET', '/desk/me');
    expect([missing.status, missing.text, missing.headers.get('www-authenticate')]).toEqual([401, 'Missing bearer token', 'Bearer']);
    const real = await provider.token({ sub: randomUUID(), name: 'Victim', roles: ['desk-admin'] });
    expect((await call('GET', '/desk/me', { token: real })).status).toBe(200);
    const [header, payload, signature] = real.split('.');
    const claims = JSON.parse(Buffer.from(payload, 'base64url').toString());
    const kid = JSON.parse(Buffer.from(header, 'base64url').toString()).kid;
    // The provider's claims and kid, signed by a key it never published.
    const impostor = await makeKey('ES256');
    const forged = await new SignJWT(claims).setProtectedHeader({ alg: 'ES256', kid, typ: 'at+jwt' }).sign(impostor.privateKey);
    const tampered = `${header}.${Buffer.from(JSON.stringify({ ...claims, sub: 'someone-else' })).toString('base64url')}.${signature}`;
    const keys = (await (await fetch(`${provider.issuer}/jwks`)).json()) as { keys: Array<{ kid: string }> };
    const publicKeyAsSecret = new TextEncoder().encode(JSON.stringify(keys.keys.find((k) => k.kid === kid)));
    const hs256 = await new SignJWT(claims).setProtectedHeader({ alg: 'HS256', kid }).sign(publicKeyAsSecret);
    const bad = {
      garbage: 'garbage',
      forged,
      tampered,
      'wrong audience (a real token for another API)': await provider.token({ sub: randomUUID(), roles: ['desk-admin'] }, provider.otherAudience),
      'wrong issuer (another real issuer, right audience)': await issuer.token({ audience: provider.audience, roles: ['desk-admin'] }),
      'alg none': unsignedToken(claims),
      'HS256 with the public key as secret': hs256,
    };
    for (const [what, token] of Object.entries(bad)) {
      const r = await call('GET', '/desk/chats', { token });
      expect([what, r.status, r.text, r.headers.get('www-authenticate')]).toEqual([what, 401, 'Invalid or expired token', 'Bearer error="invalid_token"']);
    }
    // A session token of ZavodChat is no desk token.
    const zavodchat = await system.user();
    expect((await call('GET', '/desk/me', { token: zavodchat.token })).status).toBe(401);
  });

  test('a user is created on first sight of his sub; name and roles follow the token', async () => {
    const sub = randomUUID();
    const first = await ok(call('GET', '/desk/me', { token: await provider.token({ sub, name: 'ann' }) }));
    expect(first).toEqual({ id: expect.stringMatching(/^\d+$/), name: 'ann', curator: false, admin: false });
    const again = await ok(call('GET', '/desk/me', { token: await provider.token({ sub, name: 'Ann Smith', roles: ['curator'] }) }));
    expect(again).toEqual({ id: first.id, name: 'Ann Smith', curator: true, admin: false });
    // Two first requests of a new subject at once make one user.
    const racer = randomUUID();
    const both = await Promise.all([0, 1].map(async () => ok(call('GET', '/desk/me', { token: await provider.token({ sub: racer }) }))));
    expect(both[0].id).toBe(both[1].id);
  });
});

describe('desk topics', () => {
  test('desk-admins manage topics and their curators; nobody else may', async () => {
    const curator = await user(['curator']);
    const customer = await user();
    const created = await ok(call('POST', '/desk/topics', { token: admin.token, json: { name: '  Billing ' } }));
    expect(created).toEqual({ id: expect.stringMatching(/^\d+$/), name: 'Billing', created_at: expect.stringMatching(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/) });
    for (const who of [curator, customer]) {
      expect(await call('POST', '/desk/topics', { token: who.token, json: { name: 'x' } })).toMatchObject({ status: 403, text: 'Only a desk administrator can manage topics' });
      expect((await call('PUT', `/desk/topics/${created.id}`, { token: who.token, json: { name: 'x' } })).status).toBe(403);
      expect((await call('PUT', `/desk/topics/${created.id}/curators/${curator.id}`, { token: who.token })).status).toBe(403);
      expect((await call('DELETE', `/desk/topics/${created.id}/curators/${curator.id}`, { token: who.token })).status).toBe(403);
      expect((await call('GET', `/desk/topics/${created.id}/curators`, { token: who.token })).status).toBe(403);
      expect((await call('GET', '/desk/curators', { token: who.token })).status).toBe(403);
    }
    expect(await call('POST', '/desk/topics', { token: admin.token, json: { name: '' } })).toMatchObject({ status: 400 });
    expect(await call('POST', '/desk/topics', { token: admin.token, json: { name: 'x'.repeat(101) } })).toMatchObject({ status: 400 });
    expect(await call('POST', '/desk/topics', { token: admin.token, json: { name: 7 } })).toMatchObject({ status: 400, text: "Couldn't parse 'name', got: 7" });
    expect(await call('POST', '/desk/topics', { token: admin.token, json: '[' })).toMatchObject({ status: 400, text: "Couldn't parse JSON body" });
    expect(await ok(call('PUT', `/desk/topics/${created.id}`, { token: admin.token, json: { name: 'Payments' } }))).toMatchObject({ name: 'Payments' });
    expect(await call('PUT', '/desk/topics/999999', { token: admin.token, json: { name: 'x' } })).toMatchObject({ status: 404, text: 'Topic does not exist' });
    expect(await call('PUT', '/desk/topics/abc', { token: admin.token, json: { name: 'x' } })).toMatchObject({ status: 404 });
    // Everyone signed in sees the topics (customers choose one).
    expect((await ok(call('GET', '/desk/topics', { token: customer.token }))).map((t: any) => t.id)).toContain(created.id);

    expect((await ok(call('GET', '/desk/curators', { token: admin.token }))).map((u: any) => u.id)).toContain(curator.id);
    expect(await call('PUT', `/desk/topics/${created.id}/curators/${customer.id}`, { token: admin.token })).toMatchObject({ status: 403, text: 'User is not a curator' });
    expect(await call('PUT', `/desk/topics/${created.id}/curators/999999`, { token: admin.token })).toMatchObject({ status: 404, text: 'User does not exist' });
    expect(await call('PUT', `/desk/topics/999999/curators/${curator.id}`, { token: admin.token })).toMatchObject({ status: 404, text: 'Topic does not exist' });
    await grant(created.id, curator);
    expect(await ok(call('GET', `/desk/topics/${created.id}/curators`, { token: admin.token }))).toEqual([{ id: curator.id, name: curator.name, curator: true, admin: false }]);
    expect((await ok(call('GET', '/desk/my_topics', { token: curator.token }))).map((t: any) => t.id)).toEqual([created.id]);
    expect(await ok(call('DELETE', `/desk/topics/${created.id}/curators/${curator.id}`, { token: admin.token }))).toBe('Revoked');
    expect(await ok(call('GET', `/desk/topics/${created.id}/curators`, { token: admin.token }))).toEqual([]);
    expect(await ok(call('GET', '/desk/my_topics', { token: curator.token }))).toEqual([]);
  });
});

describe('desk chats', () => {
  test('a customer opens chats; he, the curators of the topic and nobody else see them; events go to exactly them', async () => {
    const [topicA, topicB] = [await topic(), await topic()];
    const curatorA = await user(['curator']);
    const curatorA2 = await user(['curator']);
    const curatorB = await user(['curator']);
    const customer = await user();
    const stranger = await user();
    await grant(topicA, curatorA);
    await grant(topicA, curatorA2);
    await grant(topicB, curatorB);
    events();

    const chat = await ok(call('POST', '/desk/chats', { token: customer.token, json: { chat_type: 'topic', topic_id: topicA } }));
    expect(chat).toEqual({
      chat_id: expect.stringMatching(/^\d+$/),
      chat_type: 'topic',
      user_id: customer.id,
      topic_id: topicA,
      order_id: null,
      status: 'new',
      curator_id: null,
      last_message_id: null,
      created_at: expect.stringMatching(/Z$/),
      updated_at: chat.created_at,
    });
    expect(events()).toEqual([{ event: 'new_chat', data: { user_id: customer.id, chat_id: chat.chat_id, chat_type: 'topic' } }]);
    const order = await ok(call('POST', '/desk/chats', { token: customer.token, json: { chat_type: 'order', topic_id: Number(topicA), order_id: 'A-1001' } }));
    expect(order).toMatchObject({ chat_type: 'order', order_id: 'A-1001' });
    expect(events()).toEqual([{ event: 'new_chat', data: { user_id: customer.id, chat_id: order.chat_id, chat_type: 'order' } }]);

    // Refused openings.
    const refused = async (json: unknown, status: number, text?: string) => {
      const r = await call('POST', '/desk/chats', { token: customer.token, json });
      expect([r.status, text === undefined ? '' : r.text]).toEqual([status, text ?? '']);
    };
    await refused({ chat_type: 'order', topic_id: topicA }, 400, "An order chat needs 'order_id': 1 to 64 printable ASCII characters");
    await refused({ chat_type: 'topic', topic_id: topicA, order_id: 'x' }, 400, "'order_id' belongs to order chats only");
    await refused({ chat_type: 'question', topic_id: topicA }, 400, `Couldn't parse 'chat_type', got: "question"; expected order or topic`);
    await refused({ chat_type: 'topic' }, 400, "Couldn't parse 'topic_id', got: nothing");
    await refused({ chat_type: 'topic', topic_id: '999999' }, 404, 'Topic does not exist');
    await refused({ chat_type: 'order', topic_id: topicA, order_id: 'a b' }, 400);
    expect(events()).toEqual([]);

    // Who sees the chat.
    for (const who of [customer, curatorA, curatorA2]) expect(await ok(call('GET', `/desk/chats/${chat.chat_id}`, { token: who.token }))).toEqual(chat);
    for (const who of [stranger, curatorB, admin]) {
      expect(await call('GET', `/desk/chats/${chat.chat_id}`, { token: who.token })).toMatchObject({ status: 404, text: 'Chat does not exist' });
    }
    expect(await call('GET', '/desk/chats/99999999', { token: customer.token })).toMatchObject({ status: 404, text: 'Chat does not exist' });

    // Listings, newest first, a page at a time.
    const page1 = await call('GET', '/desk/chats?count=1', { token: customer.token });
    expect(page1.json.map((c: any) => c.chat_id)).toEqual([order.chat_id]);
    expect(page1.headers.get('x-next-start-id')).toBe(String(Number(order.chat_id) - 1));
    const page2 = await call('GET', `/desk/chats?count=1&start_id=${page1.headers.get('x-next-start-id')}`, { token: customer.token });
    expect(page2.json.map((c: any) => c.chat_id)).toEqual([chat.chat_id]);
    expect(await ok(call('GET', '/desk/chats', { token: stranger.token }))).toEqual([]);
    expect((await ok(call('GET', `/desk/topics/${topicA}/chats?order=1`, { token: curatorA.token }))).map((c: any) => c.chat_id)).toEqual([chat.chat_id, order.chat_id]);
    for (const who of [curatorB, customer, admin]) expect(await call('GET', `/desk/topics/${topicA}/chats`, { token: who.token })).toMatchObject({ status: 404 });
    expect(await call('GET', '/desk/chats?count=51', { token: customer.token })).toMatchObject({ status: 400, text: 'count must be 1 to 50, got: 51' });
    expect(await call('GET', '/desk/chats?order=2', { token: customer.token })).toMatchObject({ status: 400 });
    expect(await call('GET', '/desk/chats?start_id=x', { token: customer.token })).toMatchObject({ status: 400, text: "Couldn't parse 'start_id', got: x" });

    // The audience of an event about the chat: the customer and both curators of topic A, no one else.
    const audience = await resolveChatAudience(system.db, { id: Number(chat.chat_id), chatType: 'topic', customerId: Number(customer.id), topicId: Number(topicA), status: 'new', createdAt: '', updatedAt: '' });
    expect([...audience].sort((a, b) => a - b)).toEqual([customer, curatorA, curatorA2].map((u) => Number(u.id)).sort((a, b) => a - b));
    // A curator whose access is revoked (or whose role is gone) leaves the audience from the next event on.
    await ok(call('DELETE', `/desk/topics/${topicA}/curators/${curatorA2.id}`, { token: admin.token }));
    const after = await resolveChatAudience(system.db, { id: Number(chat.chat_id), chatType: 'topic', customerId: Number(customer.id), topicId: Number(topicA), status: 'new', createdAt: '', updatedAt: '' });
    expect([...after].sort((a, b) => a - b)).toEqual([customer, curatorA].map((u) => Number(u.id)).sort((a, b) => a - b));
    expect((await call('GET', `/desk/chats/${chat.chat_id}`, { token: curatorA2.token })).status).toBe(404);
    // A curator of the topic whose token no longer has the curator role sees nothing of it, and leaves the audience.
    const demoted = await provider.token({ sub: await subOf(curatorA), name: curatorA.name, roles: [] });
    expect((await call('GET', `/desk/chats/${chat.chat_id}`, { token: demoted })).status).toBe(404);
    const roleless = await resolveChatAudience(system.db, { id: Number(chat.chat_id), chatType: 'topic', customerId: Number(customer.id), topicId: Number(topicA), status: 'new', createdAt: '', updatedAt: '' });
    expect([...roleless]).toEqual([Number(customer.id)]);
  });

  test('statuses move only along the documented transitions, by the allowed side', async () => {
    const t = await topic();
    const curator = await user(['curator']);
    const otherCurator = await user(['curator']);
    const outsider = await user(['curator']);
    const customer = await user();
    const stranger = await user();
    await grant(t, curator);
    await grant(t, otherCurator);
    const chat = (await ok(call('POST', '/desk/chats', { token: customer.token, json: { chat_type: 'topic', topic_id: t } }))).chat_id;
    events();
    const status = (who: DeskUser, to: unknown) => call('PUT', `/desk/chats/${chat}/status`, { token: who.token, json: { status: to } });

    expect(await status(customer, 'resolved')).toMatchObject({ status: 409, text: 'Cannot change status from new to resolved' });
    expect(await status(curator, 'in_progress')).toMatchObject({ status: 409, text: 'Assign a curator first' });
    expect(await status(customer, 'in_progress')).toMatchObject({ status: 403, text: 'The customer cannot change status from new to in_progress' });
    expect(await status(customer, 'done')).toMatchObject({ status: 400 });
    expect(await status(stranger, 'closed')).toMatchObject({ status: 404, text: 'Chat does not exist' });
    expect(await status(outsider, 'closed')).toMatchObject({ status: 404 });
    expect(events()).toEqual([]);

    // Assigning: curators of the chat only, a curator with access to the topic only.
    const assign = (who: DeskUser, curatorId: unknown) => call('PUT', `/desk/chats/${chat}/curator`, { token: who.token, json: { curator_id: curatorId } });
    expect(await assign(customer, curator.id)).toMatchObject({ status: 403, text: 'Only a curator can do this' });
    expect(await assign(stranger, curator.id)).toMatchObject({ status: 404 });
    expect(await assign(curator, outsider.id)).toMatchObject({ status: 403, text: "Curator has no access to the chat's topic" });
    expect(await assign(curator, customer.id)).toMatchObject({ status: 403, text: 'User is not a curator' });
    expect(await assign(curator, '999999')).toMatchObject({ status: 404, text: 'User does not exist' });
    expect(await assign(curator, 'me')).toMatchObject({ status: 400, text: `Couldn't parse 'curator_id', got: "me"` });
    expect(events()).toEqual([]);
    expect(await ok(assign(curator, otherCurator.id))).toMatchObject({ status: 'in_progress', curator_id: otherCurator.id });
    expect(events()).toEqual([
      { event: 'assign_curator', data: { chat_id: chat, curator_id: otherCurator.id } },
      { event: 'update_chat_status', data: { chat_id: chat, status: 'in_progress' } },
    ]);
    // Re-assigning an in-progress chat keeps its status: one event.
    expect(await ok(assign(otherCurator, curator.id))).toMatchObject({ status: 'in_progress', curator_id: curator.id });
    expect(events()).toEqual([{ event: 'assign_curator', data: { chat_id: chat, curator_id: curator.id } }]);

    expect(await status(customer, 'resolved')).toMatchObject({ status: 403 });
    expect(await ok(status(curator, 'resolved'))).toMatchObject({ status: 'resolved' });
    // The customer disputes: reopened.
    expect(await ok(status(customer, 'in_progress'))).toMatchObject({ status: 'in_progress' });
    expect(await ok(status(otherCurator, 'resolved'))).toMatchObject({ status: 'resolved' });
    expect(await ok(status(customer, 'closed'))).toMatchObject({ status: 'closed' });
    expect(events()).toEqual(['resolved', 'in_progress', 'resolved', 'closed'].map((s) => ({ event: 'update_chat_status', data: { chat_id: chat, status: s } })));
    // Closed is final.
    for (const to of ['new', 'in_progress', 'resolved', 'closed']) expect(await status(curator, to)).toMatchObject({ status: 409 });
    expect(await assign(curator, curator.id)).toMatchObject({ status: 409, text: 'Chat is closed' });
    expect(await call('POST', `/desk/chats/${chat}/messages`, { token: customer.token, json: { text: 'hello?' } })).toMatchObject({ status: 403, text: 'Chat is closed' });
    expect(events()).toEqual([]);
  });

  test('messages: text, emoji and file; only the sender edits or deletes; read markers move forward', async () => {
    const t = await topic();
    const curator = await user(['curator']);
    const customer = await user();
    const stranger = await user();
    const outsider = await user(['curator']);
    await grant(t, curator);
    const chat = (await ok(call('POST', '/desk/chats', { token: customer.token, json: { chat_type: 'topic', topic_id: t } }))).chat_id;
    events();
    const post = (who: DeskUser, json: unknown) => call('POST', `/desk/chats/${chat}/messages`, { token: who.token, json });

    const hello = await ok(post(customer, { text: 'Where is my parcel?' }));
    expect(hello).toEqual({
      id: expect.stringMatching(/^\d+$/),
      sender: customer.id,
      chat_id: chat,
      text: 'Where is my parcel?',
      message_type: 'text',
      created_at: expect.stringMatching(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/),
      edited_at: null,
      files: null,
    });
    const { edited_at: _e, ...helloEvent } = hello;
    expect(events()).toEqual([{ event: 'new_message', data: helloEvent }]);
    const emoji = await ok(post(curator, { message_type: 'emoji', text: '👋' }));
    expect(emoji).toMatchObject({ message_type: 'emoji', sender: curator.id });
    events();
    const png = Buffer.from('89504e470d0a1a0a0000000d49484452', 'hex');
    const file = await ok(call('POST', `/desk/chats/${chat}/messages`, { token: customer.token, form: { text: 'the label', file: png, ext: 'png' } }));
    expect(file).toMatchObject({ message_type: 'file', text: 'the label', files: { id: expect.stringMatching(/^\d+$/), file: expect.stringMatching(new RegExp(`^/desk/chats/${chat}/files/[0-9A-Za-z]{32}\\.png$`)) } });
    expect(events()).toEqual([{ event: 'new_message', data: (({ edited_at: _x, ...rest }) => rest)(file) }]);
    const download = await call('GET', file.files.file, { token: curator.token });
    expect([download.status, download.headers.get('content-type'), download.headers.get('x-content-type-options')]).toEqual([200, 'image/png', 'nosniff']);
    for (const who of [stranger, outsider]) expect((await call('GET', file.files.file, { token: who.token })).status).toBe(404);
    expect((await call('GET', `/desk/chats/${chat}/files/..%2F..%2Fetc`, { token: curator.token })).status).toBe(404);

    // Refused messages.
    const refuse = async (who: DeskUser, json: unknown, status: number, text?: string) => {
      const r = await post(who, json);
      expect([r.status, text === undefined ? '' : r.text]).toEqual([status, text ?? '']);
    };
    await refuse(customer, { text: '' }, 400, 'Text of a text message must be 1 to 4000 characters');
    await refuse(customer, { text: 'x'.repeat(4001) }, 400);
    await refuse(customer, { message_type: 'emoji', text: 'x'.repeat(33) }, 400, 'Text of a emoji message must be 1 to 32 characters');
    await refuse(customer, { message_type: 'file', text: 'no file' }, 400, "A file message needs a 'file' (multipart)");
    await refuse(customer, { message_type: 'sticker', text: 'x' }, 400);
    await refuse(stranger, { text: 'hi' }, 404, 'Chat does not exist');
    await refuse(outsider, { text: 'hi' }, 404, 'Chat does not exist');
    const wrongType = await call('POST', `/desk/chats/${chat}/messages`, { token: customer.token, form: { message_type: 'text', text: 'x', file: png, ext: 'png' } });
    expect([wrongType.status, wrongType.text]).toEqual([400, 'A text message takes no file']);
    expect(events()).toEqual([]);

    // Listing, oldest first, paged.
    const first = await call('GET', `/desk/chats/${chat}/messages?order=1&count=2`, { token: curator.token });
    expect(first.json.map((m: any) => m.id)).toEqual([hello.id, emoji.id]);
    const rest = await call('GET', `/desk/chats/${chat}/messages?order=1&count=2&start_id=${first.headers.get('x-next-start-id')}`, { token: curator.token });
    expect(rest.json.map((m: any) => m.id)).toEqual([file.id]);
    expect(await call('GET', `/desk/chats/${chat}/messages`, { token: stranger.token })).toMatchObject({ status: 404 });
    expect(await ok(call('GET', `/desk/chats/${chat}`, { token: customer.token }))).toMatchObject({ last_message_id: file.id });

    // Edits and deletions: the sender only.
    expect(await call('PUT', `/desk/chats/${chat}/messages/${hello.id}`, { token: curator.token, json: { text: 'no' } })).toMatchObject({ status: 403, text: 'Only the sender can change a message' });
    expect(await call('DELETE', `/desk/chats/${chat}/messages/${hello.id}`, { token: curator.token })).toMatchObject({ status: 403 });
    expect(await call('PUT', `/desk/chats/${chat}/messages/${hello.id}`, { token: stranger.token, json: { text: 'no' } })).toMatchObject({ status: 404, text: 'Chat does not exist' });
    expect(await call('PUT', `/desk/chats/${chat}/messages/99999999`, { token: customer.token, json: { text: 'x' } })).toMatchObject({ status: 404, text: 'Message does not exist' });
    expect(await call('PUT', `/desk/chats/${chat}/messages/${hello.id}`, { token: customer.token, json: { text: '' } })).toMatchObject({ status: 400 });
    expect(events()).toEqual([]);
    const edited = await ok(call('PUT', `/desk/chats/${chat}/messages/${hello.id}`, { token: customer.token, json: { text: 'Where is my parcel A-1?' } }));
    expect(edited).toMatchObject({ id: hello.id, text: 'Where is my parcel A-1?', created_at: hello.created_at, edited_at: expect.stringMatching(/Z$/) });
    expect(events()).toEqual([{ event: 'update_message', data: { ...helloEvent, text: 'Where is my parcel A-1?' } }]);
    expect(await ok(call('DELETE', `/desk/chats/${chat}/messages/${file.id}`, { token: customer.token }))).toBe('Deleted');
    expect(events()).toEqual([{ event: 'delete_message', data: { chat_id: chat, message_id: file.id } }]);
    expect((await call('GET', file.files.file, { token: curator.token })).status).toBe(404);
    expect(await call('DELETE', `/desk/chats/${chat}/messages/${file.id}`, { token: customer.token })).toMatchObject({ status: 404, text: 'Message does not exist' });

    // Read markers: forward only, one event per move.
    const read = (who: DeskUser, id: unknown) => call('PUT', `/desk/chats/${chat}/read`, { token: who.token, json: { last_message_id: id } });
    expect(await ok(read(curator, emoji.id))).toEqual({ chat_id: chat, last_message_id: emoji.id, user_id: curator.id });
    expect(events()).toEqual([{ event: 'read_chat_message', data: { chat_id: chat, last_message_id: emoji.id, user_id: curator.id } }]);
    await ok(read(curator, hello.id));
    expect(events()).toEqual([]);
    expect(await read(curator, file.id)).toMatchObject({ status: 404, text: 'Message does not exist' });
    expect(await read(stranger, hello.id)).toMatchObject({ status: 404, text: 'Chat does not exist' });
    expect(await read(curator, 'x')).toMatchObject({ status: 400 });
    await ok(read(customer, emoji.id));
    events();
    expect(await ok(call('GET', `/desk/chats/${chat}/read`, { token: customer.token }))).toEqual(
      expect.arrayContaining([
        { chat_id: chat, last_message_id: emoji.id, user_id: curator.id },
        { chat_id: chat, last_message_id: emoji.id, user_id: customer.id },
      ]),
    );
    expect((await call('GET', `/desk/chats/${chat}/read`, { token: stranger.token })).status).toBe(404);
  });
});

describe('desk costs', () => {
  test("a message post's DynamoDB requests, and its audience's, do not grow with the curators or the chats", async () => {
    const t = await topic();
    const customer = await user();
    const chat = (await ok(call('POST', '/desk/chats', { token: customer.token, json: { chat_type: 'topic', topic_id: t } }))).chat_id;
    const chatRef = { id: Number(chat), chatType: 'topic' as const, customerId: Number(customer.id), topicId: Number(t), status: 'new' as const, createdAt: '', updatedAt: '' };
    const measure = async () => {
      await ok(call('POST', `/desk/chats/${chat}/messages`, { token: customer.token, json: { text: 'warm' } }));
      dynamoDbRequestCounter.reset();
      await ok(call('POST', `/desk/chats/${chat}/messages`, { token: customer.token, json: { text: 'counted' } }));
      const post = dynamoDbRequestCounter.snapshot();
      dynamoDbRequestCounter.reset();
      await resolveChatAudience(system.db, chatRef);
      return { post, audience: dynamoDbRequestCounter.snapshot() };
    };
    const small = await measure();
    // Five more curators of the topic and ten more chats in it.
    for (let i = 0; i < 5; i++) await grant(t, await user(['curator']));
    for (let i = 0; i < 10; i++) await ok(call('POST', '/desk/chats', { token: (await user()).token, json: { chat_type: 'topic', topic_id: t } }));
    const large = await measure();
    expect(large).toEqual(small);
    // Profile read, rate counter, chat read, message id, the transaction.
    expect(small.post).toEqual({ GetItemCommand: 2, UpdateItemCommand: 2, TransactWriteItemsCommand: 1 });
    expect(small.audience).toEqual({ QueryCommand: 2 });
  });
});

/** The sub behind a test user's token (they are made with random subs). */
async function subOf(u: DeskUser): Promise<string> {
  return JSON.parse(Buffer.from(u.token.split('.')[1], 'base64url').toString()).sub;
}
