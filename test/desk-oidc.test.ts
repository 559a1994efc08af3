/**
 * The desk's OpenID Connect verification against a real issuer over HTTP (test/support/oidc-issuer.ts):
 * discovery, JWKS caching and refresh, and every kind of bad token refused with its reason.
 */
import { SignJWT } from 'jose';
import { DESK_OIDC_DEFAULTS, deskOidcFromEnv } from '../lambdas/domain/config';
import { claimAt, displayNameOf, IssuerUnavailable, OidcVerifier, rolesOf, TokenRefused } from '../lambdas/domain/desk/oidc';
import { makeKey, TestIssuer, unsignedToken } from './support/oidc-issuer';

let issuer: TestIssuer;
beforeAll(async () => {
  issuer = await TestIssuer.start();
});
afterAll(() => issuer.stop());

/** A verifier with its own clock, so refresh cooldowns are tested without waiting. */
function verifier(clock = { now: Date.now() }) {
  const settings = { issuer: issuer.url, audience: issuer.audience, ...DESK_OIDC_DEFAULTS };
  return { clock, verifier: new OidcVerifier(settings, { now: () => clock.now }) };
}

async function refusal(v: OidcVerifier, token: string): Promise<string> {
  try {
    await v.verify(token);
  } catch (error) {
    if (error instanceof TokenRefused) return error.reason;
    throw error;
  }
  return 'accepted';
}

describe('desk OIDC verification', () => {
  test('accepts RS256 and ES256 tokens of the issuer and reads sub, display name and roles', async () => {
    const { verifier: v } = verifier();
    const [rsa, ec] = issuer.keys;
    const identity = await v.verify(await issuer.token({ key: rsa, sub: 'u-1', name: 'Ann Curator', roles: ['curator', 'offline_access'] }));
    expect(identity).toEqual({ sub: 'u-1', name: 'Ann Curator', roles: ['curator', 'offline_access'], curator: true, admin: false });
    const admin = await v.verify(await issuer.token({ key: ec, sub: 'u-2', claims: { preferred_username: 'boss' }, roles: ['desk-admin'] }));
    expect(admin).toEqual({ sub: 'u-2', name: 'boss', roles: ['desk-admin'], curator: false, admin: true });
    // One discovery, one key-set download for both tokens.
    expect(v.downloads).toBe(1);
  });

  test('refuses forged, tampered, expired, not yet valid, wrong issuer, wrong audience, none and HS256 tokens', async () => {
    const { verifier: v } = verifier();
    const published = issuer.keys[0];
    // Same kid as a published key, signed by a key the issuer never published.
    const impostor = { ...(await makeKey('RS256')), kid: published.kid };
    expect(await refusal(v, await issuer.token({ key: impostor }))).toBe('signature');
    const good = await issuer.token({ sub: 'victim' });
    const [head, , signature] = good.split('.');
    const tampered = `${head}.${Buffer.from(JSON.stringify({ sub: 'attacker', iss: issuer.url, aud: issuer.audience, exp: 9999999999 })).toString('base64url')}.${signature}`;
    expect(await refusal(v, tampered)).toBe('signature');
    expect(await refusal(v, await issuer.token({ expiresIn: -120 }))).toBe('expired');
    expect(await refusal(v, await issuer.token({ notBefore: 120 }))).toBe('not_yet_valid');
    expect(await refusal(v, await issuer.token({ issuer: 'http://127.0.0.1:1/realms/other' }))).toBe('issuer');
    expect(await refusal(v, await issuer.token({ audience: 'another-app' }))).toBe('audience');
    expect(await refusal(v, unsignedToken({ sub: 'x', iss: issuer.url, aud: issuer.audience, exp: 9999999999 }))).toBe('algorithm');
    // The classic confusion: HS256 "signed" with the issuer's public key as the secret.
    const publicKeyAsSecret = new TextEncoder().encode(JSON.stringify(published.publicJwk));
    const hs = await new SignJWT({ sub: 'x' })
      .setProtectedHeader({ alg: 'HS256', kid: published.kid })
      .setIssuer(issuer.url)
      .setAudience(issuer.audience)
      .setExpirationTime('5m')
      .sign(publicKeyAsSecret);
    expect(await refusal(v, hs)).toBe('algorithm');
    // An ES256 header on a token whose kid names the RSA key: that key cannot verify it.
    const ecSigned = await issuer.token({ key: { ...issuer.keys[1], kid: published.kid } });
    expect(await refusal(v, ecSigned)).not.toBe('accepted');
    expect(await refusal(v, 'not-a-jwt')).toBe('malformed');
    expect(await refusal(v, 'a.b.c')).toBe('malformed');
    expect(await refusal(v, `${'x'.repeat(20_000)}.y.z`)).toBe('malformed');
    expect(await refusal(v, await issuer.token({ sub: '' }))).toBe('claims');
  });

  test('tolerates 60 s of clock skew on exp and nbf, not more', async () => {
    const { verifier: v } = verifier();
    expect(await refusal(v, await issuer.token({ expiresIn: -30 }))).toBe('accepted');
    expect(await refusal(v, await issuer.token({ notBefore: 30 }))).toBe('accepted');
    expect(await refusal(v, await issuer.token({ expiresIn: -90 }))).toBe('expired');
    expect(await refusal(v, await issuer.token({ notBefore: 90 }))).toBe('not_yet_valid');
  });

  test('an unknown kid refreshes the key set once per cooldown; a rotated key verifies after the refresh', async () => {
    const { verifier: v, clock } = verifier();
    await v.verify(await issuer.token());
    expect(v.downloads).toBe(1);
    // Right after a download, an unknown kid does not download the same set again.
    expect(await refusal(v, await issuer.token({ key: await makeKey('ES256') }))).toBe('unknown_key');
    expect(v.downloads).toBe(1);
    clock.now += 31_000;
    // A kid nobody published: one refresh, still refused.
    const stranger = await makeKey('ES256');
    expect(await refusal(v, await issuer.token({ key: stranger }))).toBe('unknown_key');
    expect(v.downloads).toBe(2);
    // Within the cooldown, garbage kids cost the issuer nothing.
    for (let i = 0; i < 5; i++) expect(await refusal(v, await issuer.token({ key: await makeKey('ES256') }))).toBe('unknown_key');
    expect(v.downloads).toBe(2);
    const rotated = await issuer.rotate('ES256');
    try {
      // Still within the cooldown: the new key is not fetched yet.
      expect(await refusal(v, await issuer.token({ key: rotated }))).toBe('unknown_key');
      clock.now += 31_000;
      expect(await refusal(v, await issuer.token({ key: rotated, sub: 'after-rotation' }))).toBe('accepted');
      expect(v.downloads).toBe(3);
      // The old keys, still published, keep verifying without another download.
      expect(await refusal(v, await issuer.token({ key: issuer.keys[1] }))).toBe('accepted');
      expect(v.downloads).toBe(3);
    } finally {
      issuer.keys = issuer.keys.filter((key) => key !== rotated);
    }
  });

  test('a key removed by the issuer stops verifying once the cached set is older than 10 minutes', async () => {
    const { verifier: v, clock } = verifier();
    const retiring = await issuer.rotate('RS256');
    try {
      expect(await refusal(v, await issuer.token({ key: retiring }))).toBe('accepted');
      issuer.keys = issuer.keys.filter((key) => key !== retiring);
      expect(await refusal(v, await issuer.token({ key: retiring }))).toBe('accepted');
      clock.now += 11 * 60_000;
      expect(await refusal(v, await issuer.token({ key: retiring, expiresIn: 3600 }))).toBe('unknown_key');
    } finally {
      issuer.keys = issuer.keys.filter((key) => key !== retiring);
    }
  });

  test('an unreachable issuer or a discovery document naming another issuer is IssuerUnavailable, not a refusal', async () => {
    const settings = { issuer: 'http://127.0.0.1:1/realms/none', audience: 'x', ...DESK_OIDC_DEFAULTS };
    await expect(new OidcVerifier(settings, { timeoutMs: 1000 }).verify(await issuer.token())).rejects.toBeInstanceOf(IssuerUnavailable);
    const lying = new OidcVerifier({ ...settings, issuer: `${issuer.url}/` });
    // `<issuer>/` finds the same document, whose issuer (without the slash) is not the configured one.
    await expect(lying.verify(await issuer.token())).rejects.toBeInstanceOf(IssuerUnavailable);
  });

  test('roles from a configurable claim path, display name from the standard claims', () => {
    const claims = { realm_access: { roles: ['curator'] }, 'cognito:groups': ['desk-admin'], 'https://x.example/roles': ['a'], scope: 'a b', sub: 's' };
    expect(rolesOf(claims, 'realm_access.roles')).toEqual(['curator']);
    expect(rolesOf(claims, 'cognito:groups')).toEqual(['desk-admin']);
    expect(rolesOf(claims, 'https://x.example/roles')).toEqual(['a']);
    expect(rolesOf(claims, 'scope')).toEqual(['a', 'b']);
    expect(rolesOf(claims, 'resource_access.desk.roles')).toEqual([]);
    expect(claimAt({ a: [1] }, 'a.0')).toBeUndefined();
    expect(displayNameOf({ sub: 's', email: 'e@x' })).toBe('e@x');
    expect(displayNameOf({ sub: 's', name: ' \u202eAnn\u0000 ', preferred_username: 'ann' })).toBe('Ann');
    expect(displayNameOf({ sub: 's', name: '' })).toBe('s');
  });

  test('settings: defaults, and an issuer without an audience is a configuration error', () => {
    expect(deskOidcFromEnv({})).toBeUndefined();
    expect(deskOidcFromEnv({ DESK_OIDC_ISSUER: 'https://kc/realms/r', DESK_OIDC_AUDIENCE: 'desk' })).toEqual({
      issuer: 'https://kc/realms/r',
      audience: 'desk',
      rolesClaim: 'realm_access.roles',
      curatorRole: 'curator',
      adminRole: 'desk-admin',
    });
    expect(deskOidcFromEnv({ DESK_OIDC_ISSUER: 'https://kc', DESK_OIDC_AUDIENCE: 'd', DESK_ROLES_CLAIM: 'cognito:groups', DESK_CURATOR_ROLE: 'support', DESK_ADMIN_ROLE: 'boss' })).toMatchObject({
      rolesClaim: 'cognito:groups',
      curatorRole: 'support',
      adminRole: 'boss',
    });
    expect(() => deskOidcFromEnv({ DESK_OIDC_ISSUER: 'https://kc' })).toThrow(/DESK_OIDC_AUDIENCE/);
    expect(() => deskOidcFromEnv({ DESK_OIDC_ISSUER: 'kc', DESK_OIDC_AUDIENCE: 'd' })).toThrow(/DESK_OIDC_ISSUER/);
  });
});
