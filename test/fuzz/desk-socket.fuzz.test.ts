import { randomUUID } from 'node:crypto';
import fc from 'fast-check';
import WebSocket from 'ws';
import { CLOSE } from '../../local/ws-gateway';
import { unsignedToken } from '../support/oidc-issuer';
import { RealProvider } from '../support/oidc-provider';
import { TestSystem, type TestUser } from '../support/system';
import { Findings, FUZZ_CASES, FUZZ_SEED, fuzzTimeoutMs, preview, settleThenStopWatching, watchProcessFailures } from './support';

/**
 * The desk socket of seed 004 (docs/desk.md, "Socket"), fuzzed: random upgrades (tokens of a real OpenID
 * provider and bad ones, in `?token=` or `Authorization`, on `/connect/` and other paths) must open or be
 * refused with the documented status and text, never a 5xx; random frames on an open connection (the socket
 * takes no client events but our keepalive `{"event_type": "ping"}`, answered with one pong) must each be
 * answered with exactly one `{"event_type": "error", "data": {"message"}}` and leave the connection open, or be closed as the gateway documents (binary 1003, above 32 KB 1009, not
 * UTF-8 1007). Observers (a curator and another customer) receive nothing but curators' `user_status`.
 */

const MAX_FRAME_BYTES = 32 * 1024;
/** About 0.3 s a case on the shared 2-core machine: `npm test` runs 60, `npm run fuzz` its FUZZ_CASES. */
const CASES = process.env.FUZZ_CASES !== undefined ? FUZZ_CASES : 60;

let provider: RealProvider;
let system: TestSystem;
let zavodchat: TestUser;
const tokens = {} as Record<'customer' | 'curator' | 'other' | 'otherAudience' | 'unsigned' | 'tampered', string>;

beforeAll(async () => {
  provider = await RealProvider.start();
  system = await TestSystem.start({ desk: true, env: { DESK_OIDC_ISSUER: provider.issuer, DESK_OIDC_AUDIENCE: provider.audience } });
  zavodchat = await system.user();
  const sub = randomUUID();
  tokens.customer = await provider.token({ sub, name: 'customer' });
  tokens.curator = await provider.token({ sub: randomUUID(), name: 'curator', roles: ['curator'] });
  tokens.other = await provider.token({ sub: randomUUID(), name: 'other customer' });
  tokens.otherAudience = await provider.token({ sub, roles: ['desk-admin'] }, provider.otherAudience);
  const [header, payload, signature] = tokens.customer.split('.');
  const claims = JSON.parse(Buffer.from(payload, 'base64url').toString()) as Record<string, unknown>;
  tokens.unsigned = unsignedToken(claims);
  tokens.tampered = `${header}.${Buffer.from(JSON.stringify({ ...claims, sub: randomUUID() })).toString('base64url')}.${signature}`;
}, 120_000);

afterAll(async () => {
  await system?.stop();
  await provider?.stop();
});

/** A raw desk client keeping every frame (server frames are JSON), and the close code. */
class Raw {
  readonly frames: Array<{ event_type: string; data: any }> = [];
  closeCode?: number;
  private wake?: () => void;
  constructor(readonly socket: WebSocket) {
    socket.on('message', (data) => {
      let frame: { event_type: string; data: any };
      try {
        frame = JSON.parse(data.toString());
      } catch {
        frame = { event_type: '<not JSON>', data: data.toString() };
      }
      this.frames.push(frame);
      this.wake?.();
    });
    socket.on('error', () => undefined);
    socket.on('close', (code) => {
      this.closeCode = code;
      this.wake?.();
    });
  }

  async until(done: () => boolean, timeoutMs = 10_000): Promise<boolean> {
    const deadline = Date.now() + timeoutMs;
    while (!done() && this.closeCode === undefined) {
      const left = deadline - Date.now();
      if (left <= 0) return false;
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.wake = () => (clearTimeout(timer), resolve());
      });
    }
    return done();
  }
}

/** `ws://host:port` of the desk socket (the runtime's deskUrl names the path `/connect/` too). */
function deskOrigin(): string {
  const url = new URL(system.runtime.deskUrl!);
  return `${url.protocol}//${url.host}`;
}

const opened: Raw[] = [];
function open(token: string): Promise<Raw> {
  return new Promise((resolve, reject) => {
    const socket = new WebSocket(`${deskOrigin()}/connect/?token=${encodeURIComponent(token)}`);
    const raw = new Raw(socket);
    opened.push(raw);
    socket.once('open', () => resolve(raw));
    socket.once('unexpected-response', (_request, response) => reject(new Error(`desk upgrade refused: ${response.statusCode}`)));
  });
}

let markers = 0;
/** A marker frame and its answer: the gateway has read everything sent before. Consumes the answer. */
async function marker(raw: Raw): Promise<boolean> {
  const name = `zz-marker-${++markers}`;
  raw.socket.send(JSON.stringify({ event_type: name }));
  const answered = (f: { event_type: string; data: any }) => f.event_type === 'error' && typeof f.data?.message === 'string' && f.data.message.includes(`'${name}'`);
  if (!(await raw.until(() => raw.frames.some(answered)))) return false;
  raw.frames.splice(raw.frames.findIndex(answered), 1);
  return true;
}

async function deskIdle(timeoutMs = 10_000): Promise<void> {
  const pending = (system.runtime.deskGateway as unknown as { pending: Set<Promise<unknown>> }).pending;
  const deadline = Date.now() + timeoutMs;
  while (pending.size > 0 && Date.now() < deadline) await Promise.race([Promise.allSettled([...pending]), new Promise((resolve) => setTimeout(resolve, 5))]);
}

/**
 * Everything the earlier frames caused: a marker shows they were read, the idle gateway that their handlers
 * are done (it runs a connection's frames concurrently, as API Gateway may), a second marker's answer comes
 * after all they posted. Undefined when the connection closed.
 */
async function answers(raw: Raw): Promise<Array<{ event_type: string; data: any }> | undefined> {
  if (!(await marker(raw))) return undefined;
  await deskIdle();
  if (!(await marker(raw))) return undefined;
  return raw.frames.splice(0);
}

/** A JSON object whose `event_type` is `ping`. */
function isPing(text: string): boolean {
  try {
    const value = JSON.parse(text) as unknown;
    return typeof value === 'object' && value !== null && !Array.isArray(value) && (value as { event_type?: unknown }).event_type === 'ping';
  } catch {
    return false;
  }
}

type Frame = { kind: 'text'; text: string; why: string } | { kind: 'binary'; bytes: Buffer } | { kind: 'invalid-utf8'; bytes: Buffer };

const anyJson = fc.jsonValue({ maxDepth: 3 });
const frameArb: fc.Arbitrary<Frame> = fc.oneof(
  { weight: 3, arbitrary: fc.string({ maxLength: 200 }).map((text) => ({ kind: 'text' as const, text, why: 'random string' })) },
  { weight: 2, arbitrary: anyJson.map((value) => ({ kind: 'text' as const, text: JSON.stringify(value), why: 'random JSON' })) },
  {
    weight: 4,
    arbitrary: fc
      .record(
        {
          event_type: fc.oneof(fc.constantFrom('new_message', 'user_status', 'error', 'ping', 'toString', '__proto__', 'constructor', '', '🙂', 'a'.repeat(200)), fc.string({ maxLength: 60 }), anyJson),
          data: anyJson,
          name: fc.constantFrom('ping', 'x'),
        },
        { requiredKeys: [] },
      )
      .map((value) => ({ kind: 'text' as const, text: JSON.stringify(value), why: 'envelope' })),
  },
  {
    weight: 1,
    arbitrary: fc.constantFrom('{', 'null', '[]', '{}', '""', '1e999', '{"event_type":null}', '{"__proto__":{"event_type":"x"}}', ' ', '\uFEFF{}').map((text) => ({ kind: 'text' as const, text, why: 'malformed' })),
  },
  { weight: 1, arbitrary: fc.integer({ min: 1, max: 10_000 }).map((depth) => ({ kind: 'text' as const, text: '['.repeat(depth) + ']'.repeat(depth), why: `nesting ${depth}` })) },
  { weight: 1, arbitrary: fc.integer({ min: MAX_FRAME_BYTES - 32, max: MAX_FRAME_BYTES + 32 }).map((size) => ({ kind: 'text' as const, text: 'y'.repeat(size), why: `${size} bytes` })) },
  { weight: 1, arbitrary: fc.uint8Array({ maxLength: 100 }).map((bytes) => ({ kind: 'binary' as const, bytes: Buffer.from(bytes) })) },
  { weight: 1, arbitrary: fc.constantFrom(Buffer.from([0xff]), Buffer.from([0xc3, 0x28]), Buffer.from([0xf0, 0x90, 0x80])).map((bytes) => ({ kind: 'invalid-utf8' as const, bytes })) },
);

test(
  `${CASES} random frames on the desk socket: one error answer each or the documented close, observers see nothing (seed ${FUZZ_SEED})`,
  async () => {
    const watcher = watchProcessFailures();
    const findings = new Findings();
    const curator = await open(tokens.curator);
    const other = await open(tokens.other);
    let raw = await open(tokens.customer);
    let cases = 0;
    let closes = 0;
    try {
      await fc.assert(
        fc.asyncProperty(frameArb, async (frame) => {
          cases++;
          const label = frame.kind === 'text' ? `text (${frame.why}, ${Buffer.byteLength(frame.text)} bytes): ${preview(frame.text, 120)}` : `${frame.kind} ${frame.bytes.toString('hex')}`;
          if (frame.kind === 'text') raw.socket.send(frame.text);
          else raw.socket.send(frame.bytes, { binary: frame.kind === 'binary' });
          const wantedClose = frame.kind === 'binary' ? CLOSE.UNSUPPORTED_DATA : frame.kind === 'invalid-utf8' ? 1007 : Buffer.byteLength(frame.text) > MAX_FRAME_BYTES ? CLOSE.MESSAGE_TOO_BIG : undefined;
          if (wantedClose !== undefined) {
            await raw.until(() => false, 10_000);
            if (raw.closeCode !== wantedClose) findings.add(`close ${raw.closeCode} instead of ${wantedClose}`, label);
          } else {
            const got = await answers(raw);
            if (!got) findings.add(`closed (${raw.closeCode}) or no marker answer after a text frame`, label);
            else {
              if (frame.kind === 'text' && isPing(frame.text)) {
                // Our keepalive (docs/desk.md, "Frames"): `{"event_type": "ping"}` is answered with a pong.
                if (got.length !== 1 || got[0].event_type !== 'pong' || JSON.stringify(got[0].data) !== '{}') findings.add('no single pong for a ping', `${label} -> ${preview(got, 200)}`);
              } else {
                const errors = got.filter((f) => f.event_type === 'error' && typeof f.data?.message === 'string' && Object.keys(f.data).length === 1);
                if (errors.length !== 1 || got.length !== 1) findings.add(`${got.length} frames (${errors.length} errors) instead of one error`, `${label} -> ${preview(got, 200)}`);
              }
            }
          }
          if (raw.closeCode !== undefined || raw.socket.readyState !== WebSocket.OPEN) {
            closes++;
            raw.socket.terminate();
            raw = await open(tokens.customer);
          }
          return true;
        }),
        { numRuns: CASES, seed: FUZZ_SEED, endOnFailure: true },
      );
      for (const [name, observer, allowed] of [
        ['a curator', curator, (f: { event_type: string }) => f.event_type === 'user_status'],
        ['another customer', other, () => false],
      ] as const) {
        const got = await answers(observer);
        if (!got) findings.add(`observer (${name}) no longer answers`, `close ${observer.closeCode}`);
        else if (got.some((f) => !allowed(f))) findings.add(`observer (${name}) received what it should not`, preview(got.filter((f) => !allowed(f)), 300));
      }
    } finally {
      for (const connection of opened.splice(0)) connection.socket.terminate();
      await settleThenStopWatching(system, watcher);
    }
    console.log(`desk socket fuzz: ${cases} cases, ${closes} closes, ${findings.size} finding(s)${findings.report().map((line) => `\n  ${line}`).join('')}`);
    expect(watcher.failures).toEqual([]);
    expect(findings.report()).toEqual([]);
  },
  fuzzTimeoutMs(CASES, 400),
);

type TokenKind = 'customer' | 'curator' | 'none' | 'empty' | 'garbage' | 'otherAudience' | 'unsigned' | 'tampered' | 'zavodchat';
const upgradeArb = fc.record({
  token: fc.constantFrom<TokenKind>('customer', 'curator', 'none', 'empty', 'garbage', 'otherAudience', 'unsigned', 'tampered', 'zavodchat'),
  via: fc.constantFrom('query', 'bearer', 'lowercase-bearer'),
  path: fc.oneof({ weight: 6, arbitrary: fc.constantFrom('/connect/', '/connect') }, { weight: 1, arbitrary: fc.constantFrom('/', '/connect/x', '/connec', '/socket.io/', '/CONNECT/') }),
  extra: fc.constantFrom('', 'x=1', 'event_type=new_message'),
});

function tokenOf(kind: TokenKind): string | undefined {
  switch (kind) {
    case 'none':
      return undefined;
    case 'empty':
      return '';
    case 'garbage':
      return 'not.a.jwt';
    case 'zavodchat':
      return zavodchat.token;
    default:
      return tokens[kind];
  }
}

test(
  `${Math.max(50, Math.round(CASES / 3))} random desk upgrades: 101, or the documented refusal, never a 5xx (seed ${FUZZ_SEED})`,
  async () => {
    const watcher = watchProcessFailures();
    const findings = new Findings();
    try {
      await fc.assert(
        fc.asyncProperty(upgradeArb, async (u) => {
          const token = tokenOf(u.token);
          const headers: Record<string, string> = {};
          const params = new URLSearchParams(u.extra);
          if (token !== undefined && u.via === 'query') params.set('token', token);
          if (token !== undefined && u.via !== 'query') headers.authorization = `${u.via === 'bearer' ? 'Bearer' : 'bearer'} ${token}`;
          const url = `${deskOrigin()}${u.path}${params.size > 0 ? `?${params}` : ''}`;
          const outcome = await new Promise<{ status: number; body: string }>((resolve) => {
            const socket = new WebSocket(url, { headers });
            const timer = setTimeout(() => (socket.terminate(), resolve({ status: 0, body: 'timeout' })), 10_000);
            socket.once('open', () => (clearTimeout(timer), socket.close(), resolve({ status: 101, body: '' })));
            socket.once('unexpected-response', (_request, response) => {
              let body = '';
              response.on('data', (chunk: Buffer) => (body += chunk.toString()));
              response.on('end', () => (clearTimeout(timer), socket.terminate(), resolve({ status: response.statusCode ?? 0, body })));
            });
            socket.once('error', () => (clearTimeout(timer), resolve({ status: -1, body: 'error' })));
          });
          const label = `${u.path} token ${u.token} via ${u.via} extra '${u.extra}'`;
          const validPath = u.path === '/connect/' || u.path === '/connect';
          const valid = u.token === 'customer' || u.token === 'curator';
          const present = token !== undefined && token !== '';
          // An empty credential may read as missing or as invalid; `bearer` in lower case as the scheme or not.
          const refusals = present ? ['Invalid or expired token'] : ['Missing token', 'Invalid or expired token'];
          if (outcome.status >= 500 || outcome.status <= 0) findings.add(`${outcome.status} on an upgrade`, `${label} -> ${preview(outcome.body)}`);
          else if (!validPath) {
            if (outcome.status !== 404) findings.add(`${outcome.status} instead of 404 on another path`, label);
          } else if (valid && outcome.status !== 101 && !(u.via === 'lowercase-bearer' && outcome.status === 401)) findings.add(`${outcome.status} instead of 101 for a valid token`, `${label} -> ${preview(outcome.body)}`);
          else if (!valid && !(outcome.status === 401 && refusals.includes(outcome.body))) {
            findings.add(`${outcome.status} '${preview(outcome.body, 60)}' for a ${present ? 'bad' : 'missing'} token`, label);
          }
          return true;
        }),
        { numRuns: Math.max(50, Math.round(CASES / 3)), seed: FUZZ_SEED, endOnFailure: true },
      );
    } finally {
      await settleThenStopWatching(system, watcher);
    }
    console.log(`desk upgrade fuzz: ${findings.size} finding(s)${findings.report().map((line) => `\n  ${line}`).join('')}`);
    expect(watcher.failures).toEqual([]);
    expect(findings.report()).toEqual([]);
  },
  fuzzTimeoutMs(CASES),
);
