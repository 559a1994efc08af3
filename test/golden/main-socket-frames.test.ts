import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type WebSocket from 'ws';
import { appContext } from '../../lambdas/runtime';
import { DynamoDbVoicePresence } from '../../media-node/dynamodb-ports';
import { PNG } from '../support/images';
import { TestSystem, type TestUser } from '../support/system';

/*
 * The golden frames of the main socket: every event the server sends, produced by the real local runtime
 * (REST over HTTP, sockets over loopback, DynamoDB Local; voice events through the port the media node calls),
 * recorded as the exact text of the WebSocket frame. Only what changes between runs is normalized: ids (to
 * `<kind#n>`, n in order of first appearance), timestamps and stored file names. Key order and every byte
 * of the rest are compared. `UPDATE_GOLDEN=1 npx jest test/golden` rewrites the fixture (review the diff!).
 */

const FIXTURE = join(__dirname, 'main-socket-frames.json');

/** Every event name the main socket carries (docs/protocol.md), plus the `error` answer to bad input. */
const EVENT_NAMES = [
  'user_changed',
  'user_joined',
  'server_edited',
  'got_server_owner',
  'server_deleted',
  'channel_created',
  'channel_edited',
  'channel_deleted',
  'message_created',
  'message_edited',
  'message_deleted',
  'friend_request_received',
  'friend_request_accepted',
  'friend_request_cancelled',
  'friend_request_denied',
  'friend_removed',
  'roles_updated',
  'role_assigned',
  'role_disallowed',
  'user_kicked',
  'user_banned',
  'ban_changed',
  'user_unbanned',
  'emoji_created',
  'emoji_changed',
  'emoji_deleted',
  'user_joined_vc',
  'user_left_vc',
  'user_changed_vc_state',
  'error',
];

/** The raw text of every frame a socket receives, consumed by `next`. */
class RawFrames {
  private readonly frames: string[] = [];
  private waiters: Array<() => void> = [];

  constructor(socket: WebSocket) {
    socket.on('message', (data) => {
      this.frames.push(data.toString());
      for (const wake of this.waiters.splice(0)) wake();
    });
  }

  async next(name: string, predicate: (data: any) => boolean = () => true, timeoutMs = 10_000): Promise<string> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const index = this.frames.findIndex((raw) => {
        const frame = JSON.parse(raw) as { name: string; data: unknown };
        return frame.name === name && predicate(frame.data);
      });
      if (index >= 0) return this.frames.splice(index, 1)[0];
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`no '${name}' frame within ${timeoutMs} ms; got ${JSON.stringify(this.frames)}`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
  }
}

/** Which kind of id a key holds; `id` itself depends on the event. */
const KEY_KINDS: Record<string, string> = {
  server_id: 'server',
  channel_id: 'channel',
  prev_channel_id: 'channel',
  user_id: 'user',
  owner_id: 'user',
  author_id: 'user',
  role_id: 'role',
  wl_users: 'user',
  wl_roles: 'role',
};
function idKindOf(event: string): string {
  if (/^(user_banned|ban_changed|user_unbanned)$/.test(event)) return 'ban';
  if (event.startsWith('server_') || event === 'got_server_owner') return 'server';
  if (event.startsWith('channel_')) return 'channel';
  if (event.startsWith('message_')) return 'message';
  if (event.startsWith('emoji_')) return 'emoji';
  return 'user';
}
/** Keys holding a timestamp or a stored file's name: different on every run. */
const TIME_KEYS = new Set(['sent', 'edited', 'joined']);
const FILE_KEYS = new Set(['image', 'avatar']);

class Normalizer {
  private readonly labels = new Map<string, string>();
  private readonly counts = new Map<string, number>();

  private label(kind: string, value: unknown): unknown {
    if (typeof value !== 'number') return value;
    const key = `${kind}:${value}`;
    let label = this.labels.get(key);
    if (!label) {
      const n = (this.counts.get(kind) ?? 0) + 1;
      this.counts.set(kind, n);
      label = `<${kind}#${n}>`;
      this.labels.set(key, label);
    }
    return label;
  }

  private walk(value: unknown, kind: string | undefined, key: string | undefined): unknown {
    if (Array.isArray(value)) return value.map((item) => this.walk(item, kind, undefined));
    if (value !== null && typeof value === 'object') {
      const out: Record<string, unknown> = {};
      for (const [k, v] of Object.entries(value)) {
        // Nested objects: roles of roles_updated, the user of user_banned, the users of vc_users.
        const inner = k === 'id' ? kind : KEY_KINDS[k] ?? (k === 'roles' ? 'role' : k === 'user' || k === 'vc_users' ? 'user' : undefined);
        out[k] = this.walk(v, inner, k);
      }
      return out;
    }
    if (key !== undefined && TIME_KEYS.has(key) && typeof value === 'string') return '<time>';
    if (key !== undefined && FILE_KEYS.has(key) && typeof value === 'string') return '<file>';
    return kind ? this.label(kind, value) : value;
  }

  /** The frame with its nondeterministic values replaced; the key order of the frame is kept. */
  frame(raw: string): string {
    const parsed = JSON.parse(raw) as { name: string; data: unknown };
    // Re-serializing must give the frame back exactly, so what is compared below is the frame itself.
    expect(JSON.stringify(parsed)).toBe(raw);
    const data = this.walk(parsed.data, parsed.name === 'error' ? undefined : idKindOf(parsed.name), undefined);
    return JSON.stringify({ ...parsed, data });
  }
}

let system: TestSystem;
beforeAll(async () => {
  system = await TestSystem.start();
});
afterAll(() => system.stop());

async function upload(as: TestUser, method: string, path: string, fields: Record<string, string | Buffer>) {
  const form = new FormData();
  for (const [key, value] of Object.entries(fields)) {
    if (typeof value === 'string') form.append(key, value);
    else form.append(key, new Blob([new Uint8Array(value)]), 'x.png');
  }
  const response = await fetch(`${system.runtime.restUrl}${path}`, { method, body: form, headers: { cookie: `zavodchat_token=${as.token}` } });
  return { status: response.status, text: await response.text() };
}

test('every main-socket frame is byte for byte what the fixture recorded', async () => {
  const normalize = new Normalizer();
  const recorded: Array<{ case: string; frame: string }> = [];
  const take = async (label: string, frames: RawFrames, name: string, predicate?: (data: any) => boolean) => {
    recorded.push({ case: label, frame: normalize.frame(await frames.next(name, predicate)) });
  };
  const ok = async (response: Promise<{ status: number; text: string }>) => {
    const answer = await response;
    if (answer.status !== 200) throw new Error(`${answer.status} ${answer.text}`);
    return answer.text;
  };
  const open = async (user: TestUser) => {
    const client = await system.connect(user, { welcome: false });
    return { client, frames: new RawFrames(client.socket) };
  };

  const [alice, bob, carol, dave] = [await system.user('Alice'), await system.user('Bob'), await system.user('Carol'), await system.user('Dave')];
  const a = await open(alice);
  await take('user_changed: a new connection learns its own status', a.frames, 'user_changed', (d) => d.id === alice.id);
  const serverId = await system.server(alice);
  const b = await open(bob);
  await b.frames.next('user_changed', (d) => d.id === bob.id);
  const c = await open(carol);
  await c.frames.next('user_changed', (d) => d.id === carol.id);
  const d = await open(dave);
  await d.frames.next('user_changed', (data) => data.id === dave.id);

  // Joining and presence.
  const invite = await ok(system.rest('POST', `/servers/${serverId}/invites?expires=never`, { as: alice }));
  await ok(system.rest('POST', `/server_invites/${invite}`, { as: bob }));
  await take('user_joined', a.frames, 'user_joined', (data) => data.id === bob.id);
  await ok(system.rest('POST', `/server_invites/${invite}`, { as: carol }));
  await take('user_joined (seen by another member)', b.frames, 'user_joined', (data) => data.id === carol.id);
  await ok(system.rest('PUT', '/user_status?status=2', { as: bob }));
  await take('user_changed: PUT /user_status', a.frames, 'user_changed', (data) => data.id === bob.id && data.status === 2);
  await ok(upload(bob, 'PUT', '/register', { displayname: 'Bobby' }));
  await take('user_changed: display name', a.frames, 'user_changed', (data) => data.id === bob.id && data.name === 'Bobby');
  await ok(upload(bob, 'PUT', '/register', { avatar: PNG }));
  await take('user_changed: avatar', a.frames, 'user_changed', (data) => data.id === bob.id && data.avatar !== undefined);

  // Server and channels.
  await ok(upload(alice, 'PUT', `/servers/${serverId}`, { name: 'renamed' }));
  await take('server_edited', b.frames, 'server_edited');
  const textId = Number(await ok(system.rest('POST', `/servers/${serverId}/channels`, { as: alice, json: { name: 'general', type: 0 } })));
  await take('channel_created: text', b.frames, 'channel_created', (data) => data.id === textId);
  await ok(system.rest('PUT', `/channels/${textId}`, { as: alice, json: { name: 'talk' } }));
  await take('channel_edited', b.frames, 'channel_edited', (data) => data.id === textId);
  const loungeId = Number(await ok(system.rest('POST', `/servers/${serverId}/channels`, { as: alice, json: { name: 'lounge', type: 1, wl_users: [carol.id] } })));
  await take('channel_created: private voice', c.frames, 'channel_created', (data) => data.id === loungeId);
  await ok(system.rest('PUT', `/channels/${loungeId}`, { as: alice, json: { wl_users: [] } }));
  await take('channel_created: made visible', b.frames, 'channel_created', (data) => data.id === loungeId);
  await take('channel_edited: whitelist change, kept', c.frames, 'channel_edited', (data) => data.id === loungeId);
  await ok(system.rest('PUT', `/channels/${loungeId}`, { as: alice, json: { wl_users: [carol.id], prev_channel_id: textId } }));
  await take('channel_deleted: hidden', b.frames, 'channel_deleted', (data) => data.id === loungeId);
  await take('channel_edited: moved', c.frames, 'channel_edited', (data) => data.id === loungeId);
  await ok(system.rest('DELETE', `/channels/${loungeId}`, { as: alice }));
  await take('channel_deleted', c.frames, 'channel_deleted', (data) => data.id === loungeId);

  // Messages.
  const messageId = Number(await ok(system.rest('POST', `/channels/${textId}/messages`, { as: alice, json: { text: 'hello @e' } })));
  await take('message_created', b.frames, 'message_created', (data) => data.id === messageId);
  await ok(system.rest('PUT', `/messages/${messageId}`, { as: alice, json: { text: 'hello again' } }));
  await take('message_edited', b.frames, 'message_edited', (data) => data.id === messageId);
  await ok(system.rest('DELETE', `/messages/${messageId}`, { as: alice }));
  await take('message_deleted', b.frames, 'message_deleted', (data) => data.id === messageId);
  const [dmId] = JSON.parse(await ok(system.rest('POST', `/dms/${bob.id}`, { as: alice }))) as number[];
  const dmMessage = Number(await ok(system.rest('POST', `/channels/${dmId}/messages`, { as: alice, json: { text: 'psst' } })));
  await take('message_created: DM', b.frames, 'message_created', (data) => data.id === dmMessage);

  // Roles.
  const [defaultRole] = (await system.rest('GET', `/servers/${serverId}/roles`, { as: alice })).json;
  await ok(system.rest('PUT', `/servers/${serverId}/roles`, { as: alice, json: [{ id: -1, name: 'mod', color: '#00aa00', perms1: 4 }, defaultRole] }));
  const updated = await b.frames.next('roles_updated');
  recorded.push({ case: 'roles_updated', frame: normalize.frame(updated) });
  const modId = (JSON.parse(updated) as { data: { roles: Array<{ id: number }> } }).data.roles[0].id;
  await ok(system.rest('POST', `/servers/${serverId}/users/${bob.id}/roles/${modId}`, { as: alice }));
  await take('role_assigned', c.frames, 'role_assigned');
  await ok(system.rest('DELETE', `/servers/${serverId}/users/${bob.id}/roles/${modId}`, { as: alice }));
  await take('role_disallowed', c.frames, 'role_disallowed');

  // Emojis.
  await ok(upload(alice, 'POST', `/servers/${serverId}/emojis`, { name: 'cat', image: PNG }));
  const emoji = await b.frames.next('emoji_created');
  recorded.push({ case: 'emoji_created', frame: normalize.frame(emoji) });
  const emojiId = (JSON.parse(emoji) as { data: { id: number } }).data.id;
  await ok(upload(alice, 'PUT', `/servers/${serverId}/emojis/${emojiId}`, { name: 'kitty' }));
  await take('emoji_changed', b.frames, 'emoji_changed');
  await ok(system.rest('DELETE', `/servers/${serverId}/emojis/${emojiId}`, { as: alice }));
  await take('emoji_deleted', b.frames, 'emoji_deleted');

  // Voice, through the port the media node announces with.
  const voiceId = Number(await ok(system.rest('POST', `/servers/${serverId}/channels`, { as: alice, json: { name: 'voice', type: 1 } })));
  await take('channel_created: voice', b.frames, 'channel_created', (data) => data.id === voiceId);
  const presence = new DynamoDbVoicePresence(appContext(), () => 'http://node.test');
  const participant = { userId: carol.id, channelId: voiceId, serverId };
  await presence.joined({ ...participant, joined: new Date().toISOString(), mute: 1, deaf: 0, video: 0 });
  await take('user_joined_vc', b.frames, 'user_joined_vc');
  await presence.changed({ ...participant, video: 1 });
  await take('user_changed_vc_state', b.frames, 'user_changed_vc_state');
  await presence.left(participant);
  await take('user_left_vc', b.frames, 'user_left_vc');

  // Friends.
  await ok(system.rest('POST', `/friends/${dave.id}`, { as: alice }));
  await take('friend_request_received', d.frames, 'friend_request_received');
  await ok(system.rest('POST', `/friends/${alice.id}`, { as: dave }));
  await take('friend_request_accepted', a.frames, 'friend_request_accepted');
  await ok(system.rest('DELETE', `/friends/${dave.id}`, { as: alice }));
  await take('friend_removed', d.frames, 'friend_removed');
  await ok(system.rest('POST', `/friends/${dave.id}`, { as: alice }));
  await d.frames.next('friend_request_received');
  await ok(system.rest('DELETE', `/friends/${dave.id}`, { as: alice }));
  await take('friend_request_cancelled', d.frames, 'friend_request_cancelled');
  await ok(system.rest('POST', `/friends/${alice.id}`, { as: dave }));
  await a.frames.next('friend_request_received');
  await ok(system.rest('DELETE', `/friends/${dave.id}`, { as: alice }));
  await take('friend_request_denied', d.frames, 'friend_request_denied');

  // Kicks and bans.
  await ok(system.rest('POST', `/server_invites/${invite}`, { as: dave }));
  await ok(system.rest('DELETE', `/servers/${serverId}/users/${carol.id}`, { as: alice }));
  await take('user_kicked: remaining member', b.frames, 'user_kicked');
  await take('user_kicked: the kicked user', c.frames, 'user_kicked');
  await ok(system.rest('POST', `/servers/${serverId}/bans/${dave.id}?expires=never`, { as: alice }));
  await take('user_banned: remaining member', b.frames, 'user_banned');
  const banned = await d.frames.next('user_banned');
  recorded.push({ case: 'user_banned: the banned user', frame: normalize.frame(banned) });
  const banId = (JSON.parse(banned) as { data: { id: number } }).data.id;
  await ok(system.rest('PUT', `/servers/${serverId}/bans/${banId}?expires=2099-01-01T07:00:00Z`, { as: alice }));
  await take('ban_changed', b.frames, 'ban_changed');
  await ok(system.rest('DELETE', `/servers/${serverId}/bans/${banId}`, { as: alice }));
  await take('user_unbanned', b.frames, 'user_unbanned');

  // Bad input on the socket.
  a.client.send('not json');
  await take('error: invalid JSON', a.frames, 'error');
  a.client.send({ name: 'no_such_event', data: 1 });
  await take('error: unknown event', a.frames, 'error');

  // The last connection closes; ownership moves; the server goes.
  await b.client.close();
  await take('user_changed: offline', a.frames, 'user_changed', (data) => data.id === bob.id && data.status === 0);
  await ok(upload(alice, 'PUT', `/servers/${serverId}`, { owner_id: String(bob.id) }));
  await take('server_edited: new owner', a.frames, 'server_edited', (data) => data.owner_id === bob.id);
  const b2 = await open(bob);
  await b2.frames.next('user_changed', (data) => data.id === bob.id);
  await ok(upload(bob, 'PUT', `/servers/${serverId}`, { owner_id: String(alice.id) }));
  await take('got_server_owner', a.frames, 'got_server_owner');
  await ok(system.rest('DELETE', `/servers/${serverId}`, { as: alice }));
  await take('server_deleted', b2.frames, 'server_deleted');

  expect(new Set(recorded.map((r) => JSON.parse(r.frame).name))).toEqual(new Set(EVENT_NAMES));
  if (process.env.UPDATE_GOLDEN === '1') writeFileSync(FIXTURE, `${JSON.stringify(recorded, null, 2)}\n`);
  const expected = JSON.parse(readFileSync(FIXTURE, 'utf8')) as typeof recorded;
  expect(recorded).toEqual(expected);
}, 60_000);
