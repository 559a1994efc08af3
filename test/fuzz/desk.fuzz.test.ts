import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { Agent, request } from 'node:http';
import { join } from 'node:path';
import fc from 'fast-check';
import { load } from 'js-yaml';
import { unsignedToken } from '../support/oidc-issuer';
import { RealProvider } from '../support/oidc-provider';
import { TestSystem, type TestUser } from '../support/system';
import { Findings, FUZZ_CASES, FUZZ_SEED, fuzzTimeoutMs, preview, settleThenStopWatching, watchProcessFailures } from './support';

/**
 * Random requests to the support desk's REST routes (`/desk/`, every route of docs/desk.openapi.yaml), signed
 * in with access tokens of a real OpenID provider (npm oidc-provider in a child process) as two customers, two
 * curators of different topics and a desk-admin, or with bad tokens (none, garbage, another API's, unsigned,
 * tampered, a ZavodChat session). Path ids are real ids of both customers' chats, random numbers or garbage;
 * bodies are mutated valid requests, random JSON, forms and junk. Invariants: only the statuses the document
 * lists for the route (or its global ones: 401, 413, 429, 503), never a 5xx, refusals as non-empty text/plain;
 * and no data of a chat the caller may not see: each fixture chat carries a secret in its messages and file,
 * which must never appear in an answer to anybody but its customer and its topic's curators, and every
 * `chat_id` in a JSON answer must be a chat the caller may see (a model follows grants and new chats).
 */

const SPEC = load(readFileSync(join(__dirname, '..', '..', 'docs', 'desk.openapi.yaml'), 'utf8')) as {
  paths: Record<string, Record<string, { responses: Record<string, unknown> }>>;
};
/** docs/desk.openapi.yaml's description: every route may also answer these. */
const GLOBAL_STATUSES = [401, 413, 415, 429, 503];
/** About 0.1 s a case on the shared 2-core machine: `npm test` runs 200, `npm run fuzz` its FUZZ_CASES. */
const CASES = process.env.FUZZ_CASES !== undefined ? FUZZ_CASES : 200;

interface Route {
  method: string;
  path: string;
  statuses: number[];
}
const ROUTES: Route[] = Object.entries(SPEC.paths).flatMap(([path, methods]) =>
  Object.entries(methods).map(([method, operation]) => ({ method: method.toUpperCase(), path, statuses: Object.keys(operation.responses).map(Number) })),
);

type Who = 'customerA' | 'customerB' | 'curator1' | 'curator2' | 'admin';
type Credential = Who | 'none' | 'garbage' | 'otherAudience' | 'unsigned' | 'tampered' | 'zavodchat' | 'lowercase-bearer' | 'basic';

interface DeskUser {
  token: string;
  id: string;
}

interface ChatModel {
  customer: string;
  topic: string;
  /** A secret in its messages and file: only who may see the chat may ever read it. */
  secret?: string;
}

let provider: RealProvider;
let system: TestSystem;
let zavodchat: TestUser;
const agent = new Agent({ keepAlive: true, maxSockets: 4 });
const users = {} as Record<Who, DeskUser>;
const subs = {} as Record<Who, string>;
const badTokens = {} as Record<'otherAudience' | 'unsigned' | 'tampered', string>;
let tokensAt = 0;
/** The model the leak check reads: chats, topic grants, and ids the path parameters pick from. */
const chats = new Map<string, ChatModel>();
const grants = new Map<string, Set<string>>();
const pools = { tid: [] as string[], cid: [] as string[], mid: [] as string[], uid: [] as string[], f: [] as string[] };
/** Per chat, its messages and files: a pooled message or file is mostly one of the chat in the path. */
const ofChat = new Map<string, { mid: string[]; f: string[] }>();
let fixtureCids: string[] = [];
const PNG = Buffer.from('89504e470d0a1a0a0000000d49484452', 'hex');

async function call(method: string, path: string, token: string, json?: unknown, form?: Record<string, string | Buffer>) {
  return system.rest(method, path, { json, form, headers: { authorization: `Bearer ${token}` } });
}

async function ok(method: string, path: string, token: string, json?: unknown, form?: Record<string, string | Buffer>): Promise<any> {
  const r = await call(method, path, token, json, form);
  if (r.status !== 200) throw new Error(`${method} ${path}: ${r.status} ${r.text}`);
  return r.json ?? r.text;
}

/** Real access tokens (10 minutes of validity: renewed every 5 during a long `npm run fuzz`). */
async function signIn(): Promise<void> {
  const roles: Record<Who, string[]> = { customerA: [], customerB: [], curator1: ['curator'], curator2: ['curator'], admin: ['desk-admin'] };
  for (const who of Object.keys(roles) as Who[]) {
    subs[who] ??= randomUUID();
    const token = await provider.token({ sub: subs[who], name: who, roles: roles[who] });
    users[who] = { token, id: users[who]?.id ?? (await ok('GET', '/desk/me', token)).id };
  }
  const real = users.customerA.token;
  badTokens.otherAudience = await provider.token({ sub: subs.customerA, roles: ['desk-admin'] }, provider.otherAudience);
  const [header, payload, signature] = real.split('.');
  const claims = JSON.parse(Buffer.from(payload, 'base64url').toString()) as Record<string, unknown>;
  badTokens.unsigned = unsignedToken(claims);
  badTokens.tampered = `${header}.${Buffer.from(JSON.stringify({ ...claims, sub: subs.customerB })).toString('base64url')}.${signature}`;
  tokensAt = Date.now();
}

/** Two chats (one per customer, on different topics) with a secret in a message and in a file. */
async function fixtureChats(topic1: string, topic2: string): Promise<void> {
  fixtureCids = [];
  for (const [who, topic] of [['customerA', topic1], ['customerB', topic2]] as const) {
    const secret = `SECRET-${randomUUID()}`;
    const chat = (await ok('POST', '/desk/chats', users[who].token, { chat_type: 'topic', topic_id: topic })).chat_id as string;
    chats.set(chat, { customer: users[who].id, topic, secret });
    const message = (await ok('POST', `/desk/chats/${chat}/messages`, users[who].token, { text: `hello ${secret}` })).id as string;
    const file = (await ok('POST', `/desk/chats/${chat}/messages`, users[who].token, undefined, { file: Buffer.concat([PNG, Buffer.from(secret)]), ext: 'png', text: secret })).files.file as string;
    pools.cid.push(chat);
    fixtureCids.push(chat);
    pools.mid.push(message);
    pools.f.push(file.split('/').pop()!);
    ofChat.set(chat, { mid: [message], f: [file.split('/').pop()!] });
  }
}

beforeAll(async () => {
  provider = await RealProvider.start();
  system = await TestSystem.start({ env: { DESK_OIDC_ISSUER: provider.issuer, DESK_OIDC_AUDIENCE: provider.audience } });
  await signIn();
  zavodchat = await system.user();
  const topic1 = (await ok('POST', '/desk/topics', users.admin.token, { name: 'fuzz one' })).id as string;
  const topic2 = (await ok('POST', '/desk/topics', users.admin.token, { name: 'fuzz two' })).id as string;
  await ok('PUT', `/desk/topics/${topic1}/curators/${users.curator1.id}`, users.admin.token);
  await ok('PUT', `/desk/topics/${topic2}/curators/${users.curator2.id}`, users.admin.token);
  grants.set(topic1, new Set([users.curator1.id]));
  grants.set(topic2, new Set([users.curator2.id]));
  pools.tid.push(topic1, topic2);
  pools.uid.push(...Object.values(users).map((u) => u.id));
  await fixtureChats(topic1, topic2);
}, 120_000);

afterAll(async () => {
  agent.destroy();
  await system?.stop();
  await provider?.stop();
});

/** Whose request it is, when the credential signs somebody in (`bearer` is case-insensitive, RFC 7235). */
function whoOf(credential: Credential): Who | undefined {
  if (credential === 'lowercase-bearer') return 'customerA';
  return credential in users ? (credential as Who) : undefined;
}

function maySee(credential: Credential, chatId: string): boolean {
  const chat = chats.get(chatId);
  const who = whoOf(credential);
  if (!chat || !who) return false;
  const id = users[who].id;
  return chat.customer === id || (grants.get(chat.topic)?.has(id) ?? false);
}

function credentialHeader(credential: Credential): Record<string, string> {
  switch (credential) {
    case 'none':
      return {};
    case 'garbage':
      return { authorization: 'Bearer not.a.jwt' };
    case 'otherAudience':
    case 'unsigned':
    case 'tampered':
      return { authorization: `Bearer ${badTokens[credential]}` };
    case 'zavodchat':
      return { authorization: `Bearer ${zavodchat.token}`, cookie: `zavodchat_token=${zavodchat.token}` };
    case 'lowercase-bearer':
      return { authorization: `bearer ${users.customerA.token}` };
    case 'basic':
      return { authorization: 'Basic Zm9vOmJhcg==' };
    default:
      return { authorization: `Bearer ${users[credential].token}` };
  }
}

const garbageString = fc.oneof(
  fc.string({ maxLength: 30 }),
  fc.string({ unit: 'grapheme', maxLength: 15 }),
  fc.constantFrom('', ' ', '-1', '0', '1', '01', '1.5', '1e3', '9007199254740993', '999999999999999', '9999999999999999', 'NaN', 'null', 'true', '%00', 'new', 'in_progress', 'resolved', 'closed', 'order', 'topic', 'text', 'file', 'emoji'),
);
const jsonScalar = fc.oneof(garbageString, fc.integer(), fc.double(), fc.boolean(), fc.constant(null), fc.constantFrom(-1, 0, 1, 2 ** 53 + 1, 1e308));
const jsonField = fc.oneof({ weight: 4, arbitrary: jsonScalar }, { weight: 1, arbitrary: fc.jsonValue({ maxDepth: 2 }) });
const KNOWN_KEYS = ['name', 'chat_type', 'topic_id', 'order_id', 'status', 'curator_id', 'message_type', 'text', 'last_message_id', 'file', 'ext', '__proto__', 'constructor'];

/** Valid requests to mutate, so random changes reach the checks deep in each route. */
const TEMPLATES: Record<string, (p: Params, n: number) => unknown> = {
  'POST /desk/topics': () => ({ name: 'fuzzed topic' }),
  'PUT /desk/topics/{tid}': () => ({ name: 'renamed' }),
  'POST /desk/chats': (p) => ({ chat_type: 'order', topic_id: p.tid, order_id: 'A-1' }),
  'PUT /desk/chats/{cid}/status': (_p, n) => ({ status: ['in_progress', 'resolved', 'closed', 'new'][n % 4] }),
  'PUT /desk/chats/{cid}/curator': (p) => ({ curator_id: p.uid }),
  'POST /desk/chats/{cid}/messages': () => ({ text: 'hi', message_type: 'text' }),
  'PUT /desk/chats/{cid}/messages/{mid}': () => ({ text: 'edited' }),
  'PUT /desk/chats/{cid}/read': (p) => ({ last_message_id: p.mid }),
};

type Params = Record<'tid' | 'cid' | 'mid' | 'uid' | 'f', string>;
type Pick = { from: 'pool'; index: number } | { from: 'value'; value: string };

const paramPick: fc.Arbitrary<Pick> = fc.oneof(
  { weight: 8, arbitrary: fc.nat().map((index) => ({ from: 'pool' as const, index })) },
  { weight: 1, arbitrary: fc.integer({ min: -2, max: 100_000 }).map((n) => ({ from: 'value' as const, value: String(n) })) },
  { weight: 1, arbitrary: garbageString.filter((s) => s.length > 0).map((s) => ({ from: 'value' as const, value: encodeURIComponent(s) })) },
  { weight: 1, arbitrary: fc.constantFrom('%00', '%ff', '%E0%A4%A', '..', '%2e%2e', 'a%2Fb', '+1', '1%20', '0001', 'x.png', '../x.png').map((value) => ({ from: 'value' as const, value })) },
);

const bodyArb: fc.Arbitrary<{ kind: string; json?: unknown; raw?: Buffer; contentType?: string; form?: Record<string, string | boolean> }> = fc.oneof(
  { weight: 2, arbitrary: fc.constant({ kind: 'none' }) },
  // The valid request as is (it reaches the route's success path), or with a field dropped, retyped or added.
  { weight: 3, arbitrary: fc.constant({ kind: 'template', json: [] }) },
  { weight: 4, arbitrary: fc.array(fc.record({ op: fc.constantFrom('delete', 'set', 'add'), pick: fc.nat(), key: fc.constantFrom(...KNOWN_KEYS), value: jsonField }), { minLength: 1, maxLength: 2 }).map((edits) => ({ kind: 'template', json: edits })) },
  { weight: 2, arbitrary: fc.dictionary(fc.oneof(fc.constantFrom(...KNOWN_KEYS), fc.string({ maxLength: 8 })), jsonField, { maxKeys: 5 }).map((json) => ({ kind: 'json object', raw: Buffer.from(JSON.stringify(json)), contentType: 'application/json' })) },
  { weight: 1, arbitrary: fc.jsonValue({ maxDepth: 3 }).map((value) => ({ kind: 'json value', raw: Buffer.from(JSON.stringify(value) ?? 'null'), contentType: 'application/json' })) },
  {
    weight: 1,
    arbitrary: fc
      .constantFrom('{', '{"text":', 'nul', '\u0000', '1e999999', '{"__proto__":{"text":"x"}}', '"', '{"text":"\\ud800"}', '\uFEFF{}', '')
      .map((text) => ({ kind: 'malformed json', raw: Buffer.from(text), contentType: 'application/json' })),
  },
  { weight: 1, arbitrary: fc.integer({ min: 1, max: 3_000_000 }).map((size) => ({ kind: `huge ${size}`, raw: Buffer.from(JSON.stringify({ text: 'h'.repeat(size), name: 'n'.repeat(size % 300) })), contentType: 'application/json' })) },
  { weight: 1, arbitrary: fc.uint8Array({ maxLength: 100 }).map((bytes) => ({ kind: 'random bytes', raw: Buffer.from(bytes), contentType: 'application/octet-stream' })) },
  {
    weight: 2,
    arbitrary: fc
      .record({ fields: fc.dictionary(fc.constantFrom('text', 'ext', 'message_type', 'name'), garbageString, { maxKeys: 3 }), file: fc.boolean() })
      .map(({ fields, file }) => ({ kind: 'multipart', form: { ...fields, ...(file ? { file: true } : {}) } })),
  },
  {
    weight: 1,
    arbitrary: fc.constantFrom('--x\r\n', '--x\r\nContent-Disposition: form-data\r\n\r\nv\r\n--x--', 'garbage').map((text) => ({ kind: 'broken multipart', raw: Buffer.from(text), contentType: 'multipart/form-data; boundary=x' })),
  },
  { weight: 1, arbitrary: fc.constantFrom('text/plain', 'application/x-www-form-urlencoded', ';;;', 'application/json; charset=utf-16').map((contentType) => ({ kind: `body as ${contentType}`, raw: Buffer.from('{"text":"x","name":"y"}'), contentType })) },
);

const caseArb = fc.record({
  route: fc.nat({ max: ROUTES.length - 1 }),
  // Mostly signed in: a bad credential is refused before anything else, once is enough to learn that.
  credential: fc.oneof(
    { weight: 5, arbitrary: fc.constantFrom<Credential>('customerA', 'customerA', 'customerB', 'customerB', 'curator1', 'curator1', 'curator2', 'curator2', 'admin', 'lowercase-bearer') },
    { weight: 1, arbitrary: fc.constantFrom<Credential>('none', 'garbage', 'otherAudience', 'unsigned', 'tampered', 'zavodchat', 'basic') },
  ),
  params: fc.record({ tid: paramPick, cid: paramPick, mid: paramPick, uid: paramPick, f: paramPick }),
  query: fc.oneof(
    fc.constant(''),
    fc.dictionary(fc.constantFrom('count', 'order', 'start_id', 'token', 'x'), garbageString, { maxKeys: 3 }).map((q) => new URLSearchParams(q).toString()),
    fc.constantFrom('count=1', 'count=50&order=1', 'count=51', 'count=0', 'order=2', 'start_id=-1', 'start_id=99999999999', 'start_id=1&count=1', '%', 'count=%zz'),
  ),
  body: bodyArb,
  n: fc.nat(),
  suffix: fc.oneof({ weight: 12, arbitrary: fc.constant('') }, { weight: 1, arbitrary: fc.constantFrom('/', '//', '/extra', '?', '#x') }),
});

function valueOf(pick: Pick, pool: string[]): string {
  return pick.from === 'pool' ? (pool[pick.index % pool.length] ?? '1') : pick.value;
}

function send(method: string, path: string, headers: Record<string, string>, body?: Buffer): Promise<{ status: number; contentType: string; text: string }> {
  return new Promise((resolve, reject) => {
    const req = request(
      { host: '127.0.0.1', port: Number(new URL(system.runtime.restUrl).port), method, path, headers: { ...headers, ...(body ? { 'content-length': String(body.length) } : {}) }, agent, timeout: 30_000 },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, contentType: String(res.headers['content-type'] ?? ''), text: Buffer.concat(chunks).toString('latin1') }));
        res.on('error', reject);
      },
    );
    req.on('timeout', () => req.destroy(new Error('no answer within 30 s')));
    req.on('error', reject);
    req.end(body);
  });
}

function multipart(fields: Record<string, string | boolean>): { body: Buffer; contentType: string } {
  const boundary = '----deskfuzz';
  const parts = Object.entries(fields).map(([key, value]) =>
    value === true
      ? `--${boundary}\r\nContent-Disposition: form-data; name="${key}"; filename="x.png"\r\nContent-Type: image/png\r\n\r\n\x89PNG\r\n`
      : `--${boundary}\r\nContent-Disposition: form-data; name="${key}"\r\n\r\n${String(value)}\r\n`,
  );
  return { body: Buffer.from(`${parts.join('')}--${boundary}--\r\n`, 'latin1'), contentType: `multipart/form-data; boundary=${boundary}` };
}

/** Every `chat_id` in a JSON answer. */
function chatIdsIn(value: unknown, out: string[] = []): string[] {
  if (Array.isArray(value)) for (const item of value) chatIdsIn(item, out);
  else if (value && typeof value === 'object') {
    for (const [key, inner] of Object.entries(value)) {
      if (key === 'chat_id') out.push(String(inner));
      else chatIdsIn(inner, out);
    }
  }
  return out;
}

test('the fuzzer covers every route of docs/desk.openapi.yaml', () => {
  expect(ROUTES.length).toBeGreaterThanOrEqual(20);
  expect(ROUTES).toContainEqual(expect.objectContaining({ method: 'POST', path: '/desk/chats/{cid}/messages' }));
});

test(
  `${CASES} random desk requests: documented statuses only, never a 5xx, never another customer's chat (seed ${FUZZ_SEED})`,
  async () => {
    const watcher = watchProcessFailures();
    const findings = new Findings();
    const statuses = new Map<number, number>();
    const succeeded = new Set<string>();
    let cases = 0;
    try {
      await fc.assert(
        fc.asyncProperty(fc.noBias(caseArb), async (c) => {
          cases++;
          if (Date.now() - tokensAt > 300_000) await signIn();
          // New secret-bearing chats now and then: fuzzed deletes and closes wear the old ones out.
          if (cases % 150 === 0) await fixtureChats(pools.tid[0], pools.tid[1]);
          const route = ROUTES[c.route];
          // Half the pooled chats are the latest secret-bearing ones (the chats fuzzed POSTs open dilute the pool).
          const cid = valueOf(c.params.cid, c.params.cid.from === 'pool' && c.params.cid.index % 2 === 0 ? fixtureCids : pools.cid);
          const own = ofChat.get(cid);
          // Three in four pooled messages and files are the chat's own: the routes get past "Message does not exist".
          const near = (pick: Pick, key: 'mid' | 'f') => valueOf(pick, own && own[key].length > 0 && pick.from === 'pool' && pick.index % 4 !== 0 ? own[key] : pools[key]);
          const params: Params = { tid: valueOf(c.params.tid, pools.tid), cid, mid: near(c.params.mid, 'mid'), uid: valueOf(c.params.uid, pools.uid), f: near(c.params.f, 'f') };
          const path = route.path.replace(/\{(\w+)\}/g, (_, name: keyof Params) => params[name]) + c.suffix;
          const headers = credentialHeader(c.credential);
          let body: Buffer | undefined;
          let kind = c.body.kind;
          if (c.body.kind === 'template') {
            const template = TEMPLATES[`${route.method} ${route.path}`];
            const json = (template ? template(params, c.n) : {}) as Record<string, unknown>;
            for (const edit of c.body.json as Array<{ op: string; pick: number; key: string; value: unknown }>) {
              const keys = Object.keys(json);
              const key = edit.op === 'add' || keys.length === 0 ? edit.key : keys[edit.pick % keys.length];
              if (edit.op === 'delete') delete json[key];
              else json[key] = edit.value;
            }
            body = Buffer.from(JSON.stringify(json));
            headers['content-type'] = 'application/json';
            kind = `template ${preview(json, 100)}`;
          } else if (c.body.form) {
            const form = multipart(c.body.form);
            body = form.body;
            headers['content-type'] = form.contentType;
          } else if (c.body.raw) {
            body = c.body.raw;
            if (c.body.contentType) headers['content-type'] = c.body.contentType;
          }
          if (route.method === 'GET') body = undefined;
          const url = c.query ? `${path}?${c.query}` : path;
          const label = `${c.credential}: ${route.method} ${preview(url, 120)} [${kind}${body && kind !== 'template' ? `: ${preview(body.toString('latin1'), 80)}` : ''}]`;
          let answer: { status: number; contentType: string; text: string };
          try {
            answer = await send(route.method, url, headers, body);
          } catch (error) {
            findings.add(`no HTTP answer (${(error as Error).message})`, label);
            return true;
          }
          statuses.set(answer.status, (statuses.get(answer.status) ?? 0) + 1);
          const where = `${route.method} ${route.path}`;
          // A suffix may make it another path: the statuses of an unserved path (404) are allowed there too. A dot
          // segment as a parameter (`..`, `%2e%2e`: the URL parser resolves both) makes it another route's path.
          const dotted = Object.values(params).some((v) => /^(\.|%2e){1,2}$/i.test(v));
          const allowed = [...(dotted ? ROUTES.flatMap((r) => r.statuses) : route.statuses), ...GLOBAL_STATUSES, ...(dotted || (c.suffix && c.suffix !== '?' && c.suffix !== '#x') ? [404] : [])];
          if (answer.status >= 500) findings.add(`${answer.status} from ${where}`, `${label} -> ${preview(answer.text)}`);
          else if (!allowed.includes(answer.status)) findings.add(`undocumented ${answer.status} from ${where}`, `${label} -> ${preview(answer.text)}`);
          if (answer.status >= 400 && (answer.text.length === 0 || !answer.contentType.startsWith('text/plain'))) findings.add(`${answer.status} not as non-empty text/plain from ${where}`, `${label} -> '${answer.contentType}' ${preview(answer.text)}`);
          // The leak check: secrets and chat ids of chats the caller may not see.
          for (const [chatId, chat] of chats) {
            if (chat.secret && answer.text.includes(chat.secret) && !maySee(c.credential, chatId)) findings.add(`secret of another chat in an answer of ${where}`, `${label} -> chat ${chatId}`);
          }
          if (answer.status === 200 && answer.contentType.startsWith('application/json')) {
            let json: unknown;
            try {
              json = JSON.parse(answer.text);
            } catch {
              findings.add(`invalid JSON from ${where}`, label);
            }
            // A chat just opened is the caller's: into the model first.
            if (where === 'POST /desk/chats' && json && typeof json === 'object') {
              const chat = json as { chat_id: string; topic_id: string };
              chats.set(chat.chat_id, { customer: users[whoOf(c.credential)!].id, topic: chat.topic_id });
              pools.cid.push(chat.chat_id);
            }
            for (const chatId of chatIdsIn(json)) if (!maySee(c.credential, chatId)) findings.add(`chat_id of a chat the caller may not see from ${where}`, `${label} -> chat ${chatId}`);
          }
          if (answer.status === 200) {
            succeeded.add(where);
            // The model follows the grants the admin changes.
            if (route.path === '/desk/topics/{tid}/curators/{uid}') {
              const set = grants.get(params.tid) ?? new Set<string>();
              if (route.method === 'PUT') set.add(params.uid);
              else set.delete(params.uid);
              grants.set(params.tid, set);
            }
            if (where === 'POST /desk/topics') pools.tid.push((JSON.parse(answer.text) as { id: string }).id);
            if (where === 'POST /desk/chats/{cid}/messages') {
              const message = JSON.parse(answer.text) as { id: string; chat_id: string; files: { file: string } | null };
              const entry = ofChat.get(message.chat_id) ?? { mid: [], f: [] };
              entry.mid.push(message.id);
              if (message.files) entry.f.push(message.files.file.split('/').pop()!);
              ofChat.set(message.chat_id, entry);
            }
          }
          return true;
        }),
        { numRuns: CASES, seed: FUZZ_SEED, endOnFailure: true },
      );
      // Still serving.
      const me = await call('GET', '/desk/me', users.customerA.token);
      if (me.status !== 200) findings.add('valid request refused after fuzzing', `${me.status} ${me.text}`);
    } finally {
      await settleThenStopWatching(system, watcher);
    }
    const summary = [...statuses].sort((a, b) => a[0] - b[0]).map(([status, n]) => `${status}×${n}`).join(' ');
    console.log(
      `desk fuzz: ${cases} cases over ${ROUTES.length} routes; statuses ${summary}; ${findings.size} finding(s)` +
        findings.report().map((line) => `\n  ${line}`).join('') +
        `\n  ${succeeded.size} of ${ROUTES.length} routes answered 200 at least once; never: ` +
        ROUTES.map((r) => `${r.method} ${r.path}`).filter((r) => !succeeded.has(r)).join(', '),
    );
    expect(watcher.failures).toEqual([]);
    expect(findings.report()).toEqual([]);
  },
  fuzzTimeoutMs(CASES, 300),
);
