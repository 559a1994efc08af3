import { settingsFromEnv } from '../../lambdas/domain/config';
import { judgeOrigin, parseAllowedOrigins, sessionCookieSameSite } from '../../lambdas/domain/origins';

describe('allowed origins (CORS_ORIGINS)', () => {
  test('entries are normalised as browsers send origins; entries that are no origin match nothing', () => {
    expect(parseAllowedOrigins(' https://Chat.Example.com/ ,http://localhost:5173/app,https://a.example:443,*')).toEqual([
      'https://chat.example.com',
      'http://localhost:5173',
      'https://a.example',
      '*',
    ]);
  });

  test('Origin first, then Referer; none at all is `absent`; `null` and garbage are foreign', () => {
    const allowed = ['https://chat.example.com'];
    expect(judgeOrigin({ origin: 'https://chat.example.com' }, allowed)).toBe('allowed');
    expect(judgeOrigin({ referer: 'https://chat.example.com/servers/1?x' }, allowed)).toBe('allowed');
    expect(judgeOrigin({ origin: 'https://evil.example', referer: 'https://chat.example.com/' }, allowed)).toBe('foreign');
    expect(judgeOrigin({ origin: 'null' }, allowed)).toBe('foreign');
    expect(judgeOrigin({ origin: 'https://chat.example.com.evil.example' }, allowed)).toBe('foreign');
    expect(judgeOrigin({ origin: 'http://chat.example.com' }, allowed)).toBe('foreign');
    expect(judgeOrigin({ referer: '::garbage' }, allowed)).toBe('foreign');
    expect(judgeOrigin({ origin: '*' }, ['*'])).toBe('foreign');
    expect(judgeOrigin({}, allowed)).toBe('absent');
    expect(judgeOrigin({ origin: ' ' }, allowed)).toBe('absent');
  });
});

describe('session cookie SameSite', () => {
  const rest = { host: 'api.chat.example.com', scheme: 'https' };
  test('Lax on the same site (same host, or both under COOKIE_DOMAIN, same scheme); None across sites or schemes', () => {
    expect(sessionCookieSameSite({ ...rest, origin: 'https://api.chat.example.com' })).toBe('Lax');
    expect(sessionCookieSameSite({ ...rest, origin: 'https://chat.example.com', cookieDomain: 'chat.example.com' })).toBe('Lax');
    expect(sessionCookieSameSite({ ...rest, origin: 'https://web.chat.example.com', cookieDomain: '.chat.example.com' })).toBe('Lax');
    // Without COOKIE_DOMAIN the registrable domain is unknown: errs towards None.
    expect(sessionCookieSameSite({ ...rest, origin: 'https://chat.example.com' })).toBe('None');
    expect(sessionCookieSameSite({ ...rest, origin: 'https://client.example.net', cookieDomain: 'chat.example.com' })).toBe('None');
    expect(sessionCookieSameSite({ ...rest, origin: 'http://api.chat.example.com' })).toBe('None');
    expect(sessionCookieSameSite({ host: 'localhost:8443', scheme: 'http', origin: 'http://localhost:5173' })).toBe('Lax');
    expect(sessionCookieSameSite({ host: 'localhost:8443', scheme: 'http', origin: 'https://localhost:5173' })).toBe('None');
    expect(sessionCookieSameSite({ host: 'localhost:8443', origin: 'http://localhost:5173' })).toBe('None');
    expect(sessionCookieSameSite({ ...rest })).toBe('Lax');
  });

  test('COOKIE_SAMESITE overrides the choice; anything but Lax, Strict, None or auto is refused', () => {
    const setting = settingsFromEnv({ COOKIE_SAMESITE: 'none' }).cookieSameSite;
    expect(setting).toBe('None');
    expect(sessionCookieSameSite({ ...rest, setting, origin: 'https://api.chat.example.com' })).toBe('None');
    expect(settingsFromEnv({ COOKIE_SAMESITE: 'Strict' }).cookieSameSite).toBe('Strict');
    expect(settingsFromEnv({ COOKIE_SAMESITE: 'auto' }).cookieSameSite).toBeUndefined();
    expect(() => settingsFromEnv({ COOKIE_SAMESITE: 'sometimes' })).toThrow(/COOKIE_SAMESITE/);
  });
});
