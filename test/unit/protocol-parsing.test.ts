import { extractToken, isUuid, readCookie } from '../../lambdas/domain/sessions';
import { isExpired, parseExpiry } from '../../lambdas/domain/time';
import { normalizePath } from '../../lambdas/rest/http';
import { describeBadInput } from '../../lambdas/socket/default';
import { FrameSizeGuard } from '../../local/frame-guard';

describe('credentials', () => {
  test('the session cookie is found among others, in one header or several', () => {
    expect(readCookie('a=1; zavodchat_token=abc; b=2', 'zavodchat_token')).toBe('abc');
    expect(readCookie(['a=1', 'zavodchat_token=def'], 'zavodchat_token')).toBe('def');
    expect(readCookie('not_zavodchat_token=x', 'zavodchat_token')).toBeUndefined();
  });

  test('cookie, then Bearer, then ?token=', () => {
    expect(extractToken({ cookie: 'zavodchat_token=c', authorization: 'Bearer b', queryToken: 'q' })).toBe('c');
    expect(extractToken({ authorization: 'Bearer b', queryToken: 'q' })).toBe('b');
    expect(extractToken({ authorization: 'Basic xyz', queryToken: 'q' })).toBe('q');
    expect(extractToken({})).toBeUndefined();
    expect(isUuid('3c3beb77-b54a-4733-8c5d-acd7b2680241')).toBe(true);
    expect(isUuid('3c3beb77')).toBe(false);
  });
});

describe('expiry timestamps', () => {
  test('never, ISO with Z, PostgreSQL style with offset', () => {
    expect(parseExpiry('never')).toBe('never');
    expect(parseExpiry('2026-01-09T03:05:30.623Z')).toBe('2026-01-09T03:05:30.623Z');
    expect(parseExpiry('2024-11-13 12:50:15+03')).toBe('2024-11-13T09:50:15.000Z');
    expect(parseExpiry('2024-11-13T12:50:15+05:30')).toBe('2024-11-13T07:20:15.000Z');
  });

  test('refuses what has no time zone or is not a date', () => {
    expect(parseExpiry('2024-11-13 12:50:15')).toBeNull();
    expect(parseExpiry('tomorrow')).toBeNull();
    expect(parseExpiry('2024-13-45T99:00:00Z')).toBeNull();
  });

  test('never does not expire', () => {
    expect(isExpired('never')).toBe(false);
    expect(isExpired('2000-01-01T00:00:00.000Z')).toBe(true);
  });
});

describe('paths and socket input', () => {
  test('doubled and trailing slashes are tolerated', () => {
    expect(normalizePath('//user_status')).toBe('/user_status');
    expect(normalizePath('/servers/1/roles/')).toBe('/servers/1/roles');
    expect(normalizePath('/')).toBe('/');
  });

  test('bad main-socket input is described', () => {
    expect(describeBadInput('{')).toBe('invalid JSON data');
    expect(describeBadInput(null)).toBe('invalid JSON data');
    expect(describeBadInput('"text"')).toBe('invalid event: expected {"name", "data"}');
    expect(describeBadInput('{"name":[]}')).toBe('invalid event: "name" should be a string');
    expect(describeBadInput(`{"name":"${'n'.repeat(100)}"}`)).toBe(`unknown event '${'n'.repeat(64)}...'`);
  });
});

describe('FrameSizeGuard', () => {
  /** A masked client frame header for a payload of `length` bytes, followed by the payload. */
  function frame(length: number): Buffer {
    const header =
      length < 126
        ? Buffer.from([0x81, 0x80 | length])
        : length < 65536
          ? Buffer.from([0x81, 0x80 | 126, length >> 8, length & 0xff])
          : Buffer.concat([Buffer.from([0x81, 0x80 | 127]), (() => { const b = Buffer.alloc(8); b.writeBigUInt64BE(BigInt(length)); return b; })()]);
    return Buffer.concat([header, Buffer.alloc(4), Buffer.alloc(length, 0x61)]);
  }

  test('passes frames up to the limit, split anywhere across chunks', () => {
    const tripped: number[] = [];
    const guard = new FrameSizeGuard(1000, (n) => tripped.push(n));
    const stream = Buffer.concat([frame(10), frame(1000), frame(200), frame(0)]);
    for (let at = 0; at < stream.length; at += 7) guard.push(stream.subarray(at, at + 7));
    expect(tripped).toEqual([]);
  });

  test('reports the first frame above the limit, with 16- and 64-bit lengths', () => {
    for (const size of [1001, 70_000]) {
      const tripped: number[] = [];
      const guard = new FrameSizeGuard(1000, (n) => tripped.push(n));
      guard.push(Buffer.concat([frame(5), frame(size).subarray(0, 20)]));
      expect(tripped).toEqual([size]);
    }
  });
});
