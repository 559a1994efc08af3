import fc from 'fast-check';
import WebSocket from 'ws';
import { describeMedia } from '../media/support/mediasoup-check';
import { type Fixture, startFixture, tokenOf } from '../media/support/media-node-fixture';
import { VoiceSocket } from '../media/support/voice-socket';
import { Findings, FUZZ_CASES, FUZZ_SEED, fuzzTimeoutMs, preview, watchProcessFailures } from './support';

/**
 * Random and malformed frames on the voice socket (media node, real mediasoup worker). The oracle is
 * docs/upstream.md, "The voice socket" and docs/voice.md: a text frame up to 64 KB gets at most one plain-string `error`
 * (which one follows from the frame alone, below) and the socket stays open; the node only ever sends
 * `offer` and `error`; binary frames close with 1003, larger frames with 1009, text that is not UTF-8 with
 * 1007. After every case the socket (or a new one) still works.
 */

const MAX_MESSAGE_BYTES = 64 * 1024;
const CHANNEL = 10;

type Frame = { kind: 'text'; text: string; why: string } | { kind: 'binary'; bytes: Buffer } | { kind: 'invalid-utf8'; bytes: Buffer };

const isObject = (value: unknown): value is Record<string, unknown> => typeof value === 'object' && value !== null && !Array.isArray(value);
const isFlag = (value: unknown) => value === 0 || value === 1;

/** The error a text frame must get (undefined: none), restated from the protocol, not taken from media-node/. */
function expectedError(text: string): string | undefined {
  let frame: unknown;
  try {
    frame = JSON.parse(text);
  } catch {
    return 'invalid JSON data';
  }
  if (!isObject(frame) || typeof frame.name !== 'string') return 'invalid JSON data';
  const data = frame.data;
  switch (frame.name) {
    case 'offer':
      // A well-formed answer carries SDP the node never offered, so it is refused too.
      return 'invalid answer';
    case 'change_state':
      if (!isObject(data)) return 'invalid JSON data';
      if (data.mute !== undefined && !isFlag(data.mute)) return 'invalid mute state';
      if (data.deaf !== undefined && !isFlag(data.deaf)) return 'invalid deaf state';
      return undefined;
    case 'enable_video': {
      const options = isObject(data) ? data : data === undefined || data === null || data === '' ? {} : undefined;
      if (!options) return 'invalid JSON data';
      const codec = options.codec ?? 'VP8';
      if (codec !== 'VP8' && codec !== 'H264') return 'invalid codec';
      const bitrate = options.bitrate ?? 1;
      if (typeof bitrate !== 'number' || !Number.isSafeInteger(bitrate) || bitrate <= 0) return 'invalid bitrate';
      return undefined;
    }
    case 'disable_video':
    case 'ping':
      return undefined;
    default:
      return `unknown message '${frame.name.slice(0, 64)}'`;
  }
}

const NAMES = ['offer', 'change_state', 'enable_video', 'disable_video', 'ping', 'answer', 'error', 'OFFER', 'toString', '__proto__', 'constructor', '', '🙂', 'x'.repeat(80)];
const anyJson = fc.jsonValue({ maxDepth: 3 });
const flagLike = fc.oneof(fc.constantFrom(0, 1, 2, -1, '0', '1', true, false, null, 0.5), anyJson);

const frames: fc.Arbitrary<Frame> = fc.oneof(
  { weight: 2, arbitrary: fc.string({ maxLength: 200 }).map((text) => ({ kind: 'text' as const, text, why: 'random string' })) },
  { weight: 2, arbitrary: anyJson.map((value) => ({ kind: 'text' as const, text: JSON.stringify(value), why: 'random JSON' })) },
  {
    weight: 4,
    arbitrary: fc
      .record({ name: fc.oneof(fc.constantFrom(...NAMES), fc.string({ maxLength: 80 }), anyJson), data: fc.option(anyJson, { nil: undefined }) }, { requiredKeys: [] })
      .map((value) => ({ kind: 'text' as const, text: JSON.stringify(value), why: 'envelope with odd name/data' })),
  },
  {
    weight: 3,
    arbitrary: fc
      .record({ mute: flagLike, deaf: flagLike }, { requiredKeys: [] })
      .map((data) => ({ kind: 'text' as const, text: JSON.stringify({ name: 'change_state', data }), why: 'change_state' })),
  },
  {
    weight: 3,
    arbitrary: fc
      .oneof(
        fc.record({ codec: fc.oneof(fc.constantFrom('VP8', 'H264', 'vp8', 'AV1', null), anyJson), bitrate: fc.oneof(fc.integer({ min: -5, max: 10_000_000 }), fc.constantFrom(0, 1.5, 1e300, '100', null), anyJson) }, { requiredKeys: [] }),
        fc.constantFrom(undefined, null, '', 0, 'VP8', [] as unknown[]),
      )
      .map((data) => ({ kind: 'text' as const, text: JSON.stringify(data === undefined ? { name: 'enable_video' } : { name: 'enable_video', data }), why: 'enable_video' })),
  },
  {
    weight: 2,
    arbitrary: fc
      .record({ type: fc.oneof(fc.constantFrom('answer', 'offer'), anyJson), sdp: fc.oneof(fc.constantFrom('v=0\r\n', 'v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 100\r\n'), fc.string({ maxLength: 300 }), anyJson) }, { requiredKeys: [] })
      .map((data) => ({ kind: 'text' as const, text: JSON.stringify({ name: 'offer', data }), why: 'answer' })),
  },
  { weight: 1, arbitrary: fc.constantFrom('{"name":"disable_video"}', '{"name":"ping"}', '{"name":"ping","data":""}').map((text) => ({ kind: 'text' as const, text, why: 'valid' })) },
  { weight: 1, arbitrary: fc.integer({ min: 1, max: 8_000 }).map((depth) => ({ kind: 'text' as const, text: '['.repeat(depth) + ']'.repeat(depth), why: `nesting ${depth}` })) },
  {
    weight: 1,
    // Around the 64 KB message limit, on both sides.
    arbitrary: fc.integer({ min: MAX_MESSAGE_BYTES - 64, max: MAX_MESSAGE_BYTES + 64 }).map((size) => ({ kind: 'text' as const, text: JSON.stringify({ name: 'x', data: 'y'.repeat(Math.max(0, size - 22)) }), why: `~${size} bytes` })),
  },
  { weight: 1, arbitrary: fc.uint8Array({ maxLength: 300 }).map((bytes) => ({ kind: 'binary' as const, bytes: Buffer.from(bytes) })) },
  { weight: 1, arbitrary: fc.constantFrom(Buffer.from([0xff]), Buffer.from([0xc3, 0x28]), Buffer.from([0xf0, 0x90, 0x80])).map((bytes) => ({ kind: 'invalid-utf8' as const, bytes })) },
);

function expectation(frame: Frame): { error: string | undefined } | { close: number } {
  if (frame.kind === 'binary') return { close: 1003 };
  if (frame.kind === 'invalid-utf8') return { close: 1007 };
  if (Buffer.byteLength(frame.text) > MAX_MESSAGE_BYTES) return { close: 1009 };
  return { error: expectedError(frame.text) };
}

function describeFrame(frame: Frame): string {
  if (frame.kind === 'text') return `text (${frame.why}, ${Buffer.byteLength(frame.text)} bytes): ${preview(frame.text, 120)}`;
  return `${frame.kind} frame ${frame.bytes.toString('hex').slice(0, 40)}`;
}

const PROBE = 'not json: probe';

/** Waits until the probe's error (the last error expected) arrived or the socket closed; returns what came since `from`. */
async function settle(socket: VoiceSocket, from: number, errors: number, timeoutMs = 5000): Promise<{ frames: Array<{ name: string; data: unknown }>; closed?: { code: number } }> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const closed = await Promise.race([socket.closed, new Promise<undefined>((r) => setTimeout(() => r(undefined), 5))]);
    const frames = socket.frames.slice(from);
    if (closed || frames.filter((f) => f.name === 'error').length >= errors || Date.now() > deadline) return { frames, closed };
  }
}

describeMedia('voice socket fuzzing', {}, () => {
  let fixture: Fixture;

  beforeAll(async () => {
    // Hundreds of frames on one socket: the frame budget (test/media/voice-security.test.ts) is off here.
    fixture = await startFixture({ [CHANNEL]: { serverId: 5 } }, { frameLimit: undefined });
  });
  afterAll(async () => {
    await fixture?.node.stop();
  });

  const open = async () => {
    const socket = await VoiceSocket.open(fixture.node.url, { channel: String(CHANNEL) }, { token: tokenOf(4) });
    await socket.waitFor('offer');
    return socket;
  };

  test(
    `${FUZZ_CASES} random and malformed voice frames: the documented error or close, never a crash (seed ${FUZZ_SEED})`,
    async () => {
      const watcher = watchProcessFailures();
      const findings = new Findings();
      let socket = await open();
      let cases = 0;
      let reopened = 0;
      try {
        await fc.assert(
          fc.asyncProperty(frames, async (frame) => {
            cases++;
            const wanted = expectation(frame);
            const label = describeFrame(frame);
            const from = socket.frames.length;
            if (frame.kind === 'text') socket.ws.send(frame.text);
            else socket.ws.send(frame.bytes, { binary: frame.kind === 'binary' });
            if ('close' in wanted) {
              const { closed } = await settle(socket, from, Infinity);
              if (!closed) findings.add(`no close for ${frame.kind}`, label);
              else if (closed.code !== wanted.close) findings.add(`close ${closed.code} instead of ${wanted.close}`, label);
            } else {
              socket.ws.send(PROBE);
              const errorsWanted = [...(wanted.error === undefined ? [] : [wanted.error]), 'invalid JSON data'];
              const { frames: got, closed } = await settle(socket, from, errorsWanted.length);
              const errors = got.filter((f) => f.name === 'error').map((f) => String(f.data));
              const others = got.filter((f) => f.name !== 'error' && f.name !== 'offer');
              if (closed) findings.add(`closed (${closed.code}) instead of answering`, label);
              // Answers are applied in the peer's queue, so their error may come after the probe's.
              else if (preview([...errors].sort()) !== preview([...errorsWanted].sort())) findings.add(`errors ${preview(errors, 80)} instead of ${preview(errorsWanted, 80)}`, label);
              if (others.length > 0) findings.add(`unexpected frames ${preview(others.map((f) => f.name), 80)}`, label);
            }
            if (socket.ws.readyState !== WebSocket.OPEN) {
              socket.ws.terminate();
              socket = await open();
              reopened++;
            }
            return true;
          }),
          { numRuns: FUZZ_CASES, seed: FUZZ_SEED, endOnFailure: true },
        );
        // Still serving: the open socket answers, and a second user joins the channel and gets an offer.
        const from = socket.frames.length;
        socket.send('dance', {});
        expect((await settle(socket, from, 1)).frames.filter((f) => f.name === 'error').map((f) => f.data)).toEqual(["unknown message 'dance'"]);
        const other = await VoiceSocket.open(fixture.node.url, { channel: String(CHANNEL) }, { token: tokenOf(5) });
        await other.waitFor('offer');
        other.ws.close();
      } finally {
        socket.ws.terminate();
        await new Promise((r) => setTimeout(r, 200));
        watcher.stop();
      }
      console.log(`voice fuzz: ${cases} cases, ${reopened} reopened sockets, ${findings.size} finding(s)${findings.report().map((line) => `\n  ${line}`).join('')}`);
      expect(watcher.failures).toEqual([]);
      expect(findings.report()).toEqual([]);
    },
    fuzzTimeoutMs(FUZZ_CASES),
  );
});
