/**
 * The desk socket (seed 004, docs/desk.md "Socket") black-box: real WebSockets at `/connect/?token=` on the
 * local runtime's desk port, DynamoDB Local, a real OpenID provider (npm oidc-provider in a child process)
 * issuing the tokens. Every event with its exact frame and exact audience: the customer (both of his
 * connections), the assigned curator, a curator of the topic not assigned, and as must-not-receive a curator
 * of another topic, another customer and a ZavodChat main-socket user. "Nothing arrived" is proved by the
 * barrier (DeskClient.take), never by waiting.
 */
import { randomUUID } from 'node:crypto';
import { SignJWT } from 'jose';
import type WebSocket from 'ws';
import { padId } from '../lambdas/domain/table';
import { type DeskClient, type DeskFrame, openDesk, refusal } from './support/desk';
import { makeKey, TestIssuer, unsignedToken } from './support/oidc-issuer';
import { RealProvider } from './support/oidc-provider';
import { TestSystem } from './support/system';

let provider: RealProvider;
let issuer: TestIssuer;
let system: TestSystem;

interface DeskUser {
  token: string;
  id: string;
  name: string;
  sub: string;
}

beforeAll(async () => {
  [provider, issuer] = await Promise.all([RealProvider.start(), TestIssuer.start()]);
  system = await TestSystem.start({ desk: true, env: { DESK_OIDC_ISSUER: provider.issuer, DESK_OIDC_AUDIENCE: provider.audience } });
});
afterAll(async () => {
  await system?.stop();
  await Promise.all([provider?.stop(), issuer?.stop()]);
});

/** Every socket a test opened is closed after it, so no curator of one test hears the next one's users. */
const opened: DeskClient[] = [];
afterEach(async () => {
  await Promise.all(opened.splice(0).map((client) => client.close()));
  await system.settle();
});

async function connect(who: { token: string }): Promise<DeskClient> {
  const client = await openDesk(system, who.token);
  opened.push(client);
  return client;
}

async function call(method: string, path: string, token: string, json?: unknown, form?: Record<string, string | Buffer>) {
  return system.rest(method, path, { json, form, headers: { authorization: `Bearer ${token}` } });
}

async function ok(response: Promise<{ status: number; text: string; json: any }>) {
  const r = await response;
  if (r.status !== 200) throw new Error(`expected 200, got ${r.status} ${r.text}`);
  return r.json ?? r.text;
}

async function user(roles: string[] = [], name = `u-${randomUUID().slice(0, 6)}`): Promise<DeskUser> {
  const sub = randomUUID();
  const token = await provider.token({ sub, name, roles });
  const me = await ok(call('GET', '/desk/me', token));
  return { token, id: me.id, name, sub };
}

let admin: DeskUser;
beforeAll(async () => {
  admin = await user(['desk-admin'], 'Admin');
});

async function topic(): Promise<string> {
  return (await ok(call('POST', '/desk/topics', admin.token, { name: `topic ${randomUUID().slice(0, 4)}` }))).id;
}

async function grant(topicId: string, curator: DeskUser) {
  await ok(call('PUT', `/desk/topics/${topicId}/curators/${curator.id}`, admin.token));
}

/** What each client received since the last look, through the barrier: exactly `expected` for each. */
async function expectFrames(expected: ReadonlyArray<[string, DeskClient, DeskFrame[]]>): Promise<void> {
  const got = await Promise.all(expected.map(async ([who, client]) => [who, await client.take()]));
  expect(got).toEqual(expected.map(([who, , frames]) => [who, frames]));
}

const status = (id: string, value: 'online' | 'offline'): DeskFrame => ({ event_type: 'user_status', data: { user_id: id, status: value } });

describe('desk socket sign-in', () => {
  test('the upgrade is refused with 401 for a missing, malformed, forged, tampered, wrong-issuer, wrong-audience, unsigned or HS256 token', async () => {
    const real = await provider.token({ sub: randomUUID(), name: 'Victim', roles: ['curator'] });
    const [header, payload, signature] = real.split('.');
    const claims = JSON.parse(Buffer.from(payload, 'base64url').toString());
    const kid = JSON.parse(Buffer.from(header, 'base64url').toString()).kid;
    const impostor = await makeKey('ES256');
    const forged = await new SignJWT(claims).setProtectedHeader({ alg: 'ES256', kid, typ: 'at+jwt' }).sign(impostor.privateKey);
    const tampered = `${header}.${Buffer.from(JSON.stringify({ ...claims, sub: 'someone-else' })).toString('base64url')}.${signature}`;
    const keys = (await (await fetch(`${provider.issuer}/jwks`)).json()) as { keys: Array<{ kid: string }> };
    const hs256 = await new SignJWT(claims).setProtectedHeader({ alg: 'HS256', kid }).sign(new TextEncoder().encode(JSON.stringify(keys.keys.find((k) => k.kid === kid))));
    expect(await refusal(openDesk(system, undefined))).toEqual([401, 'Missing token']);
    expect(await refusal(openDesk(system, ''))).toEqual([401, 'Missing token']);
    const bad = {
      garbage: 'garbage',
      forged,
      tampered,
      'wrong audience': await provider.token({ sub: randomUUID(), roles: ['curator'] }, provider.otherAudience),
      'wrong issuer': await issuer.token({ audience: provider.audience, roles: ['curator'] }),
      'alg none': unsignedToken(claims),
      'HS256 with the public key as secret': hs256,
      'a ZavodChat session token': (await system.user()).token,
    };
    for (const [what, token] of Object.entries(bad)) expect([what, await refusal(openDesk(system, token))]).toEqual([what, [401, 'Invalid or expired token']]);
    // The real token opens it, at seed 004's path only; `Authorization: Bearer` works too.
    const client = await connect({ token: real });
    expect(await client.take()).toEqual([]);
    opened.push(await openDesk(system, undefined, { headers: { authorization: `Bearer ${real}` } }));
    expect(await refusal(openDesk(system, real, { path: '/socket' }))).toEqual([404, 'Not Found']);
    const plain = await fetch(system.runtime.deskUrl!.replace(/^ws/, 'http'));
    expect(plain.status).toBe(426);
  });

  test('client frames: seed 004 has none; a ping is answered with a pong, any other with an error event, and the connection stays open', async () => {
    const client = await connect(await user());
    client.send('not json');
    client.send('[1]');
    client.send({ event_type: 7 });
    client.send({ event_type: 'send_message', data: { text: 'hi' } });
    client.send({ event_type: 'ping' });
    // Frames are handled concurrently (as API Gateway invokes $default): their answers come in any order, and
    // the barrier's marker could overtake them, so wait for the five first (a condition wait).
    while (client.frames.length < 5) await new Promise((resolve) => client.socket.once('message', resolve));
    const answers = client.frames.splice(0).map((f) => JSON.stringify(f));
    expect(answers.sort()).toEqual(
      [
        { event_type: 'error', data: { message: 'invalid JSON data' } },
        { event_type: 'error', data: { message: 'invalid event: expected {"event_type", "data"}' } },
        { event_type: 'error', data: { message: 'invalid event: "event_type" should be a string' } },
        { event_type: 'error', data: { message: "unknown event 'send_message': the desk socket takes no events from clients" } },
        // The keepalive (API Gateway closes connections idle for 10 minutes).
        { event_type: 'pong', data: {} },
      ]
        .map((f) => JSON.stringify(f))
        .sort(),
    );
    expect(await client.take()).toEqual([]);
  });
});

describe('user_status', () => {
  test('to every curator (not to customers) when a user connects or leaves; extra connections change nothing', async () => {
    const [curator1, curator2] = [await user(['curator']), await user(['curator'])];
    const [customer, other] = [await user(), await user()];
    const c1 = await connect(curator1);
    const c2 = await connect(curator2);
    const otherSocket = await connect(other);
    // Curator 2 and the other customer came online after curator 1 connected: he heard both; curator 2 the customer.
    await expectFrames([
      ['curator1', c1, [status(curator2.id, 'online'), status(other.id, 'online')]],
      ['curator2', c2, [status(other.id, 'online')]],
      ['other customer', otherSocket, []],
    ]);

    const first = await connect(customer);
    await expectFrames([
      ['curator1', c1, [status(customer.id, 'online')]],
      ['curator2', c2, [status(customer.id, 'online')]],
      ['customer', first, []],
      ['other customer', otherSocket, []],
    ]);
    // A second connection: he is online already.
    const second = await connect(customer);
    await expectFrames([
      ['curator1', c1, []],
      ['curator2', c2, []],
      ['customer', first, []],
      ['customer (2nd)', second, []],
    ]);
    await first.close();
    await expectFrames([
      ['curator1', c1, []],
      ['curator2', c2, []],
      ['customer (2nd)', second, []],
    ]);
    await second.close();
    await expectFrames([
      ['curator1', c1, [status(customer.id, 'offline')]],
      ['curator2', c2, [status(customer.id, 'offline')]],
      ['other customer', otherSocket, []],
    ]);
    // A curator leaving is announced to the other curators.
    await c2.close();
    await expectFrames([['curator1', c1, [status(curator2.id, 'offline')]]]);
  });

  test('several connections of one user opening at once: one online; all closing at once: one offline', async () => {
    const curator = await user(['curator']);
    const customer = await user();
    const watcher = await connect(curator);
    for (let round = 0; round < 3; round++) {
      const sockets = await Promise.all([0, 1, 2, 3].map(() => openDesk(system, customer.token)));
      expect([round, await watcher.take()]).toEqual([round, [status(customer.id, 'online')]]);
      await Promise.all(sockets.map((s) => s.close()));
      expect([round, await watcher.take()]).toEqual([round, [status(customer.id, 'offline')]]);
    }
  });
});

describe('lost $disconnect', () => {
  test('a connection whose $disconnect was lost is pruned by the 410 of its next event, and its user goes offline', async () => {
    const t = await topic();
    const curator = await user(['curator']);
    const customer = await user();
    await grant(t, curator);
    const watcher = await connect(curator);
    const client = await openDesk(system, customer.token);
    expect(await watcher.take()).toEqual([status(customer.id, 'online')]);
    // The gateway forgets the socket without running $disconnect (a Lambda that never ran), as TestSystem.loseDisconnect.
    const [item] = await system.db.query({ partition: 'DESK#CONNECTIONS', prefix: `CONN#${padId(Number(customer.id))}#` });
    const gateway = system.runtime.deskGateway as unknown as { connections: Map<string, { socket: WebSocket; timers: NodeJS.Timeout[] }> };
    const lost = gateway.connections.get(String(item.connectionId))!;
    lost.socket.removeAllListeners('close');
    for (const timer of lost.timers) clearTimeout(timer);
    gateway.connections.delete(String(item.connectionId));
    client.socket.terminate();
    await client.closed;
    expect(await watcher.take()).toEqual([]);
    // Older than any $connect can be: a 410 now proves it gone (a younger one is kept, docs/desk.md "Socket").
    await system.db.update({ pk: String(item.pk), sk: String(item.sk) }, { set: { connectedAt: Date.now() - 60_000 } });
    const chatId = (await ok(call('POST', '/desk/chats', customer.token, { chat_type: 'topic', topic_id: t }))).chat_id;
    expect(await watcher.take()).toEqual([{ event_type: 'new_chat', data: { user_id: customer.id, chat_id: chatId, chat_type: 'topic' } }, status(customer.id, 'offline')]);
    expect(await system.db.query({ partition: 'DESK#CONNECTIONS', prefix: `CONN#${padId(Number(customer.id))}#` })).toEqual([]);
  });
});

describe('chat events', () => {
  test('every event with its exact frame, to the customer and the curators who may see the chat, and nobody else', async () => {
    const [topicA, topicB] = [await topic(), await topic()];
    const assigned = await user(['curator'], 'Assigned');
    const colleague = await user(['curator'], 'Colleague');
    const elsewhere = await user(['curator'], 'Elsewhere');
    const customer = await user([], 'Customer');
    const otherCustomer = await user([], 'Other');
    await grant(topicA, assigned);
    await grant(topicA, colleague);
    await grant(topicB, elsewhere);
    const s = {
      customer: await connect(customer),
      customer2: await connect(customer),
      assigned: await connect(assigned),
      colleague: await connect(colleague),
      elsewhere: await connect(elsewhere),
      otherCustomer: await connect(otherCustomer),
    };
    // A ZavodChat user on the main socket hears nothing of the desk.
    const [zavodchat] = await system.connectAll(await system.user());
    await Promise.all(Object.values(s).map((client) => client.take()));

    /** The frame goes to exactly the chat's audience (both customer connections included). */
    const toAudience = (frame: DeskFrame) =>
      expectFrames([
        ['customer', s.customer, [frame]],
        ['customer (2nd connection)', s.customer2, [frame]],
        ['assigned curator', s.assigned, [frame]],
        ['curator of the topic', s.colleague, [frame]],
        ['curator of another topic', s.elsewhere, []],
        ['another customer', s.otherCustomer, []],
      ]);

    const chat = await ok(call('POST', '/desk/chats', customer.token, { chat_type: 'topic', topic_id: topicA }));
    const chatId: string = chat.chat_id;
    await toAudience({ event_type: 'new_chat', data: { user_id: customer.id, chat_id: chatId, chat_type: 'topic' } });
    const order = await ok(call('POST', '/desk/chats', customer.token, { chat_type: 'order', topic_id: topicA, order_id: 'A-17' }));
    await toAudience({ event_type: 'new_chat', data: { user_id: customer.id, chat_id: order.chat_id, chat_type: 'order' } });

    await ok(call('PUT', `/desk/chats/${chatId}/curator`, assigned.token, { curator_id: assigned.id }));
    const assignedFrames: DeskFrame[] = [
      { event_type: 'assign_curator', data: { chat_id: chatId, curator_id: assigned.id } },
      { event_type: 'update_chat_status', data: { chat_id: chatId, status: 'in_progress' } },
    ];
    await expectFrames([
      ['customer', s.customer, assignedFrames],
      ['customer (2nd connection)', s.customer2, assignedFrames],
      ['assigned curator', s.assigned, assignedFrames],
      ['curator of the topic', s.colleague, assignedFrames],
      ['curator of another topic', s.elsewhere, []],
      ['another customer', s.otherCustomer, []],
    ]);

    const hello = await ok(call('POST', `/desk/chats/${chatId}/messages`, customer.token, { text: 'Где мой заказ?' }));
    const message = {
      id: hello.id,
      sender: customer.id,
      chat_id: chatId,
      text: 'Где мой заказ?',
      message_type: 'text',
      created_at: expect.stringMatching(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/),
      files: null,
    };
    await toAudience({ event_type: 'new_message', data: message });
    expect(hello.created_at).toEqual(expect.stringMatching(/Z$/));

    const emoji = await ok(call('POST', `/desk/chats/${chatId}/messages`, assigned.token, { message_type: 'emoji', text: '👍' }));
    await toAudience({ event_type: 'new_message', data: { id: emoji.id, sender: assigned.id, chat_id: chatId, text: '👍', message_type: 'emoji', created_at: emoji.created_at, files: null } });

    const file = await ok(call('POST', `/desk/chats/${chatId}/messages`, assigned.token, undefined, { file: Buffer.from('receipt'), ext: 'txt', text: 'the receipt' }));
    expect(file.files).toEqual({ id: expect.stringMatching(/^\d+$/), file: expect.stringMatching(new RegExp(`^/desk/chats/${chatId}/files/[^/]+\\.txt$`)) });
    await toAudience({
      event_type: 'new_message',
      data: { id: file.id, sender: assigned.id, chat_id: chatId, text: 'the receipt', message_type: 'file', created_at: file.created_at, files: file.files },
    });

    await ok(call('PUT', `/desk/chats/${chatId}/messages/${hello.id}`, customer.token, { text: 'Где мой заказ №17?' }));
    await toAudience({ event_type: 'update_message', data: { ...message, created_at: hello.created_at, text: 'Где мой заказ №17?' } });

    await ok(call('PUT', `/desk/chats/${chatId}/read`, assigned.token, { last_message_id: hello.id }));
    await toAudience({ event_type: 'read_chat_message', data: { chat_id: chatId, last_message_id: hello.id, user_id: assigned.id } });

    await ok(call('DELETE', `/desk/chats/${chatId}/messages/${emoji.id}`, assigned.token));
    await toAudience({ event_type: 'delete_message', data: { chat_id: chatId, message_id: emoji.id } });

    await ok(call('PUT', `/desk/chats/${chatId}/status`, assigned.token, { status: 'resolved' }));
    await toAudience({ event_type: 'update_chat_status', data: { chat_id: chatId, status: 'resolved' } });
    await ok(call('PUT', `/desk/chats/${chatId}/status`, customer.token, { status: 'closed' }));
    await toAudience({ event_type: 'update_chat_status', data: { chat_id: chatId, status: 'closed' } });

    // Refused actions emit nothing.
    expect((await call('POST', `/desk/chats/${chatId}/messages`, customer.token, { text: 'again' })).status).toBe(403);
    expect((await call('POST', `/desk/chats/${chatId}/messages`, otherCustomer.token, { text: 'me too' })).status).toBe(404);
    await expectFrames(Object.entries(s).map(([who, client]) => [who, client, []] as [string, DeskClient, DeskFrame[]]));
    await zavodchat.expectNothing();
  });

  test('a curator who loses the topic or the role stops receiving from the next event on; one granted starts', async () => {
    const t = await topic();
    const keeps = await user(['curator']);
    const revoked = await user(['curator']);
    const demoted = await user(['curator']);
    const newcomer = await user(['curator']);
    const customer = await user();
    for (const curator of [keeps, revoked, demoted]) await grant(t, curator);
    const s = { keeps: await connect(keeps), revoked: await connect(revoked), demoted: await connect(demoted), newcomer: await connect(newcomer), customer: await connect(customer) };
    await Promise.all(Object.values(s).map((client) => client.take()));
    const chatId = (await ok(call('POST', '/desk/chats', customer.token, { chat_type: 'topic', topic_id: t }))).chat_id;
    const created = { event_type: 'new_chat', data: { user_id: customer.id, chat_id: chatId, chat_type: 'topic' } };
    await expectFrames([
      ['keeps', s.keeps, [created]],
      ['revoked', s.revoked, [created]],
      ['demoted', s.demoted, [created]],
      ['newcomer', s.newcomer, []],
      ['customer', s.customer, [created]],
    ]);

    await ok(call('DELETE', `/desk/topics/${t}/curators/${revoked.id}`, admin.token));
    // His next request's token has no curator role any more: the desk learns it then.
    await ok(call('GET', '/desk/me', await provider.token({ sub: demoted.sub, name: demoted.name, roles: [] })));
    await grant(t, newcomer);
    const posted = await ok(call('POST', `/desk/chats/${chatId}/messages`, customer.token, { text: 'hello' }));
    const frame = { event_type: 'new_message', data: { id: posted.id, sender: customer.id, chat_id: chatId, text: 'hello', message_type: 'text', created_at: posted.created_at, files: null } };
    await expectFrames([
      ['keeps', s.keeps, [frame]],
      ['revoked', s.revoked, []],
      ['demoted', s.demoted, []],
      ['newcomer', s.newcomer, [frame]],
      ['customer', s.customer, [frame]],
    ]);
  });
});
