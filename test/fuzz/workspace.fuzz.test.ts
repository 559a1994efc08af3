import { randomUUID } from 'node:crypto';
import fc from 'fast-check';
import WebSocket from 'ws';
import { CLOSE } from '../../local/ws-gateway';
import { TestSystem, type TestUser } from '../support/system';
import { Findings, FUZZ_CASES, FUZZ_SEED, fuzzTimeoutMs, preview, settleThenStopWatching, watchProcessFailures } from './support';

/**
 * Random, mutated and malformed frames on the workspace (socket.io) socket of seed 003. The oracle is
 * docs/protocol.md (the workspace protocol) ("Refusals and closes", "`auth` and errors"), written here independently of
 * lambdas/protocols/workspace/: a well-formed event is answered with `socket-api-error {event, message}`
 * (plus `socket-api-error-<transaction>` and the ack when it carried them) or `auth-success`; `3`, `6`, acks and
 * events of other namespaces are answered with nothing; `40` with `40{sid}`, `40/x,` with `44/x,{message}`; a
 * close packet, `41`, anything that is not an Engine.IO/Socket.IO packet a v4 WebSocket client sends closes with
 * 1000, binary frames with 1003, frames above 32 KB with 1009. Random strings and mutated packets may get any of
 * these answers, nothing else. After every case a probe event (its scoped error is the barrier) shows the
 * connection still serves, with the right auth state. Two observers (the owner of the fuzzed workspace and the
 * owner of another) must receive nothing but online status updates of users of their own workspace.
 */

const MAX_FRAME_BYTES = 32 * 1024;
const SHOWN_NAME_LIMIT = 64;
/** socket.io-parser refuses these event names as an invalid payload (the Socket.IO v5 reserved events). */
const RESERVED_EVENTS = ['connect', 'connect_error', 'disconnect', 'disconnecting', 'newListener', 'removeListener'];
const DOCUMENTED_CLOSES = [1000, CLOSE.UNSUPPORTED_DATA, CLOSE.MESSAGE_TOO_BIG, 1007];
/**
 * A case costs two probes and, after a close, a new connection (about 0.3 s on the shared 2-core machine):
 * `npm test` runs 60 (seconds, not minutes), `npm run fuzz` its FUZZ_CASES.
 */
const CASES = process.env.FUZZ_CASES !== undefined ? FUZZ_CASES : 60;

const ERR = {
  notAuthenticated: 'Not authenticated: send auth first',
  alreadyAuthenticated: 'Already authenticated: one connection serves one workspace',
  unknownEvent: 'Unknown event',
  invalidData: 'Invalid data: expected an object',
  invalidTransaction: 'Invalid transaction: expected a string of 1 to 128 characters',
  invalidWorkspace: 'Invalid workspaceId: expected a server id as a string',
  invalidOnlineStatus: "Invalid onlineStatus: expected 'online', 'idle' or 'offline'",
  banned: 'User is banned from the server',
  notMember: 'User is not a member of the server',
  unknownWorkspace: 'Server does not exist',
  invalidToken: 'Invalid token',
  expiredToken: 'Expired or invalid token',
};

let system: TestSystem;
let owner: TestUser;
let member: TestUser;
let banned: TestUser;
let outsider: TestUser;
let serverId: number;
let otherServerId: number;

beforeAll(async () => {
  // Pings every second (auto-answered by the clients here): the heartbeat runs while frames are fuzzed.
  system = await TestSystem.start({ workspace: true, env: { WORKSPACE_PING_INTERVAL_MS: '1000', WORKSPACE_PING_TIMEOUT_MS: '5000' } });
  [owner, member, banned, outsider] = [await system.user('Owner'), await system.user('Member'), await system.user('Banned'), await system.user('Outsider')];
  serverId = await system.server(owner, [member, banned], 'fuzz workspace');
  otherServerId = await system.server(outsider, [], 'other workspace');
  expect((await system.rest('POST', `/servers/${serverId}/bans/${banned.id}?expires=never`, { as: owner })).status).toBe(200);
}, 60_000);

afterAll(() => system?.stop());

/** A raw Engine.IO client: answers pings itself, keeps every other frame. */
class Raw {
  readonly frames: string[] = [];
  closeCode?: number;
  readonly closed: Promise<number>;
  private wake?: () => void;

  constructor(readonly socket: WebSocket) {
    socket.on('message', (data, isBinary) => {
      const text = data.toString();
      if (!isBinary && text === '2') {
        if (socket.readyState === WebSocket.OPEN) socket.send('3');
        return;
      }
      this.frames.push(isBinary ? `<binary ${text.length}>` : text);
      this.wake?.();
    });
    socket.on('error', () => undefined);
    this.closed = new Promise((resolve) =>
      socket.on('close', (code) => {
        this.closeCode = code;
        this.wake?.();
        resolve(code);
      }),
    );
  }

  /** Waits until `done(frames)` or the close; false on timeout. */
  async until(done: (frames: string[]) => boolean, timeoutMs = 10_000): Promise<boolean> {
    const deadline = Date.now() + timeoutMs;
    while (!done(this.frames) && this.closeCode === undefined) {
      const left = deadline - Date.now();
      if (left <= 0) return false;
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
    }
    return true;
  }
}

const open: Raw[] = [];

/** Opens a connection, reads the open packet and joins `/`; with `as`, authenticates too. */
async function connect(as?: TestUser, workspace = serverId): Promise<Raw> {
  const raw = new Raw(new WebSocket(`${system.runtime.workspaceUrl}/socket.io/?EIO=4&transport=websocket`));
  open.push(raw);
  if (!(await raw.until((f) => f.length >= 1)) || !raw.frames[0]?.startsWith('0{')) throw new Error(`no open packet: ${preview(raw.frames)} close ${raw.closeCode}`);
  raw.frames.length = 0;
  raw.socket.send('40');
  if (!(await raw.until((f) => f.length >= 1)) || !raw.frames[0].startsWith('40{')) throw new Error(`no namespace connect: ${preview(raw.frames)}`);
  raw.frames.length = 0;
  if (as) {
    raw.socket.send(`42${JSON.stringify(['auth', { token: as.token, workspaceId: String(workspace) }])}`);
    // The user's own presence change may come first (it is fanned out while auth answers).
    if (!(await raw.until((f) => f.some((frame) => frame.startsWith('42["auth-success"'))))) throw new Error(`no auth-success: ${preview(raw.frames)}`);
    raw.frames.length = 0;
  }
  return raw;
}

let probes = 0;
/** Sends a probe event and waits for its scoped error; false when the connection closed or it did not come. */
async function sendProbe(raw: Raw): Promise<{ authed: boolean } | undefined> {
  const transaction = `zz-probe-${++probes}`;
  raw.socket.send(`42${JSON.stringify(['zz-probe', { transaction }])}`);
  const scoped = `42["socket-api-error-${transaction}",`;
  if (!(await raw.until((frames) => frames.some((f) => f.startsWith(scoped))))) return undefined;
  const general = raw.frames.find((f) => f.startsWith('42["socket-api-error",{"event":"zz-probe",'));
  if (general === undefined) return undefined;
  // The probe's answers go; the frames of earlier cases stay for the caller.
  raw.frames.splice(raw.frames.indexOf(general), 1);
  raw.frames.splice(raw.frames.findIndex((f) => f.startsWith(scoped)), 1);
  return { authed: (JSON.parse(general.slice(2)) as [string, { message: string }])[1].message === ERR.unknownEvent };
}

/** Until the workspace gateway has no handler in flight (it runs the frames of one connection concurrently, as API Gateway may). */
async function gatewayIdle(timeoutMs = 10_000): Promise<void> {
  const pending = (system.runtime.workspaceGateway as unknown as { pending: Set<Promise<unknown>> }).pending;
  const deadline = Date.now() + timeoutMs;
  while (pending.size > 0 && Date.now() < deadline) await Promise.race([Promise.allSettled([...pending]), new Promise((resolve) => setTimeout(resolve, 5))]);
}

/**
 * The answers to what was sent before, and whether the connection is authenticated after it: a first probe
 * shows the gateway has read the earlier frames, the idle gateway that their handlers are done, and a second
 * probe's answer comes after every frame those handlers posted. Undefined when the connection closed.
 */
async function probe(raw: Raw, keepPresence = false): Promise<{ before: string[]; authed: boolean } | undefined> {
  if (!(await sendProbe(raw))) return undefined;
  await gatewayIdle();
  const second = await sendProbe(raw);
  if (!second) return undefined;
  const before = raw.frames.splice(0);
  // An authenticated connection also receives its workspace's presence (its own user's too): not answers.
  const presence = (f: string) => [owner, member, outsider].some((u) => f.startsWith(`42["online-status-updated",{"userId":"${u.id}",`));
  return { before: second.authed && !keepPresence ? before.filter((f) => !presence(f)) : before, authed: second.authed };
}

// ---- generators ----------------------------------------------------------------------------------------

type TokenKind = 'member' | 'banned' | 'outsider' | 'unknown' | 'malformed' | 'empty' | 'number' | 'missing';
type WorkspaceKind = 'own' | 'other' | 'unknown' | 'number' | 'zero' | 'leading-zero' | 'garbage' | 'missing';

const transactionArb = fc.oneof(
  { weight: 3, arbitrary: fc.constant(undefined) },
  { weight: 3, arbitrary: fc.string({ minLength: 1, maxLength: 20 }).filter((s) => !s.startsWith('zz-probe')) },
  { weight: 1, arbitrary: fc.constantFrom('', 'x'.repeat(128), 'y'.repeat(129), '🙂'.repeat(64), '🙂'.repeat(65)) },
  { weight: 1, arbitrary: fc.oneof(fc.integer(), fc.boolean(), fc.constant(null), fc.jsonValue({ maxDepth: 2 })) },
);

const authData = fc.record({
  token: fc.constantFrom<TokenKind>('member', 'member', 'banned', 'outsider', 'unknown', 'malformed', 'empty', 'number', 'missing'),
  workspace: fc.constantFrom<WorkspaceKind>('own', 'own', 'other', 'unknown', 'number', 'zero', 'leading-zero', 'garbage', 'missing'),
  onlineStatus: fc.oneof(fc.constant(undefined), fc.constantFrom('online', 'idle', 'offline', 'ONLINE', 'busy', '', 1, null)),
  transaction: transactionArb,
  extra: fc.dictionary(fc.constantFrom('__proto__', 'constructor', 'userId', 'x'), fc.jsonValue({ maxDepth: 1 }), { maxKeys: 2 }),
});
type AuthData = typeof authData extends fc.Arbitrary<infer T> ? T : never;

function tokenValue(kind: TokenKind): unknown {
  switch (kind) {
    case 'member':
      return member.token;
    case 'banned':
      return banned.token;
    case 'outsider':
      return outsider.token;
    case 'unknown':
      return '00000000-0000-4000-8000-000000000000';
    case 'malformed':
      return 'not-a-token';
    case 'empty':
      return '';
    case 'number':
      return 12345;
    case 'missing':
      return undefined;
  }
}

function workspaceValue(kind: WorkspaceKind): unknown {
  switch (kind) {
    case 'own':
      return String(serverId);
    case 'other':
      return String(otherServerId);
    case 'unknown':
      return '999999999';
    case 'number':
      return serverId;
    case 'zero':
      return '0';
    case 'leading-zero':
      return `0${serverId}`;
    case 'garbage':
      return `${serverId}abc`;
    case 'missing':
      return undefined;
  }
}

function authPayload(a: AuthData): Record<string, unknown> {
  // JSON.stringify drops the undefined ones: a missing key.
  return { ...a.extra, token: tokenValue(a.token), workspaceId: workspaceValue(a.workspace), onlineStatus: a.onlineStatus, transaction: a.transaction };
}

/**
 * docs/protocol.md (the workspace protocol), "`auth` and errors": the shape first (transaction, token, workspaceId, onlineStatus),
 * then the session, the workspace, the ban, the membership. Success names the token's user.
 */
function authOutcome(data: Record<string, unknown>): { userId: number } | { message: string } {
  const { transaction: t, token, workspaceId, onlineStatus } = data;
  if (t !== undefined && (typeof t !== 'string' || t.length < 1 || t.length > 128)) return { message: ERR.invalidTransaction };
  if (typeof token !== 'string') return { message: ERR.invalidToken };
  if (typeof workspaceId !== 'string' || !/^[1-9][0-9]{0,14}$/.test(workspaceId)) return { message: ERR.invalidWorkspace };
  if (onlineStatus !== undefined && !['online', 'idle', 'offline'].includes(onlineStatus as string)) return { message: ERR.invalidOnlineStatus };
  if (!/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i.test(token)) return { message: ERR.invalidToken };
  const user = [owner, member, banned, outsider].find((u) => u.token === token);
  if (!user) return { message: ERR.expiredToken };
  const workspace = Number(workspaceId);
  if (workspace !== serverId && workspace !== otherServerId) return { message: ERR.unknownWorkspace };
  if (workspace === serverId && user === banned) return { message: ERR.banned };
  const members = workspace === serverId ? [owner, member] : [outsider];
  if (!members.includes(user)) return { message: ERR.notMember };
  return { userId: user.id };
}

type Frame =
  | { kind: 'event'; name: string; data?: unknown; ackId?: number; why: string }
  | { kind: 'silent'; text: string; why: string }
  | { kind: 'namespace'; nsp: string }
  | { kind: 'close'; text: string; why: string }
  | { kind: 'loose'; text: string; why: string }
  | { kind: 'binary'; bytes: Buffer }
  | { kind: 'big'; text: string };

const anyJson = fc.jsonValue({ maxDepth: 3 });
const ackId = fc.option(fc.nat({ max: 2 ** 31 - 1 }), { nil: undefined, freq: 3 });

const eventName = fc.oneof(
  { weight: 3, arbitrary: fc.constantFrom('join-channel', 'leave-channel', 'message', 'ping', 'AUTH', 'auth ', 'toString', '__proto__', 'constructor', 'hasOwnProperty', 'socket-api-error', 'auth-success', '', '\u0000', '🙂', 'a'.repeat(65)) },
  { weight: 3, arbitrary: fc.string({ maxLength: 80 }) },
  { weight: 1, arbitrary: fc.string({ unit: 'grapheme', maxLength: 30 }) },
);

const frameArb: fc.Arbitrary<Frame> = fc.oneof(
  // The events: auth with every kind of payload, other events with any data, each with or without an ack id.
  { weight: 6, arbitrary: fc.record({ auth: authData, ackId }).map(({ auth, ackId: id }) => ({ kind: 'event' as const, name: 'auth', data: authPayload(auth), ackId: id, why: 'auth' })) },
  { weight: 2, arbitrary: fc.record({ data: fc.oneof(anyJson, fc.constant(undefined)), ackId }).map(({ data, ackId: id }) => ({ kind: 'event' as const, name: 'auth', data, ackId: id, why: 'auth with any data' })) },
  {
    weight: 5,
    arbitrary: fc
      .record({ name: eventName, data: fc.oneof(anyJson, fc.record({ transaction: transactionArb }, { requiredKeys: [] }), fc.constant(undefined)), ackId })
      .map(({ name, data, ackId: id }) => ({ kind: 'event' as const, name, data, ackId: id, why: 'event' })),
  },
  // Answered with nothing.
  {
    weight: 2,
    arbitrary: fc
      .constantFrom('3', '6', '3probe', '431[]', '4312["x"]', '42/other,["auth",{}]', '42/other,1["x"]', '40/other,', '41/other,')
      .map((text) => ({ kind: text.startsWith('40/') ? ('namespace' as const) : ('silent' as const), text, why: 'silent', nsp: '/other' })),
  },
  { weight: 1, arbitrary: fc.string({ minLength: 1, maxLength: 20 }).filter((s) => !s.includes(',')).map((name) => ({ kind: 'namespace' as const, nsp: `/${name}` })) },
  // Documented closes.
  {
    weight: 1,
    arbitrary: fc
      .constantFrom('1', '41', '2', '0', '0{}', '5', '', 'abc', '7', '9', '4', '4abc', '47', '42{"abc"', '42[1,2]', '42[]', '42"x"', '42null', '451-["x",{"_placeholder":true,"num":0}]', '44{"message":"x"}', '43[]', '42["connect"]', '42["disconnect",{}]', '42["newListener"]', '4-1["x"]')
      .map((text) => ({ kind: 'close' as const, text, why: 'closing constant' })),
  },
  { weight: 1, arbitrary: fc.constantFrom(...RESERVED_EVENTS).map((name) => ({ kind: 'close' as const, text: `42${JSON.stringify([name, {}])}`, why: 'reserved event name' })) },
  { weight: 1, arbitrary: fc.integer().map((name) => ({ kind: 'close' as const, text: `42${JSON.stringify([name])}`, why: 'event name not a string' })) },
  // Random text and mutations of valid packets: any documented answer.
  { weight: 3, arbitrary: fc.string({ maxLength: 200 }).map((text) => ({ kind: 'loose' as const, text, why: 'random string' })) },
  { weight: 1, arbitrary: anyJson.map((value) => ({ kind: 'loose' as const, text: `42${JSON.stringify(value)}`, why: 'random JSON payload' })) },
  {
    weight: 3,
    arbitrary: fc
      .record({
        base: fc.constantFrom('40', '42["auth",{"token":"x","workspaceId":"1"}]', '421["zz",{"transaction":"t"}]', '3', '6', '43/x,2[1]', '40/a,{"token":1}', '1'),
        edits: fc.array(fc.record({ at: fc.nat(), op: fc.constantFrom('insert', 'delete', 'replace'), char: fc.constantFrom('0', '1', '2', '3', '4', '5', '/', ',', '[', ']', '{', '}', '"', '-', ' ', '\u0000', 'é', '9') }), { minLength: 1, maxLength: 3 }),
      })
      .map(({ base, edits }) => {
        let text = base;
        for (const edit of edits) {
          const at = text.length === 0 ? 0 : edit.at % (text.length + (edit.op === 'insert' ? 1 : 0));
          if (edit.op === 'insert') text = text.slice(0, at) + edit.char + text.slice(at);
          else if (edit.op === 'delete') text = text.slice(0, at) + text.slice(at + 1);
          else text = text.slice(0, at) + edit.char + text.slice(at + 1);
        }
        return { kind: 'loose' as const, text, why: `mutated ${base}` };
      }),
  },
  { weight: 1, arbitrary: fc.integer({ min: 1, max: 20_000 }).map((depth) => ({ kind: 'loose' as const, text: `42${'['.repeat(depth)}${']'.repeat(depth)}`, why: `nesting ${depth}` })) },
  // Oversized frames (around the limit on both sides) and binary frames.
  {
    weight: 1,
    arbitrary: fc.integer({ min: MAX_FRAME_BYTES - 64, max: MAX_FRAME_BYTES + 64 }).map((size) => {
      const text = `42${JSON.stringify(['zz-big', 'y'.repeat(Math.max(0, size - 15))])}`;
      return Buffer.byteLength(text) > MAX_FRAME_BYTES ? { kind: 'big' as const, text } : { kind: 'event' as const, name: 'zz-big', data: 'y'.repeat(Math.max(0, size - 15)), why: `${Buffer.byteLength(text)} bytes` };
    }),
  },
  { weight: 1, arbitrary: fc.integer({ min: MAX_FRAME_BYTES + 1, max: 300_000 }).map((size) => ({ kind: 'big' as const, text: 'z'.repeat(size) })) },
  { weight: 1, arbitrary: fc.uint8Array({ maxLength: 100 }).map((bytes) => ({ kind: 'binary' as const, bytes: Buffer.from(bytes) })) },
);

function frameText(frame: Frame): string | Buffer {
  switch (frame.kind) {
    case 'event': {
      const args = frame.data === undefined ? [frame.name] : [frame.name, frame.data];
      return `42${frame.ackId ?? ''}${JSON.stringify(args)}`;
    }
    case 'namespace':
      return `40${frame.nsp},`;
    case 'binary':
      return frame.bytes;
    default:
      return frame.text;
  }
}

const shown = (name: string) => (name.length > SHOWN_NAME_LIMIT ? `${name.slice(0, SHOWN_NAME_LIMIT)}...` : name);

/** The exact answer frames of an event on the joined namespace, and whether it authenticates the connection. */
function eventAnswers(frame: Extract<Frame, { kind: 'event' }>, authed: boolean): { frames: string[]; authenticates: boolean } {
  const data = frame.data;
  const t = typeof data === 'object' && data !== null && !Array.isArray(data) ? (data as { transaction?: unknown }).transaction : undefined;
  const transaction = typeof t === 'string' && t.length >= 1 && t.length <= 128 ? t : undefined;
  let outcome: { userId: number } | { message: string };
  if (frame.name !== 'auth') outcome = { message: authed ? ERR.unknownEvent : ERR.notAuthenticated };
  else if (authed) outcome = { message: ERR.alreadyAuthenticated };
  else if (typeof data !== 'object' || data === null || Array.isArray(data)) outcome = { message: ERR.invalidData };
  else outcome = authOutcome(data as Record<string, unknown>);
  const ack = (args: unknown[]) => (frame.ackId === undefined ? [] : [`43${frame.ackId}${JSON.stringify(args)}`]);
  if ('userId' in outcome) {
    const success = { ...(transaction !== undefined ? { transaction } : {}), userId: String(outcome.userId) };
    return { frames: [`42${JSON.stringify(['auth-success', success])}`, ...ack([success])], authenticates: true };
  }
  const message = outcome.message;
  return {
    frames: [
      `42${JSON.stringify(['socket-api-error', { event: shown(frame.name), message }])}`,
      ...(transaction !== undefined ? [`42${JSON.stringify([`socket-api-error-${transaction}`, { message }])}`] : []),
      ...ack([{ error: message }]),
    ],
    authenticates: false,
  };
}

/** Frames any input may be answered with (the loose cases): errors, acks, namespace answers, an auth success. */
function isDocumentedAnswer(frame: string): boolean {
  if (frame.startsWith('40{') || frame.startsWith('44')) return true;
  if (/^43\d+\[/.test(frame)) return true;
  if (!frame.startsWith('42[')) return false;
  try {
    const [name, data] = JSON.parse(frame.slice(2)) as [string, Record<string, unknown>];
    if (name === 'socket-api-error') return typeof data.event === 'string' && typeof data.message === 'string' && Object.keys(data).length === 2;
    if (name.startsWith('socket-api-error-')) return typeof data.message === 'string' && Object.keys(data).length === 1;
    return name === 'auth-success' && [owner, member, outsider].some((u) => data.userId === String(u.id));
  } catch {
    return false;
  }
}

function describe(frame: Frame): string {
  const text = frameText(frame);
  const shownText = typeof text === 'string' ? `${Buffer.byteLength(text)} bytes: ${preview(text, 140)}` : `binary ${text.length} bytes`;
  return `${frame.kind}${'why' in frame ? ` (${frame.why})` : ''}, ${shownText}`;
}

// ---- the test ------------------------------------------------------------------------------------------

test(
  `${CASES} random, mutated and malformed Engine.IO/Socket.IO frames: a socket-api-error or the documented close, never a crash or a leak (seed ${FUZZ_SEED})`,
  async () => {
    const watcher = watchProcessFailures();
    const findings = new Findings();
    // Observers: the workspace's owner, and a user of another workspace.
    const sameWorkspace = await connect(owner);
    const otherWorkspace = await connect(outsider, otherServerId);
    let connections = 0;
    // Every other connection starts authenticated: events before and after auth.
    const fresh = async () => connect(++connections % 2 === 0 ? member : undefined);
    let raw = await fresh();
    let authed = connections % 2 === 0;
    let cases = 0;
    let closes = 0;
    try {
      await fc.assert(
        fc.asyncProperty(fc.noBias(frameArb), async (frame) => {
          cases++;
          const label = `${describe(frame)} [${authed ? 'after' : 'before'} auth]`;
          const text = frameText(frame);
          raw.socket.send(text, { binary: Buffer.isBuffer(text) });
          let wantedClose: number[] | undefined;
          let wantedFrames: string[] | undefined;
          let authenticates = false;
          switch (frame.kind) {
            case 'binary':
              wantedClose = [CLOSE.UNSUPPORTED_DATA];
              break;
            case 'big':
              wantedClose = [CLOSE.MESSAGE_TOO_BIG];
              break;
            case 'close':
              wantedClose = [1000];
              break;
            case 'silent':
              wantedFrames = [];
              break;
            case 'namespace':
              wantedFrames = [frame.nsp === '/' ? '40{' : `44${frame.nsp},${JSON.stringify({ message: 'Invalid namespace' })}`];
              break;
            case 'event':
              ({ frames: wantedFrames, authenticates } = eventAnswers(frame, authed));
              break;
            case 'loose':
              break;
          }
          if (wantedClose) {
            const code = await Promise.race([raw.closed, new Promise<undefined>((resolve) => setTimeout(() => resolve(undefined), 10_000))]);
            if (code === undefined) findings.add(`no close for ${frame.kind}`, `${label} -> ${preview(raw.frames)}`);
            else if (!wantedClose.includes(code)) findings.add(`close ${code} instead of ${wantedClose}`, label);
            else if (raw.frames.length > 0) findings.add(`frames before the close of ${frame.kind}`, `${label} -> ${preview(raw.frames)}`);
          } else {
            const answered = await probe(raw);
            if (!answered) {
              if (raw.closeCode === undefined) findings.add(`the probe after ${frame.kind} got no answer`, `${label} -> ${preview(raw.frames)}`);
              else if (frame.kind !== 'loose') findings.add(`closed (${raw.closeCode}) instead of answering ${frame.kind}`, label);
              else if (!DOCUMENTED_CLOSES.includes(raw.closeCode)) findings.add(`undocumented close ${raw.closeCode}`, label);
            } else {
              const nowAuthed = authed || authenticates || (frame.kind === 'loose' && answered.before.some((f) => f.startsWith('42["auth-success"')));
              if (answered.authed !== nowAuthed) findings.add(`auth state ${answered.authed} after ${frame.kind}, wanted ${nowAuthed}`, label);
              authed = answered.authed;
              if (wantedFrames) {
                const got = answered.before;
                const same = got.length === wantedFrames.length && got.every((f, i) => (wantedFrames![i] === '40{' ? f.startsWith('40{"sid":"') : f === wantedFrames![i]));
                if (!same) findings.add(`answers to ${frame.kind} ${frame.kind === 'event' ? `'${frame.name === 'auth' ? 'auth' : 'other'}'` : ''} differ`, `${label} -> ${preview(got, 200)}, wanted ${preview(wantedFrames, 200)}`);
              } else {
                const bad = answered.before.filter((f) => !isDocumentedAnswer(f));
                if (bad.length > 0) findings.add('undocumented answer to a loose frame', `${label} -> ${preview(bad, 200)}`);
              }
            }
          }
          if (raw.socket.readyState !== WebSocket.OPEN || raw.closeCode !== undefined) {
            closes++;
            raw.socket.terminate();
            raw = await fresh();
            authed = connections % 2 === 0;
          }
          return true;
        }),
        { numRuns: CASES, seed: FUZZ_SEED, endOnFailure: true },
      );
      // Still serving: the observers' connections answer, and a new socket.io connection authenticates.
      for (const [name, observer, allowed] of [
        ['a member of the same workspace', sameWorkspace, (f: string) => f.startsWith(`42["online-status-updated",{"userId":"${member.id}",`)],
        ['a user of another workspace', otherWorkspace, (f: string) => f.startsWith(`42["online-status-updated",{"userId":"${outsider.id}",`)],
      ] as const) {
        const answered = await probe(observer, true);
        if (!answered) findings.add(`observer (${name}) no longer answers`, `close ${observer.closeCode}`);
        else {
          const leaked = answered.before.filter((f) => !allowed(f));
          if (leaked.length > 0) findings.add(`observer (${name}) received what it should not`, preview(leaked, 300));
          if (!answered.authed) findings.add(`observer (${name}) lost its auth`, '');
        }
      }
      await connect(member);
    } finally {
      for (const connection of open.splice(0)) connection.socket.terminate();
      await settleThenStopWatching(system, watcher);
    }
    console.log(`workspace fuzz: ${cases} cases, ${closes} closes, ${findings.size} finding(s)${findings.report().map((line) => `\n  ${line}`).join('')}`);
    expect(watcher.failures).toEqual([]);
    expect(findings.report()).toEqual([]);
  },
  fuzzTimeoutMs(CASES, 400),
);

type Upgrade = { eio?: string; transport?: string; extra: string; path: string };
const upgradeArb: fc.Arbitrary<Upgrade> = fc.record({
  eio: fc.oneof(fc.constant(undefined), fc.constantFrom('4', '3', '5', '', '4.0', ' 4', 'abc', '04'), fc.string({ maxLength: 4 })),
  transport: fc.oneof(fc.constant(undefined), fc.constantFrom('websocket', 'polling', 'WebSocket', '', 'webtransport'), fc.string({ maxLength: 10 })),
  extra: fc.constantFrom('', '&sid=abc', '&t=123', '&b64=1', `&token=${randomUUID()}`),
  path: fc.constantFrom('/socket.io/', '/socket.io/', '/', '/other/'),
});

test(
  `${Math.max(50, Math.round(CASES / 5))} random handshakes: 101 or the documented HTTP 400 {code, message}, never a 5xx (seed ${FUZZ_SEED})`,
  async () => {
    const watcher = watchProcessFailures();
    const findings = new Findings();
    try {
      await fc.assert(
        fc.asyncProperty(upgradeArb, async (u) => {
          const params = new URLSearchParams();
          if (u.eio !== undefined) params.set('EIO', u.eio);
          if (u.transport !== undefined) params.set('transport', u.transport);
          const url = `${system.runtime.workspaceUrl}${u.path}?${params}${u.extra}`;
          const outcome = await new Promise<{ status: number; body: string }>((resolve) => {
            const socket = new WebSocket(url);
            const timer = setTimeout(() => (socket.terminate(), resolve({ status: 0, body: 'timeout' })), 10_000);
            socket.once('open', () => (clearTimeout(timer), socket.close(), resolve({ status: 101, body: '' })));
            socket.once('unexpected-response', (_request, response) => {
              let body = '';
              response.on('data', (chunk: Buffer) => (body += chunk.toString()));
              response.on('end', () => (clearTimeout(timer), socket.terminate(), resolve({ status: response.statusCode ?? 0, body })));
            });
            socket.once('error', () => (clearTimeout(timer), resolve({ status: -1, body: 'error' })));
          });
          // docs/protocol.md (the workspace protocol): transport first, then EIO (the path is not checked: API Gateway has none).
          const wanted =
            u.transport !== 'websocket'
              ? { status: 400, body: JSON.stringify({ code: 0, message: 'Transport unknown' }) }
              : u.eio !== '4'
                ? { status: 400, body: JSON.stringify({ code: 5, message: 'Unsupported protocol version' }) }
                : { status: 101, body: '' };
          if (outcome.status !== wanted.status || outcome.body !== wanted.body) findings.add(`${outcome.status} instead of ${wanted.status}`, `${url} -> ${preview(outcome.body)}`);
          return true;
        }),
        { numRuns: Math.max(50, Math.round(CASES / 5)), seed: FUZZ_SEED, endOnFailure: true },
      );
    } finally {
      await settleThenStopWatching(system, watcher);
    }
    console.log(`workspace handshake fuzz: ${findings.size} finding(s)${findings.report().map((line) => `\n  ${line}`).join('')}`);
    expect(watcher.failures).toEqual([]);
    expect(findings.report()).toEqual([]);
  },
  fuzzTimeoutMs(CASES),
);
