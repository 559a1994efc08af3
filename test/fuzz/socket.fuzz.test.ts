import fc from 'fast-check';
import WebSocket from 'ws';
import { CLOSE } from '../../local/ws-gateway';
import { type SocketClient, TestSystem, type TestUser } from '../support/system';
import { Findings, FUZZ_CASES, FUZZ_SEED, fuzzTimeoutMs, preview, settleThenStopWatching, watchProcessFailures } from './support';

/**
 * Random and malformed frames on the main socket. The oracle is docs/protocol.md ("Client input on the main
 * socket"): `ping` is a no-op; any other text frame up to 32 KB is answered with an `error` event whose
 * text says what is wrong, and the connection stays open; binary frames close with 1003, frames above
 * 32 KB and messages above 128 KB with 1009. After every case the socket (or a new one) still works.
 */

const MAX_FRAME_BYTES = 32 * 1024;

type Frame =
  | { kind: 'text'; text: string; why: string }
  | { kind: 'binary'; bytes: Buffer }
  | { kind: 'invalid-utf8'; bytes: Buffer }
  | { kind: 'fragmented'; fragment: string; count: number };

/** What the gateway must answer to a text frame, computed independently of lambdas/socket/default.ts. */
function expectedAnswer(text: string): { error: string } | 'ping' {
  let frame: unknown;
  try {
    frame = JSON.parse(text);
  } catch {
    return { error: 'invalid JSON data' };
  }
  if (typeof frame !== 'object' || frame === null || Array.isArray(frame)) return { error: 'invalid event: expected {"name", "data"}' };
  const name = (frame as Record<string, unknown>).name;
  if (typeof name !== 'string') return { error: 'invalid event: "name" should be a string' };
  if (name === 'ping') return 'ping';
  return { error: `unknown event '${name.length > 64 ? `${name.slice(0, 64)}...` : name}'` };
}

/** Names that look like routes to a careless router: built-ins, prototype members, API Gateway's own keys. */
const TRICKY_NAMES = [
  'ping', 'PING', ' ping', 'ping ', '$connect', '$disconnect', '$default', 'default', 'connect', 'error', 'message_created',
  'toString', 'constructor', '__proto__', 'hasOwnProperty', 'valueOf', 'isPrototypeOf', 'propertyIsEnumerable',
  'toLocaleString', '__defineGetter__', '__lookupGetter__', 'prototype', '', '\u0000', 'ping\u0000', '🙂', 'a'.repeat(65),
];

const anyJson = fc.jsonValue({ maxDepth: 4 });

const textFrame: fc.Arbitrary<Frame> = fc.oneof(
  { weight: 3, arbitrary: fc.string({ maxLength: 200 }).map((text) => ({ kind: 'text' as const, text, why: 'random string' })) },
  { weight: 2, arbitrary: fc.string({ unit: 'grapheme', maxLength: 100 }).map((text) => ({ kind: 'text' as const, text, why: 'random unicode' })) },
  { weight: 2, arbitrary: anyJson.map((value) => ({ kind: 'text' as const, text: JSON.stringify(value), why: 'random JSON' })) },
  {
    weight: 4,
    arbitrary: fc
      .record({ name: fc.oneof(fc.constantFrom(...TRICKY_NAMES), fc.string({ maxLength: 80 }), anyJson), data: fc.option(anyJson, { nil: undefined }) }, { requiredKeys: [] })
      .map((value) => ({ kind: 'text' as const, text: JSON.stringify(value), why: 'envelope with odd name/data' })),
  },
  {
    weight: 2,
    arbitrary: fc
      .constantFrom('{', '}', '{"name":', '{"name":"ping"', 'null', 'true', '1e999', '-0', '""', '[]', '{}', '{"name":null}', '{"name":1}', '{"name":["ping"]}', '{"name":{"x":1}}', ' ', '\t\n', '\uFEFF{"name":"ping"}', '{"name":"ping","name":"x"}', '{"__proto__":{"name":"ping"}}')
      .map((text) => ({ kind: 'text' as const, text, why: 'malformed constant' })),
  },
  {
    weight: 1,
    arbitrary: fc.integer({ min: 1, max: 16_000 }).map((depth) => ({ kind: 'text' as const, text: '['.repeat(depth) + ']'.repeat(depth), why: `nesting ${depth}` })),
  },
  {
    weight: 1,
    arbitrary: fc.integer({ min: 1, max: 10_000 }).map((depth) => ({ kind: 'text' as const, text: '{"name":'.repeat(depth) + '1' + '}'.repeat(depth), why: `object nesting ${depth}` })),
  },
  {
    weight: 1,
    // Around the 32 KB frame limit, on both sides.
    arbitrary: fc.integer({ min: MAX_FRAME_BYTES - 64, max: MAX_FRAME_BYTES + 64 }).map((size) => ({ kind: 'text' as const, text: JSON.stringify({ name: 'x', data: 'y'.repeat(Math.max(0, size - 22)) }), why: `~${size} bytes` })),
  },
  {
    weight: 1,
    arbitrary: fc.integer({ min: 1, max: 200_000 }).map((size) => ({ kind: 'text' as const, text: 'z'.repeat(size), why: `huge string ${size}` })),
  },
  { weight: 1, arbitrary: fc.uint8Array({ maxLength: 300 }).map((bytes) => ({ kind: 'binary' as const, bytes: Buffer.from(bytes) })) },
  {
    weight: 1,
    arbitrary: fc.constantFrom(Buffer.from([0xff]), Buffer.from([0xc3, 0x28]), Buffer.from('{"name":"\xed\xa0\x80"}', 'latin1'), Buffer.from([0xf0, 0x90, 0x80])).map((bytes) => ({ kind: 'invalid-utf8' as const, bytes })),
  },
  {
    weight: 1,
    // A message of small frames whose total passes 128 KB (each frame is within the 32 KB limit).
    arbitrary: fc.integer({ min: 5, max: 8 }).map((count) => ({ kind: 'fragmented' as const, fragment: 'f'.repeat(30_000), count })),
  },
);

let system: TestSystem;
let user: TestUser;

beforeAll(async () => {
  system = await TestSystem.start();
  user = await system.user();
});
afterAll(() => system?.stop());

/**
 * The events that follow a case, or the close: waits for `count` events, but once one has arrived gives the
 * rest only `graceMs` (a missing answer then costs a short wait, not the whole timeout).
 */
async function collect(client: SocketClient, count: number, timeoutMs = 3000, graceMs = 150): Promise<{ events: Array<{ name: string; data: unknown }>; close?: { code: number } }> {
  const started = Date.now();
  let firstAt: number | undefined;
  for (;;) {
    if (client.events.length > 0) firstAt ??= Date.now();
    const closed = await Promise.race([client.closed, new Promise<undefined>((r) => setTimeout(() => r(undefined), 5))]);
    const now = Date.now();
    if (closed || client.events.length >= count || now - started > timeoutMs || (firstAt !== undefined && now - firstAt > graceMs)) {
      return { events: client.events.splice(0), close: closed };
    }
  }
}

function send(client: SocketClient, frame: Frame): void {
  const socket = client.socket;
  switch (frame.kind) {
    case 'text':
      socket.send(frame.text);
      return;
    case 'binary':
      socket.send(frame.bytes, { binary: true });
      return;
    case 'invalid-utf8':
      socket.send(frame.bytes, { binary: false });
      return;
    case 'fragmented':
      for (let i = 0; i < frame.count; i++) socket.send(frame.fragment, { fin: i === frame.count - 1 });
      return;
  }
}

function describeFrame(frame: Frame): string {
  switch (frame.kind) {
    case 'text':
      return `text (${frame.why}, ${Buffer.byteLength(frame.text)} bytes): ${preview(frame.text, 120)}`;
    case 'binary':
      return `binary frame of ${frame.bytes.length} bytes`;
    case 'invalid-utf8':
      return `text frame with invalid UTF-8 ${frame.bytes.toString('hex')}`;
    case 'fragmented':
      return `message of ${frame.count} frames of ${frame.fragment.length} bytes`;
  }
}

/** What must happen: an error event with this text, nothing (ping), or a close with one of these codes. */
function expectation(frame: Frame): { error: string } | 'ping' | { close: number[] } {
  switch (frame.kind) {
    case 'binary':
      return { close: [CLOSE.UNSUPPORTED_DATA] };
    case 'fragmented':
      return { close: [CLOSE.MESSAGE_TOO_BIG] };
    case 'invalid-utf8':
      // Not in docs/protocol.md: `ws` refuses text frames that are not UTF-8 with 1007 (invalid payload data).
      return { close: [1007] };
    case 'text':
      if (Buffer.byteLength(frame.text) > MAX_FRAME_BYTES) return { close: [CLOSE.MESSAGE_TOO_BIG] };
      return expectedAnswer(frame.text);
  }
}

test(
  `${FUZZ_CASES} random and malformed frames: an error event or the documented close, never a crash (seed ${FUZZ_SEED})`,
  async () => {
    const watcher = watchProcessFailures();
    const findings = new Findings();
    let client = await system.connect(user);
    let cases = 0;
    let reconnects = 0;
    const PROBE = 'not json: probe';
    try {
      await fc.assert(
        fc.asyncProperty(textFrame, async (frame) => {
          cases++;
          const wanted = expectation(frame);
          const label = describeFrame(frame);
          send(client, frame);
          if (wanted !== 'ping' && 'close' in wanted) {
            const outcome = await collect(client, Infinity);
            if (!outcome.close) findings.add(`no close for ${frame.kind}`, `${label} -> ${preview(outcome.events)}`);
            else if (!wanted.close.includes(outcome.close.code)) findings.add(`close ${outcome.close.code} for ${frame.kind}`, `${label}, wanted ${wanted.close}`);
          } else {
            // A probe after every text frame: its answer shows the frame's answer had its chance to arrive
            // (and that a ping answers nothing at all).
            client.send(PROBE);
            const answers = [...(wanted === 'ping' ? [] : [wanted.error]), 'invalid JSON data'];
            const outcome = await collect(client, answers.length);
            const got = outcome.events.map((e) => (e.name === 'error' ? String(e.data) : `event ${e.name}`));
            const same = got.length === answers.length && [...got].sort().every((g, i) => g === [...answers].sort()[i]);
            if (outcome.close) findings.add(`closed (${outcome.close.code}) instead of answering`, label);
            else if (!same) findings.add(`answers ${preview(got, 80)} instead of ${preview(answers, 80)}`, label);
          }
          if (client.socket.readyState !== WebSocket.OPEN) {
            client.socket.terminate();
            client = await system.connect(user);
            reconnects++;
          }
          return true;
        }),
        { numRuns: FUZZ_CASES, seed: FUZZ_SEED, endOnFailure: true },
      );
      // Still serving: the open socket answers, a new socket opens and REST works.
      client.send('{"name":1}');
      expect(await client.next('error')).toBe('invalid event: "name" should be a string');
      const another = await system.connect(user);
      another.send('x');
      expect(await another.next('error')).toBe('invalid JSON data');
      expect((await system.rest('GET', '/users/-1', { as: user })).status).toBe(200);
    } finally {
      client.socket.terminate();
      // Until the work still in flight (handlers, `$disconnect`s) is done, and one turn more for a rejection it
      // left unhandled to be reported; a settle that never comes is a finding too.
      await settleThenStopWatching(system, watcher);
    }
    console.log(`socket fuzz: ${cases} cases, ${reconnects} reconnects, ${findings.size} finding(s)${findings.report().map((line) => `\n  ${line}`).join('')}`);
    expect(watcher.failures).toEqual([]);
    expect(findings.report()).toEqual([]);
  },
  fuzzTimeoutMs(FUZZ_CASES),
);

type Credential = 'none' | 'valid' | 'unknown' | 'garbage' | 'malformed-percent' | 'empty';

const credential = fc.constantFrom<Credential>('none', 'valid', 'unknown', 'garbage', 'malformed-percent', 'empty');
const upgradeCase = fc.record({
  cookie: credential,
  bearer: fc.constantFrom<Credential>('none', 'valid', 'unknown', 'garbage'),
  query: fc.constantFrom<Credential>('none', 'valid', 'unknown', 'garbage', 'empty'),
  status: fc.oneof(fc.constant(undefined), fc.constantFrom('0', '1', '2', '3'), fc.string({ maxLength: 6 })),
});

function tokenFor(kind: Credential): string | undefined {
  switch (kind) {
    case 'none':
      return undefined;
    case 'valid':
      return user.token;
    case 'unknown':
      return '00000000-0000-4000-8000-000000000000';
    case 'garbage':
      return 'not-a-token;,=';
    case 'malformed-percent':
      return '%E0%A4%A';
    case 'empty':
      return '';
  }
}

/** The HTTP status docs/protocol.md promises for an upgrade: 400 for a bad status, 401 for any credential problem. */
function expectedUpgrade(c: { cookie: Credential; bearer: Credential; query: Credential; status?: string }): number {
  if (c.status !== undefined && !/^[0-3]$/.test(c.status)) return 400;
  // Cookie first, then Authorization: Bearer, then ?token= (an empty cookie value counts as absent).
  const used = [c.cookie, c.bearer, c.query].find((kind) => kind !== 'none' && kind !== 'empty');
  return used === 'valid' ? 101 : 401;
}

test(
  `${Math.max(50, Math.round(FUZZ_CASES / 5))} random upgrades: 101, or 401/400 as documented, never a 5xx (seed ${FUZZ_SEED})`,
  async () => {
    const watcher = watchProcessFailures();
    const findings = new Findings();
    try {
      await fc.assert(
        fc.asyncProperty(upgradeCase, async (c) => {
          const headers: Record<string, string> = {};
          const cookie = tokenFor(c.cookie);
          if (cookie !== undefined) headers.cookie = `zavodchat_token=${cookie}`;
          const bearer = tokenFor(c.bearer);
          if (bearer !== undefined) headers.authorization = `Bearer ${bearer}`;
          const params = new URLSearchParams();
          const query = tokenFor(c.query);
          if (query !== undefined) params.set('token', query);
          if (c.status !== undefined) params.set('status', c.status);
          const status = await new Promise<number>((resolve) => {
            const socket = new WebSocket(`${system.runtime.wsUrl}/?${params}`, { headers });
            const timer = setTimeout(() => (socket.terminate(), resolve(0)), 5000);
            socket.once('open', () => (clearTimeout(timer), socket.close(), resolve(101)));
            socket.once('unexpected-response', (_request, response) => (clearTimeout(timer), socket.terminate(), resolve(response.statusCode ?? 0)));
            socket.once('error', () => (clearTimeout(timer), resolve(-1)));
          });
          const wanted = expectedUpgrade(c);
          const label = `cookie ${c.cookie}, bearer ${c.bearer}, ?token ${c.query}, ?status ${JSON.stringify(c.status)}`;
          if (status !== wanted) findings.add(`${status} instead of ${wanted}`, label);
          return true;
        }),
        { numRuns: Math.max(50, Math.round(FUZZ_CASES / 5)), seed: FUZZ_SEED, endOnFailure: true },
      );
    } finally {
      // Until the work still in flight (handlers, `$disconnect`s) is done, and one turn more for a rejection it
      // left unhandled to be reported; a settle that never comes is a finding too.
      await settleThenStopWatching(system, watcher);
    }
    console.log(`upgrade fuzz: ${findings.size} finding(s)${findings.report().map((line) => `\n  ${line}`).join('')}`);
    expect(watcher.failures).toEqual([]);
    expect(findings.report()).toEqual([]);
  },
  fuzzTimeoutMs(FUZZ_CASES),
);
