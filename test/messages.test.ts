import { GetCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { findChannel } from '../lambdas/domain/channels';
import type { Db } from '../lambdas/domain/db';
import { deleteMessage, findMessage } from '../lambdas/domain/messages';
import { keys } from '../lambdas/domain/table';
import { type Cast, cast } from './support/scenario';
import { TestSystem } from './support/system';

let system: TestSystem;
beforeAll(async () => {
  system = await TestSystem.start();
});
afterAll(() => system.stop());

async function channelOf(c: Cast, body: Record<string, unknown> = { name: 'chat', type: 0 }): Promise<number> {
  const id = Number((await system.rest('POST', `/servers/${c.serverId}/channels`, { as: c.owner, json: body })).text);
  // Its channel_created has reached every socket once each barrier has: forget it.
  await Promise.all(Object.values(c.sockets).map((socket) => socket.barrier()));
  for (const socket of Object.values(c.sockets)) socket.events.length = 0;
  return id;
}

const ISO = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;

describe('message events and their audiences', () => {
  test('message_created / message_edited / message_deleted: exact payloads; blockers of the author and strangers get nothing', async () => {
    const c = await cast(system);
    const channelId = await channelOf(c);
    const posted = await system.rest('POST', `/channels/${channelId}/messages`, {
      as: c.owner,
      json: { text: 'hello @u' + c.member.id, attachments: [{ type: 0, content: 'https://example.org' }] },
    });
    expect(posted.status).toBe(200);
    const id = Number(posted.text);
    const created = await c.sockets.member.next('message_created');
    expect(created).toEqual({
      id,
      author_id: c.owner.id,
      sent: expect.stringMatching(ISO),
      edited: created.sent,
      text: `hello @u${c.member.id}`,
      attachments: [{ type: 0, content: 'https://example.org' }],
      mentions: [{ type: 1, begin_i: 6, end_i: 6 + 1 + String(c.member.id).length, id: c.member.id }],
      channel_id: channelId,
      server_id: c.serverId,
    });
    expect(await c.sockets.owner.next('message_created')).toEqual(created);
    expect(await c.sockets.ownerSecond.next('message_created')).toEqual(created);
    expect(await c.sockets.excluded.next('message_created')).toEqual(created);
    await c.sockets.blocker.expectNothing('message_created');
    await c.sockets.stranger.expectNothing('message_created');

    expect(await system.rest('PUT', `/messages/${id}`, { as: c.member, json: { text: 'not mine' } })).toMatchObject({ status: 403 });
    expect(await system.rest('PUT', `/messages/${id}`, { as: c.owner, json: { text: 'edited text' } })).toMatchObject({ status: 200 });
    const edited = await c.sockets.member.next('message_edited');
    expect(edited).toEqual({ ...created, text: 'edited text', mentions: [], edited: expect.stringMatching(ISO) });
    expect(edited.edited >= created.sent).toBe(true);
    await c.sockets.blocker.expectNothing('message_edited');

    expect(await system.rest('DELETE', `/messages/${id}`, { as: c.member })).toMatchObject({ status: 403, text: 'No permission' });
    expect(await system.rest('DELETE', `/messages/${id}`, { as: c.owner })).toMatchObject({ status: 200 });
    expect(await c.sockets.member.next('message_deleted')).toEqual({ id, channel_id: channelId, server_id: c.serverId });
    expect(await c.sockets.ownerSecond.next('message_deleted')).toEqual({ id, channel_id: channelId, server_id: c.serverId });
    await c.sockets.stranger.expectNothing();
    expect(await system.rest('GET', `/messages/${id}`, { as: c.owner })).toMatchObject({ status: 404 });
  });

  test('history pages by id in both orders, hides authors the reader blocked, and search filters', async () => {
    const c = await cast(system);
    const channelId = await channelOf(c);
    const ids: number[] = [];
    for (const [author, text] of [[c.owner, 'one apple'], [c.member, 'two apples'], [c.owner, 'three pears'], [c.member, 'four apples and pears']] as const) {
      ids.push(Number((await system.rest('POST', `/channels/${channelId}/messages`, { as: author, json: { text } })).text));
    }
    const page = (query: string, as = c.member) => system.rest('GET', `/channels/${channelId}/messages?${query}`, { as }).then((r) => r.json.map((m: { id: number }) => m.id));
    expect(await page('start_id=2147483647&count=3')).toEqual([ids[3], ids[2], ids[1]]);
    expect(await page(`start_id=${ids[1]}&count=10&order=1`)).toEqual([ids[1], ids[2], ids[3]]);
    // The blocker blocked the owner: the owner's messages are hidden from him.
    expect(await page('start_id=2147483647&count=10', c.blocker)).toEqual([ids[3], ids[1]]);

    const search = (json: unknown, query = 'start_id=2147483647&count=10') =>
      system.rest('POST', `/channels/${channelId}/messages_search?${query}`, { as: c.member, json }).then((r) => r.json.map((m: { id: number }) => m.id));
    expect(await search({ content: 'apple' })).toEqual([ids[3], ids[1], ids[0]]);
    expect(await search({ content: ['apple', 'pears'] })).toEqual([ids[3]]);
    expect(await search({ author_id: c.owner.id })).toEqual([ids[2], ids[0]]);
    expect(await search({ date_from: '2000-01-01T00:00:00Z', date_until: '2000-01-02T00:00:00Z' })).toEqual([]);
    expect((await system.rest('POST', `/channels/${channelId}/messages_search?start_id=0&count=5`, { as: c.member, json: { content: 5 } })).status).toBe(400);
  });

  test('unread notifications and mentions: per user, cleared by DELETE /notifications/channels/{cid}', async () => {
    const c = await cast(system);
    const channelId = await channelOf(c);
    const channelFor = async (user: typeof c.owner) =>
      (await system.rest('GET', `/servers/${c.serverId}/channels`, { as: user })).json.find((ch: { id: number }) => ch.id === channelId);
    expect((await channelFor(c.member)).notifications).toBeUndefined();
    await system.rest('POST', `/channels/${channelId}/messages`, { as: c.owner, json: { text: 'plain' } });
    expect((await channelFor(c.member)).notifications).toBe(0);
    expect((await channelFor(c.owner)).notifications).toBeUndefined();
    await system.rest('POST', `/channels/${channelId}/messages`, { as: c.owner, json: { text: `@u${c.member.id} and @e` } });
    expect((await channelFor(c.member)).notifications).toBe(2);
    expect((await channelFor(c.excluded)).notifications).toBe(1);
    const server = async (user: typeof c.owner) => (await system.rest('GET', `/servers/${c.serverId}`, { as: user })).json.notifications;
    expect(await server(c.member)).toBe(2);
    expect((await system.rest('GET', '/servers', { as: c.member })).json).toEqual([
      { id: c.serverId, name: 'test server', owner_id: c.owner.id, notifications: 2 },
    ]);
    expect(await server(c.owner)).toBeUndefined();
    expect(await system.rest('DELETE', `/notifications/channels/${channelId}`, { as: c.member })).toMatchObject({ status: 200 });
    expect(await server(c.member)).toBeUndefined();
    expect((await channelFor(c.member)).notifications).toBeUndefined();
    expect((await channelFor(c.excluded)).notifications).toBe(1);
    expect((await system.rest('GET', '/notifications', { as: c.member })).json).toEqual({ dm_notifications: 0 });
  });

  test('@everyone and @role mentions count for whoever they concern, kept on the channel, not written per member', async () => {
    const c = await cast(system);
    const channelId = await channelOf(c);
    const [defaultRole] = (await system.rest('GET', `/servers/${c.serverId}/roles`, { as: c.owner })).json;
    expect(await system.rest('PUT', `/servers/${c.serverId}/roles`, { as: c.owner, json: [{ id: -1, name: 'team', color: '#00aa00', perms1: 0 }, defaultRole] })).toMatchObject({ status: 200 });
    const team = (await system.rest('GET', `/servers/${c.serverId}/roles`, { as: c.owner })).json.find((r: { name: string }) => r.name === 'team');
    expect(await system.rest('POST', `/servers/${c.serverId}/users/${c.member.id}/roles/${team.id}`, { as: c.owner })).toMatchObject({ status: 200 });
    const count = async (user: typeof c.owner) =>
      (await system.rest('GET', `/servers/${c.serverId}/channels`, { as: user })).json.find((ch: { id: number }) => ch.id === channelId).notifications;

    await system.rest('POST', `/channels/${channelId}/messages`, { as: c.member, json: { text: `@r${team.id} @e @e` } });
    // Nothing was written for the members the mentions concern (no read marker appeared): the count comes
    // from the channel, so the post costs the same whatever the member count.
    const marker = (user: typeof c.owner) => system.db.doc.send(new GetCommand({ TableName: system.db.table, Key: keys.readMarker(user.id, channelId) }));
    expect((await marker(c.owner)).Item).toBeUndefined();
    expect((await marker(c.excluded)).Item).toBeUndefined();
    expect(await count(c.member)).toBeUndefined(); // his own message
    expect(await count(c.excluded)).toBe(2);
    expect(await count(c.owner)).toBe(2);
    await system.rest('POST', `/channels/${channelId}/messages`, { as: c.owner, json: { text: `@r${team.id} for the team, @u${c.member.id}` } });
    expect(await count(c.member)).toBe(2);
    expect(await count(c.excluded)).toBe(2);
    expect(await count(c.owner)).toBeUndefined();
    expect((await system.rest('GET', `/servers/${c.serverId}`, { as: c.member })).json.notifications).toBe(2);
    expect(await system.rest('DELETE', `/notifications/channels/${channelId}`, { as: c.excluded })).toMatchObject({ status: 200 });
    expect(await count(c.excluded)).toBeUndefined();
    await system.rest('POST', `/channels/${channelId}/messages`, { as: c.owner, json: { text: 'plain again' } });
    expect(await count(c.excluded)).toBe(0);
    expect(await count(c.member)).toBe(2);
  });

  test('a deleted message stops counting: its mentions go, and the channel is unread only for what is left', async () => {
    const c = await cast(system);
    const channelId = await channelOf(c);
    const count = async (user: typeof c.owner) =>
      (await system.rest('GET', `/servers/${c.serverId}/channels`, { as: user })).json.find((ch: { id: number }) => ch.id === channelId).notifications;
    const post = async (text: string) => (await system.rest('POST', `/channels/${channelId}/messages`, { as: c.owner, json: { text } })).text;
    const remove = async (id: string) => expect((await system.rest('DELETE', `/messages/${id}`, { as: c.owner })).status).toBe(200);
    const lastMessageId = async () =>
      (await system.db.doc.send(new GetCommand({ TableName: system.db.table, Key: keys.channel(channelId) }))).Item?.lastMessageId;

    const plain = await post('plain');
    const everyone = await post('@e look');
    expect(await count(c.member)).toBe(1);
    await remove(everyone);
    expect(await count(c.member)).toBe(0); // still unread: 'plain' is there
    expect(await lastMessageId()).toBe(Number(plain));
    await remove(plain);
    expect(await count(c.member)).toBeUndefined();
    expect(await lastMessageId()).toBe(0);

    // Read up to a message that is then deleted: the next message is unread again.
    const read = await post('read this');
    expect(await system.rest('DELETE', `/notifications/channels/${channelId}`, { as: c.member })).toMatchObject({ status: 200 });
    await remove(read);
    expect(await count(c.member)).toBeUndefined();
    await post('new');
    expect(await count(c.member)).toBe(0);

    // A mention by name is taken back with its message, only from those who had not read past it.
    const named = await post(`@u${c.member.id} @u${c.excluded.id} and @u${c.member.id} again`);
    await post('after');
    expect(await count(c.member)).toBe(2);
    expect(await count(c.excluded)).toBe(1);
    expect(await system.rest('DELETE', `/notifications/channels/${channelId}`, { as: c.excluded })).toMatchObject({ status: 200 });
    await post(`@u${c.excluded.id} later`);
    await remove(named);
    expect(await count(c.member)).toBe(0);
    expect(await count(c.excluded)).toBe(1);
    expect(await system.rest('DELETE', `/notifications/channels/${channelId}`, { as: c.member })).toMatchObject({ status: 200 });

    // Deleting an older message leaves the channel's state alone.
    const older = await post('older @e');
    const newest = await post('newest');
    await remove(older);
    expect(await lastMessageId()).toBe(Number(newest));
    expect(await count(c.member)).toBe(0);
  });

  test('a failure after the deletion is logged: the message stays deleted and the deletion answered as done', async () => {
    const c = await cast(system);
    const channelId = await channelOf(c);
    const id = Number((await system.rest('POST', `/channels/${channelId}/messages`, { as: c.owner, json: { text: 'soon gone' } })).text);
    const [message, channel] = await Promise.all([findMessage(system.db, id), findChannel(system.db, channelId)]);
    // The table answers the deletion, then fails the read of the newest message left.
    const failing: Db = Object.assign(Object.create(system.db) as Db, { queryPage: () => Promise.reject(new Error('table went away')) });
    const logged: string[] = [];
    const spy = jest.spyOn(console, 'error').mockImplementation((line: string) => void logged.push(line));
    try {
      await expect(deleteMessage(failing, message!, channel!)).resolves.toBeUndefined();
    } finally {
      spy.mockRestore();
    }
    expect(await findMessage(system.db, id)).toBeUndefined();
    expect(logged.map((line) => JSON.parse(line))).toEqual([expect.objectContaining({ level: 'ERROR', error: expect.objectContaining({ message: 'table went away' }) })]);
  });

  test('concurrent posts to one channel all land once, and the channel ends on the newest message', async () => {
    const c = await cast(system);
    const channelId = await channelOf(c);
    const authors = [c.owner, c.member, c.excluded, c.blocker];
    const posted = await Promise.all(
      Array.from({ length: 24 }, (_, i) => system.rest('POST', `/channels/${channelId}/messages`, { as: authors[i % authors.length], json: { text: `m${i}` } })),
    );
    expect(posted.map((r) => r.status)).toEqual(posted.map(() => 200));
    const ids = posted.map((r) => Number(r.text)).sort((a, b) => a - b);
    const history = (await system.rest('GET', `/channels/${channelId}/messages?start_id=2147483647&count=50`, { as: c.owner })).json.map((m: { id: number }) => m.id);
    expect([...history].sort((a: number, b: number) => a - b)).toEqual(ids);
    expect(await system.rest('DELETE', `/notifications/channels/${channelId}`, { as: c.member })).toMatchObject({ status: 200 });
    const marker = await system.db.doc.send(new GetCommand({ TableName: system.db.table, Key: keys.readMarker(c.member.id, channelId) }));
    expect(marker.Item?.lastRead).toBe(ids[ids.length - 1]);

    // A post that commits after a newer one (ids are taken before the write) leaves the newer one last.
    const newer = ids[ids.length - 1] + 1000;
    await system.db.doc.send(
      new UpdateCommand({ TableName: system.db.table, Key: keys.channel(channelId), UpdateExpression: 'SET lastMessageId = :id', ExpressionAttributeValues: { ':id': newer } }),
    );
    const late = await system.rest('POST', `/channels/${channelId}/messages`, { as: c.owner, json: { text: 'late @e' } });
    expect(late.status).toBe(200);
    const channel = await system.db.doc.send(new GetCommand({ TableName: system.db.table, Key: keys.channel(channelId) }));
    expect(channel.Item?.lastMessageId).toBe(newer);
    expect(channel.Item?.[`broadcastMention_${late.text}`]).toEqual({ authorId: c.owner.id, everyone: 1, roles: [] });
    expect((await system.rest('GET', `/messages/${late.text}`, { as: c.member })).json.text).toBe('late @e');
  });

  test('bad input and limits', async () => {
    const c = await cast(system);
    const channelId = await channelOf(c);
    const post = (json: unknown, as = c.member) => system.rest('POST', `/channels/${channelId}/messages`, { as, json });
    expect(await post({})).toMatchObject({ status: 400 });
    expect(await post({ text: 42 })).toMatchObject({ status: 400 });
    expect(await post({ text: '' })).toMatchObject({ status: 400 });
    expect(await post({ text: 'x'.repeat(2001) })).toMatchObject({ status: 400 });
    expect(await post({ text: 'x'.repeat(2000) })).toMatchObject({ status: 200 });
    expect(await post({ text: '', attachments: [{ type: 2, content: '/files/upload/1/a.png' }] })).toMatchObject({ status: 200 });
    expect(await post({ text: 'x', attachments: [{ type: 9, content: 'x' }] })).toMatchObject({ status: 400 });
    expect(await post({ text: 'x', attachments: [{ type: 0, content: 'x'.repeat(513) }] })).toMatchObject({ status: 400 });
    expect(await post({ text: 'x', attachments: Array.from({ length: 11 }, () => ({ type: 0, content: 'l' })) })).toMatchObject({ status: 403 });
    expect(await post({ text: 'x' }, c.stranger)).toMatchObject({ status: 404 });
    expect(await system.rest('POST', '/channels/999999/messages', { as: c.member, json: { text: 'x' } })).toMatchObject({ status: 404 });
    expect(await system.rest('GET', `/channels/${channelId}/messages?start_id=0&count=51`, { as: c.member })).toMatchObject({ status: 403 });
    expect(await system.rest('GET', `/channels/${channelId}/messages?count=5`, { as: c.member })).toMatchObject({ status: 400 });
    expect(await system.rest('GET', '/messages/77777777', { as: c.member })).toMatchObject({ status: 404 });
    expect(await system.rest('PUT', '/messages/x', { as: c.member, json: {} })).toMatchObject({ status: 400 });
  });
});
