import { GetCommand } from '@aws-sdk/lib-dynamodb';
import { servedRoutes } from '../lambdas/rest/api-doc';
import { createApp } from '../lambdas/rest/app';
import { PAIR, Perm, PERM_COUNT, type PermIndex } from '../lambdas/domain/permissions';
import { createSession } from '../lambdas/domain/sessions';
import { keys, TTL_ATTRIBUTE } from '../lambdas/domain/table';
import {
  type Caller,
  type Fixture,
  type Operation,
  OPERATIONS,
  type Outcome,
  type Request,
  type TargetKind,
  targetOf,
  TEXT,
} from './support/authorization-operations';
import { JPEG, PNG } from './support/images';
import { type SocketClient, TestSystem, type TestUser } from './support/system';

/**
 * The authorization matrix: every REST operation the app serves, tried without a session, with an
 * expired session, as a non-member, as a banned user, as a member without the permission, and (for
 * channels and messages) as a member who cannot see a private channel or a DM. Every refusal must be the
 * documented one, must not tell a hidden channel from a missing one, and must change nothing.
 */

let system: TestSystem;
let f: Fixture;
let ownerSocket: SocketClient;

type Identity = 'anonymous' | 'expired' | 'outsider' | 'banned' | 'member' | 'admin' | 'rival' | 'owner' | `lacking ${number}`;

const key = (op: { method: string; path: string }) => `${op.method} ${op.path}`;

function tokenOf(who: Identity | Caller): string | undefined {
  if (who === 'anonymous') return undefined;
  if (who === 'expired') return f.expiredToken;
  if (who.startsWith('lacking ')) return f.lacking.get(Number(who.slice('lacking '.length)) as PermIndex)!.token;
  return f[who as 'owner' | 'member' | 'outsider' | 'banned' | 'admin' | 'rival'].token;
}

/** perms1 allowing every permission, except `denied` which is explicitly denied. */
function allowAllBut(denied?: PermIndex): number {
  let perms1 = 0;
  for (let i = 0; i < PERM_COUNT; i++) perms1 += (i === denied ? PAIR.DENY : PAIR.ALLOW) * 4 ** i;
  return perms1;
}

/** An operation's request with a raw token; redirects (file downloads) are answers, not followed. */
async function send(method: string, request: Request, token: string | undefined) {
  const { status, text, json } = await system.rest(method, request.url, { token, json: request.json, form: request.form, redirect: 'manual' });
  return { status, text, json };
}

async function ok<T = any>(method: string, url: string, as: TestUser, request: Omit<Request, 'url'> = {}): Promise<{ text: string; json: T }> {
  const response = await send(method, { url, ...request }, as.token);
  if (response.status !== 200) throw new Error(`${method} ${url}: ${response.status} ${response.text}`);
  return response;
}

/** Runs `tasks` with at most `limit` in flight (2 shared cores: modest parallelism). */
async function pool<T>(tasks: Array<() => Promise<T>>, limit: number): Promise<T[]> {
  const results: T[] = new Array(tasks.length);
  let next = 0;
  const worker = async () => {
    while (next < tasks.length) {
      const index = next++;
      results[index] = await tasks[index]();
    }
  };
  await Promise.all(Array.from({ length: limit }, worker));
  return results;
}

async function buildFixture(): Promise<Fixture> {
  const needed = [...new Set(OPERATIONS.map((op) => op.needs).filter((n): n is PermIndex => typeof n === 'number'))];
  const [owner, member, outsider, banned, peer, kick, ban, role, admin, rival, ...lackers] = await Promise.all(
    ['Owner', 'Member', 'Outsider', 'Banned', 'Peer', 'Kick victim', 'Ban victim', 'Role victim', 'Admin', 'Rival', ...needed.map((p) => `Lacks ${p}`)].map((name) =>
      system.user(name),
    ),
  );
  const serverId = await system.server(owner, [member, banned, kick, ban, role, admin, ...lackers], 'guarded');
  const rivalServerId = await system.server(rival, [], 'rival');
  const [{ id: rivalRoleId }] = (await ok('GET', `/servers/${rivalServerId}/roles`, rival)).json;
  const base = `/servers/${serverId}`;

  // A `staff` role above the default one; the private channels admit it (the plain member lacks it), and
  // the user banned below, by id.
  // Below it, an `admin` role allowing everything and, per permission an operation needs, a role allowing
  // everything but that one.
  const [defaultRole] = (await ok('GET', `${base}/roles`, owner)).json;
  const ranks = [
    { id: -1, name: 'staff', color: '#00aa00', perms1: 0 },
    { id: -2, name: 'admin', color: '#aa0000', perms1: allowAllBut() },
    ...needed.map((p, i) => ({ id: -3 - i, name: `lacks ${p}`, color: '#0000aa', perms1: allowAllBut(p) })),
    defaultRole,
  ];
  await ok('PUT', `${base}/roles`, owner, { json: ranks });
  const roles = (await ok('GET', `${base}/roles`, owner)).json;
  const staffRoleId: number = roles[0].id;
  const holders = [admin, ...lackers];
  await Promise.all(holders.map((holder, i) => ok('POST', `${base}/users/${holder.id}/roles/${roles[i + 1].id}`, owner)));

  const channel = async (name: string, type: number, whitelisted: boolean) =>
    Number((await ok('POST', `${base}/channels`, owner, { json: { name, type, ...(whitelisted ? { wl_roles: [staffRoleId], wl_users: [banned.id] } : {}) } })).text);
  const text = await channel('general', 0, false);
  const voice = await channel('lounge', 1, false);
  const privateText = await channel('staff', 0, true);
  const privateVoice = await channel('staff voice', 1, true);
  const victimChannel = await channel('doomed', 0, false);
  const [dmText, dmVoice]: number[] = (await ok('POST', `/dms/${peer.id}`, owner)).json;
  const post = async (cid: number, words: string) => Number((await ok('POST', `/channels/${cid}/messages`, owner, { json: { text: words } })).text);

  const invite = (await ok('POST', `${base}/invites?expires=never`, owner)).text;
  const victimInvite = (await ok('POST', `${base}/invites?expires=never`, owner)).text;
  await ok('POST', `${base}/bans/${banned.id}?expires=never`, owner);
  const [{ id: banId }] = (await ok('GET', `${base}/bans?start_id=0&count=50&order=1`, owner)).json;

  await ok('POST', `${base}/emojis`, owner, { form: { name: 'wave', image: PNG } });
  await ok('POST', `${base}/emojis`, owner, { form: { name: 'doomed', image: PNG } });
  const emojis = (await ok('GET', `${base}/emojis`, owner)).json;
  const emoji = emojis.find((e: { name: string }) => e.name === 'wave');
  const victimEmoji = emojis.find((e: { name: string }) => e.name === 'doomed');

  await ok('PUT', '/register', owner, { form: { avatar: PNG } });
  await ok('PUT', base, owner, { form: { avatar: JPEG } });
  const upload = (await ok('POST', '/files/upload', owner, { form: { ext: 'txt', file: Buffer.from('owner only') } })).text;

  // A real session of the owner, written by the session code, whose expiry is an hour ago: TTL has not
  // removed it (TTL may lag by days), so only the expiry check stands between it and the owner's rights.
  const expiredToken = await createSession(system.db, owner.id, { sessionLifetimeSeconds: 60, sessionsPerUser: 8 }, Date.now() - 3_600_000);

  return {
    owner,
    member,
    outsider,
    banned,
    peer,
    victims: { kick, ban, role },
    serverId,
    roles,
    staffRoleId,
    channels: { text, voice, privateText, privateVoice, victim: victimChannel, dmText, dmVoice },
    messages: {
      text: await post(text, 'public words'),
      private: await post(privateText, 'staff secret'),
      dm: await post(dmText, 'dm secret'),
      victim: await post(text, 'doomed words'),
    },
    invite,
    victimInvite,
    banId,
    emojiId: emoji.id,
    victimEmojiId: victimEmoji.id,
    files: {
      userAvatar: (await ok('GET', `/users/${owner.id}`, owner)).json.avatar,
      serverAvatar: (await ok('GET', base, owner)).json.avatar,
      emoji: emoji.image,
      upload,
    },
    expiredToken,
    lacking: new Map(needed.map((p, i) => [p, lackers[i]])),
    admin,
    rival,
    rivalServerId,
    rivalRoleId,
  };
}

/** Everything the refused requests might have touched, as the owner sees it. */
async function ownerView(): Promise<Record<string, unknown>> {
  const base = `/servers/${f.serverId}`;
  const newest = 'start_id=2147483647&count=50';
  const urls = [
    '/servers',
    base,
    `${base}/roles`,
    `${base}/channels`,
    `${base}/users?start_id=0&count=50&order=1`,
    `${base}/invites`,
    `${base}/invites/${f.invite}`,
    `${base}/bans?start_id=0&count=50&order=1`,
    `${base}/emojis`,
    ...Object.values(f.channels).flatMap((cid) => [`/channels/${cid}`, `/channels/${cid}/messages?${newest}`]),
    ...Object.values(f.messages).map((mid) => `/messages/${mid}`),
    `/users/${f.owner.id}`,
    '/preferences',
    '/friends',
    '/friend_requests?incoming=1',
    '/friend_requests?incoming=0',
    '/blocked_users',
    `/dms?${newest}`,
    '/notifications',
    `/files/upload/${f.owner.id}/${f.files.upload}`,
  ];
  const responses = await pool(urls.map((url) => () => send('GET', { url }, f.owner.token)), 4);
  return Object.fromEntries(urls.map((url, i) => [url, { status: responses[i].status, body: responses[i].text }]));
}

interface Case {
  op: Operation;
  who: Identity;
  target: TargetKind;
  expect: Outcome;
}

function refusalText(op: Operation): string {
  return op.scope === 'channel' ? TEXT.noChannel : TEXT.noMessage;
}

/** The refusals the table implies for one operation. */
function casesOf(op: Operation): Case[] {
  const cases: Case[] = [];
  const add = (who: Identity, target: TargetKind, expect: Outcome) => cases.push({ op, who, target, expect });
  if (op.access === 'session') add('anonymous', 'public', { status: 400, text: TEXT.invalidToken });
  if (op.access !== 'public') add('expired', 'public', { status: 401, text: TEXT.expired });
  if (op.scope === 'server') {
    const notMember = { status: 403, text: TEXT.notMember };
    add('outsider', 'public', notMember);
    add('banned', 'public', notMember);
    // A server that does not exist is refused like one the caller is not in.
    add('outsider', 'missing', notMember);
  }
  if (op.scope === 'channel' || op.scope === 'message') {
    const hidden = { status: 404, text: refusalText(op) };
    add('outsider', 'public', hidden);
    add('banned', 'public', hidden);
    // The plain member cannot see the private channel nor the owner's DM: same answer as for no channel.
    add('member', 'private', hidden);
    add('member', 'dm', hidden);
    add('member', 'missing', hidden);
    // Whitelisted by id before his ban, the banned user is still out; every permission but MANAGE_CHANNELS
    // does not make a private channel visible.
    add('banned', 'private', hidden);
    add(`lacking ${Perm.MANAGE_CHANNELS}`, 'private', hidden);
  }
  if (op.member !== undefined && op.member !== 'allowed') add('member', 'public', op.member);
  // The exact permission: a member allowed everything else is still refused; owner and author rights are no permission.
  if (typeof op.needs === 'number') add(`lacking ${op.needs}`, 'public', { status: 403, text: TEXT.noPermission });
  if (op.needs === 'owner' || op.needs === 'author') add('admin', 'public', op.member as Outcome);
  for (const [who, expect] of Object.entries(op.also ?? {})) add(who as Identity, 'public', expect);
  for (const extra of op.extra ?? []) cases.push({ op: { ...op, request: extra.request }, who: extra.as, target: 'public', expect: extra.expect });
  return cases;
}

const matches = (actual: { status: number; text: string }, expect: Outcome) =>
  actual.status === expect.status && (expect.text === undefined || actual.text === expect.text);

beforeAll(async () => {
  system = await TestSystem.start();
  f = await buildFixture();
  [ownerSocket] = await system.connectAll(f.owner);
}, 60_000);
afterAll(() => system.stop());

describe('the authorization matrix', () => {
  test('has an entry for every REST operation the app serves, and no other', () => {
    // The desk's routes (OIDC identities, not sessions) have their own matrix: test/desk-authorization.test.ts.
    const served = servedRoutes(createApp())
      .filter((route) => !route.path.startsWith('/desk/'))
      .map(key)
      .sort();
    const listed = OPERATIONS.map(key);
    expect(new Set(listed).size).toBe(listed.length);
    expect([...listed].sort()).toEqual(served);
  });

  test('the expired session is a real one, still stored, past its expiry', async () => {
    const { Item: session } = await system.db.doc.send(new GetCommand({ TableName: system.db.table, Key: keys.session(f.expiredToken) }));
    expect(session).toMatchObject({ userId: f.owner.id });
    expect(Number(session!.expiresAt)).toBeLessThan(Date.now());
    expect(Number(session![TTL_ATTRIBUTE])).toBeLessThan(Date.now() / 1000);
  });

  test('every operation refuses whoever may not use it, as documented, and nothing changes', async () => {
    const before = await ownerView();
    const cases = OPERATIONS.flatMap(casesOf);
    const results = await pool(
      cases.map((c) => async () => {
        const response = await send(c.op.method, c.op.request(f, targetOf(f, c.target)), tokenOf(c.who));
        return { case: `${key(c.op)} as ${c.who} on ${c.target}`, expected: c.expect, got: { status: response.status, text: response.text } };
      }),
      6,
    );
    const wrong = results.filter((r) => !matches(r.got, r.expected));
    // Nothing any refused request could have changed did; the owner (who sees everything) heard nothing.
    const after = await ownerView();
    const changed = Object.keys(before).filter((url) => JSON.stringify(after[url]) !== JSON.stringify(before[url]));
    expect({ wrong, changed }).toEqual({ wrong: [], changed: [] });
    expect(results.length).toBeGreaterThanOrEqual(350);
    await ownerSocket.expectNothing();
  }, 120_000);

  test('public operations give nothing private away', async () => {
    const anonymous = (url: string) => send('GET', { url }, undefined);
    const server = (await ok('GET', `/servers/${f.serverId}`, f.owner)).json;
    const preview = await anonymous(`/server_invites/${f.invite}`);
    expect(preview).toMatchObject({ status: 200 });
    expect(preview.json).toEqual({ id: f.serverId, name: server.name, owner_id: f.owner.id, avatar: server.avatar });

    const userKeys = ['avatar', 'id', 'name', 'status'];
    const user = await anonymous(`/users/${f.owner.id}`);
    expect(Object.keys(user.json).every((k) => userKeys.includes(k))).toBe(true);
    const users = await anonymous('/users?start_id=0&count=50&order=1');
    expect(users.json.length).toBeGreaterThan(5);
    for (const entry of users.json) expect(Object.keys(entry).every((k) => userKeys.includes(k))).toBe(true);
    const params = await anonymous('/params');
    expect(Object.values(params.json).every((v) => typeof v === 'number')).toBe(true);

    // "Who am I" needs a session; a public route ignores an expired one, an optional one refuses it.
    expect(await anonymous('/users/-1')).toMatchObject({ status: 400, text: TEXT.invalidToken });
    expect(await send('GET', { url: '/users/-1' }, f.expiredToken)).toMatchObject({ status: 401, text: TEXT.expired });
    expect(await send('GET', { url: `/users/${f.owner.id}` }, f.expiredToken)).toMatchObject({ status: 200, json: user.json });
    expect(await send('GET', { url: `/server_invites/${f.invite}` }, f.expiredToken)).toMatchObject({ status: 200, json: preview.json });
    expect(await send('GET', { url: '/params' }, f.expiredToken)).toMatchObject({ status: 200 });

    // Logging in does not tell an unknown user from a wrong password.
    const wrongPassword = await send('POST', { url: '/auth', json: { username: f.member.username, password: 'password2' } }, undefined);
    const unknownUser = await send('POST', { url: '/auth', json: { username: 'nobody-at-all', password: 'password1' } }, undefined);
    expect(wrongPassword).toMatchObject({ status: 404, text: 'Invalid username or password' });
    expect(unknownUser).toMatchObject({ status: wrongPassword.status, text: wrongPassword.text });
  });

  test('the banned user stays out: not a member, and the invite does not let him back in', async () => {
    expect((await ok('GET', '/servers', f.banned)).json).toEqual([]);
    expect(await send('POST', { url: `/server_invites/${f.invite}` }, f.banned.token)).toMatchObject({ status: 403, text: 'User is banned from the server' });
    expect(await send('GET', { url: `/servers/${f.serverId}/users/${f.banned.id}` }, f.owner.token)).toMatchObject({ status: 404, text: TEXT.notMember });
  });

  test('what every member may read shows nothing of the channels he cannot see', async () => {
    const base = `/servers/${f.serverId}`;
    const hidden = [f.channels.privateText, f.channels.privateVoice];
    // The plain member has read every public channel; only the private one has news, and only for those who see it.
    for (const cid of [f.channels.text, f.channels.victim]) await ok('DELETE', `/notifications/channels/${cid}`, f.member);
    const channelIds = async (as: TestUser) => (await ok<Array<{ id: number }>>('GET', `${base}/channels`, as)).json.map((c) => c.id);
    expect((await channelIds(f.member)).filter((id) => hidden.includes(id))).toEqual([]);
    expect((await channelIds(f.lacking.get(Perm.MANAGE_CHANNELS)!)).filter((id) => hidden.includes(id))).toEqual([]);
    expect((await channelIds(f.admin)).filter((id) => hidden.includes(id))).toEqual(hidden);
    expect((await ok('GET', base, f.member)).json).not.toHaveProperty('notifications');
    expect((await ok('GET', '/servers', f.member)).json.find((s: { id: number }) => s.id === f.serverId)).not.toHaveProperty('notifications');
    expect((await ok('GET', base, f.admin)).json).toHaveProperty('notifications', 0);
    // Searching a channel he sees finds nothing of the others; the owner's DM is not among his.
    const found = await ok('POST', `/channels/${f.channels.text}/messages_search?start_id=2147483647&count=50`, f.member, { json: { content: 'secret' } });
    expect(found.json).toEqual([]);
    expect((await ok('GET', '/dms?start_id=2147483647&count=50', f.member)).json).toEqual([]);
    expect((await ok('GET', '/dms?start_id=2147483647&count=50', f.owner)).json.map((d: { id: number }) => d.id)).toEqual([f.channels.dmText]);
  });

  // Last: the controls change the fixture (and end by deleting the server).
  test('each request of the table is well formed: the one who may gets through', async () => {
    const ordered = [...OPERATIONS.filter((op) => key(op) !== 'DELETE /servers/{sid}'), ...OPERATIONS.filter((op) => key(op) === 'DELETE /servers/{sid}')];
    const wrong: unknown[] = [];
    for (const op of ordered) {
      const request = op.ok.request ? op.ok.request(f) : op.request(f, targetOf(f, 'public'));
      const response = await send(op.method, request, tokenOf(op.ok.as));
      if (!matches(response, op.ok.expect)) wrong.push({ operation: key(op), as: op.ok.as, expected: op.ok.expect, got: { status: response.status, text: response.text } });
      // A public operation ignores an expired session.
      if (op.access === 'public' && op.method === 'GET') {
        const expired = await send(op.method, request, f.expiredToken);
        if (!matches(expired, op.ok.expect)) wrong.push({ operation: key(op), as: 'expired', expected: op.ok.expect, got: { status: expired.status, text: expired.text } });
      }
    }
    expect(wrong).toEqual([]);
  }, 60_000);
});
