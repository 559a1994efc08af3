import type { DeskOidcSettings } from '../config';
import { decodeProtectedHeader, errors, importJWK, type JWK, type JWTPayload, jwtVerify, type KeyLike } from 'jose';

/**
 * Verification of OpenID Connect access tokens (JWTs) for the support desk (issue 17): any compliant issuer
 * (Keycloak, Cognito, Auth0), found through its discovery document. Independent of the wire: REST reads the
 * token from `Authorization: Bearer`, the desk socket from `?token=`; both call `verify`.
 */

export type { DeskOidcSettings };


/**
 * Signature algorithms accepted: asymmetric only. `none` and the HS* family are absent on purpose: an HS256
 * token "signed" with the issuer's public key as the HMAC secret must never verify.
 */
export const ALLOWED_ALGORITHMS = ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512', 'EdDSA'] as const;

/** Who a verified token names: `sub`, a display name and the roles the desk cares about. */
export interface DeskIdentity {
  sub: string;
  name: string;
  roles: string[];
  curator: boolean;
  admin: boolean;
}

/** Why a token was refused; the client only ever learns "invalid token", the reason is for tests and logs. */
export type RefusalReason =
  | 'malformed'
  | 'algorithm'
  | 'unknown_key'
  | 'signature'
  | 'issuer'
  | 'audience'
  | 'expired'
  | 'not_yet_valid'
  | 'claims';

export class TokenRefused extends Error {
  constructor(readonly reason: RefusalReason) {
    super(`token refused: ${reason}`);
    this.name = 'TokenRefused';
  }
}

/** The issuer's discovery document or key set could not be read: a temporary condition (503), not a bad token. */
export class IssuerUnavailable extends Error {
  constructor(detail: string) {
    super(`identity provider unavailable: ${detail}`);
    this.name = 'IssuerUnavailable';
  }
}

export interface VerifierOptions {
  fetch?: typeof fetch;
  now?: () => number;
  /** Tolerated clock difference with the issuer for `exp` and `nbf` (60 s). */
  clockSkewSeconds?: number;
  /** Least time between two key-set downloads caused by unknown `kid`s (30 s): garbage tokens cannot make us hammer the issuer. */
  refreshCooldownMs?: number;
  /** Key sets older than this are downloaded again on the next token (10 min), so removed keys stop verifying. */
  keysMaxAgeMs?: number;
  /** Per HTTP request to the issuer (5 s). */
  timeoutMs?: number;
}

const MAX_TOKEN_LENGTH = 16 * 1024;
const MAX_NAME_LENGTH = 100;

function isLoopback(url: URL): boolean {
  return url.hostname === 'localhost' || url.hostname === '127.0.0.1' || url.hostname === '[::1]';
}

/** Walks `a.b.c` through the claims; a claim whose full name contains dots (Auth0's `https://x/roles`) wins. */
export function claimAt(claims: Record<string, unknown>, path: string): unknown {
  if (path in claims) return claims[path];
  let value: unknown = claims;
  for (const part of path.split('.')) {
    if (typeof value !== 'object' || value === null || Array.isArray(value)) return undefined;
    value = (value as Record<string, unknown>)[part];
  }
  return value;
}

/** Roles as a list of strings: an array claim, or one space-separated string (a `scope`-like claim). */
export function rolesOf(claims: Record<string, unknown>, path: string): string[] {
  const value = claimAt(claims, path);
  if (Array.isArray(value)) return value.filter((role): role is string => typeof role === 'string');
  if (typeof value === 'string') return value.split(/\s+/).filter(Boolean);
  return [];
}

/** The standard claims in order of preference (name, preferred_username, email), cleaned; the `sub` as the last resort. */
export function displayNameOf(claims: Record<string, unknown>): string {
  for (const key of ['name', 'preferred_username', 'email']) {
    const value = claims[key];
    if (typeof value !== 'string') continue;
    // eslint-disable-next-line no-control-regex
    const cleaned = value.replace(/[\u0000-\u001f\u007f-\u009f\u200b-\u200f\u202a-\u202e\u2066-\u2069]/g, '').trim();
    if (cleaned) return cleaned.slice(0, MAX_NAME_LENGTH);
  }
  return String(claims.sub).slice(0, MAX_NAME_LENGTH);
}

interface KeySet {
  keys: Map<string, JWK[]>;
  loadedAt: number;
}

/** One issuer's verifier, with its discovery document and key set cached for the life of the process. */
export class OidcVerifier {
  private readonly fetch: typeof fetch;
  private readonly now: () => number;
  private readonly skew: number;
  private readonly cooldownMs: number;
  private readonly maxAgeMs: number;
  private readonly timeoutMs: number;
  private jwksUri?: Promise<string>;
  private keySet?: KeySet;
  private loading?: Promise<KeySet>;
  private lastRefreshAt = Number.NEGATIVE_INFINITY;
  /** Key-set downloads so far (tests show a refresh happened, and how often). */
  downloads = 0;

  constructor(
    readonly settings: DeskOidcSettings,
    options: VerifierOptions = {},
  ) {
    this.fetch = options.fetch ?? fetch;
    this.now = options.now ?? Date.now;
    this.skew = options.clockSkewSeconds ?? 60;
    this.cooldownMs = options.refreshCooldownMs ?? 30_000;
    this.maxAgeMs = options.keysMaxAgeMs ?? 10 * 60_000;
    this.timeoutMs = options.timeoutMs ?? 5000;
  }

  private async getJson(url: string): Promise<Record<string, unknown>> {
    let response: Response;
    try {
      response = await this.fetch(url, { signal: AbortSignal.timeout(this.timeoutMs), headers: { accept: 'application/json' }, redirect: 'error' });
    } catch (error) {
      throw new IssuerUnavailable(`${url}: ${(error as Error).message}`);
    }
    if (!response.ok) throw new IssuerUnavailable(`${url}: HTTP ${response.status}`);
    const body: unknown = await response.json().catch(() => undefined);
    if (typeof body !== 'object' || body === null || Array.isArray(body)) throw new IssuerUnavailable(`${url}: not a JSON object`);
    return body as Record<string, unknown>;
  }

  /** `jwks_uri` from the discovery document, whose `issuer` must be ours (OpenID Connect Discovery §4.3). */
  private discover(): Promise<string> {
    this.jwksUri ??= (async () => {
      const issuer = this.settings.issuer.replace(/\/+$/, '');
      const document = await this.getJson(`${issuer}/.well-known/openid-configuration`);
      if (document.issuer !== this.settings.issuer) throw new IssuerUnavailable(`discovery document names issuer ${JSON.stringify(document.issuer)}`);
      const raw = document.jwks_uri;
      let uri: URL;
      try {
        uri = new URL(String(raw));
      } catch {
        throw new IssuerUnavailable('discovery document has no valid jwks_uri');
      }
      // Keys fetched in clear text could be swapped on the way; only a loopback test issuer may use http.
      if (uri.protocol !== 'https:' && !(uri.protocol === 'http:' && isLoopback(uri))) throw new IssuerUnavailable('jwks_uri is not https');
      return uri.toString();
    })();
    // A failed discovery is tried again with the next token rather than remembered.
    this.jwksUri.catch(() => (this.jwksUri = undefined));
    return this.jwksUri;
  }

  private async download(): Promise<KeySet> {
    const body = await this.getJson(await this.discover());
    this.downloads++;
    const keys = new Map<string, JWK[]>();
    for (const jwk of Array.isArray(body.keys) ? (body.keys as JWK[]) : []) {
      // Signature keys only: encryption keys and symmetric ("oct") keys never verify a token.
      if (typeof jwk !== 'object' || jwk === null || jwk.kty === 'oct' || (jwk.use !== undefined && jwk.use !== 'sig')) continue;
      const kid = typeof jwk.kid === 'string' ? jwk.kid : '';
      keys.set(kid, [...(keys.get(kid) ?? []), jwk]);
    }
    return { keys, loadedAt: this.now() };
  }

  private load(): Promise<KeySet> {
    this.loading ??= this.download()
      .then((set) => (this.keySet = set))
      .finally(() => (this.loading = undefined));
    return this.loading;
  }

  /** The key set, downloaded again when too old; and once more (at most once per cooldown) when `kid` is unknown. */
  private async keysFor(kid: string): Promise<JWK[]> {
    let set = this.keySet;
    if (!set || this.now() - set.loadedAt > this.maxAgeMs) {
      this.lastRefreshAt = this.now();
      set = await this.load();
    } else if (!set.keys.has(kid) && this.now() - this.lastRefreshAt >= this.cooldownMs) {
      this.lastRefreshAt = this.now();
      set = await this.load();
    }
    return set.keys.get(kid) ?? [];
  }

  /** The identity a valid access token names; TokenRefused for any bad token, IssuerUnavailable when keys cannot be had. */
  async verify(token: string): Promise<DeskIdentity> {
    if (token.length > MAX_TOKEN_LENGTH || token.split('.').length !== 3) throw new TokenRefused('malformed');
    let header: ReturnType<typeof decodeProtectedHeader>;
    try {
      header = decodeProtectedHeader(token);
    } catch {
      throw new TokenRefused('malformed');
    }
    const alg = header.alg;
    if (typeof alg !== 'string' || !(ALLOWED_ALGORITHMS as readonly string[]).includes(alg)) throw new TokenRefused('algorithm');
    const candidates = (await this.keysFor(typeof header.kid === 'string' ? header.kid : '')).filter((jwk) => jwk.alg === undefined || jwk.alg === alg);
    if (candidates.length === 0) throw new TokenRefused('unknown_key');
    let payload: JWTPayload | undefined;
    let failure: unknown;
    for (const jwk of candidates) {
      let key: KeyLike | Uint8Array;
      try {
        key = await importJWK(jwk, alg);
      } catch {
        // A key of another type than the header's algorithm (an RSA key for ES256): not this token's key.
        continue;
      }
      try {
        ({ payload } = await jwtVerify(token, key, {
          algorithms: [alg],
          issuer: this.settings.issuer,
          audience: this.settings.audience,
          clockTolerance: this.skew,
          currentDate: new Date(this.now()),
          requiredClaims: ['sub', 'exp'],
        }));
        break;
      } catch (error) {
        failure = error;
      }
    }
    if (!payload) throw new TokenRefused(reasonOf(failure));
    const claims = payload as Record<string, unknown>;
    if (typeof payload.sub !== 'string' || payload.sub.length === 0 || payload.sub.length > 255) throw new TokenRefused('claims');
    const roles = rolesOf(claims, this.settings.rolesClaim);
    return {
      sub: payload.sub,
      name: displayNameOf(claims),
      roles,
      curator: roles.includes(this.settings.curatorRole),
      admin: roles.includes(this.settings.adminRole),
    };
  }
}

function reasonOf(error: unknown): RefusalReason {
  if (error instanceof errors.JWTExpired) return 'expired';
  if (error instanceof errors.JWTClaimValidationFailed) {
    if (error.claim === 'iss') return 'issuer';
    if (error.claim === 'aud') return 'audience';
    if (error.claim === 'nbf') return 'not_yet_valid';
    return 'claims';
  }
  if (error instanceof errors.JWSSignatureVerificationFailed) return 'signature';
  if (error instanceof errors.JOSEAlgNotAllowed) return 'algorithm';
  if (error === undefined) return 'unknown_key';
  return 'malformed';
}

/** One verifier per issuer and audience per process: its cached keys survive across requests (and Lambda invocations). */
const verifiers = new Map<string, OidcVerifier>();

export function verifierFor(settings: DeskOidcSettings): OidcVerifier {
  const key = JSON.stringify(settings);
  let verifier = verifiers.get(key);
  if (!verifier) {
    verifier = new OidcVerifier(settings);
    verifiers.set(key, verifier);
  }
  return verifier;
}
