import { randomUUID } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { exportJWK, generateKeyPair, type JWK, type JWTPayload, type KeyLike, SignJWT } from 'jose';

/**
 * A minimal but real OpenID provider for the desk tests: a discovery document and a JWKS over HTTP on
 * loopback, RS256 and ES256 signing keys, key rotation, and tokens signed like an issuer signs them. It
 * implements no login flow: tests mint the access tokens a provider would hand out after one (the desk only
 * ever verifies tokens). It counts JWKS downloads so tests can see refreshes.
 */

export interface IssuerKey {
  kid: string;
  alg: 'RS256' | 'ES256';
  privateKey: KeyLike;
  publicJwk: JWK;
}

export async function makeKey(alg: 'RS256' | 'ES256', kid = randomUUID()): Promise<IssuerKey> {
  const { privateKey, publicKey } = await generateKeyPair(alg, { extractable: true });
  return { kid, alg, privateKey, publicJwk: { ...(await exportJWK(publicKey)), kid, alg, use: 'sig' } };
}

export interface TokenOptions {
  sub?: string;
  /** Seconds from now; negative for an expired token. */
  expiresIn?: number;
  /** Seconds from now for `nbf`. */
  notBefore?: number;
  issuer?: string;
  audience?: string | string[];
  /** Signs with this key instead of the current one (a forged or unpublished key). */
  key?: IssuerKey;
  claims?: Record<string, unknown>;
}

export class TestIssuer {
  jwksDownloads = 0;
  /** Published keys; the first signs. */
  keys: IssuerKey[];

  private constructor(
    private readonly server: Server,
    readonly url: string,
    readonly audience: string,
    keys: IssuerKey[],
  ) {
    this.keys = keys;
  }

  static async start(audience = 'desk-api'): Promise<TestIssuer> {
    const keys = [await makeKey('RS256'), await makeKey('ES256')];
    // The handler needs the issuer's URL, known once the server listens.
    const ref: { issuer?: TestIssuer } = {};
    const server = createServer((request, response) => {
      const issuer = ref.issuer!;
      const path = new URL(request.url ?? '/', 'http://x').pathname;
      if (path === '/realms/desk/.well-known/openid-configuration') {
        response.writeHead(200, { 'content-type': 'application/json' });
        response.end(
          JSON.stringify({
            issuer: issuer.url,
            jwks_uri: `${issuer.url}/protocol/openid-connect/certs`,
            token_endpoint: `${issuer.url}/protocol/openid-connect/token`,
            id_token_signing_alg_values_supported: ['RS256', 'ES256'],
          }),
        );
        return;
      }
      if (path === '/realms/desk/protocol/openid-connect/certs') {
        issuer.jwksDownloads++;
        response.writeHead(200, { 'content-type': 'application/json' });
        response.end(JSON.stringify({ keys: issuer.keys.map((key) => key.publicJwk) }));
        return;
      }
      response.writeHead(404).end();
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as AddressInfo;
    // Keycloak's layout, so the discovery path is the one a real deployment uses.
    ref.issuer = new TestIssuer(server, `http://127.0.0.1:${port}/realms/desk`, audience, keys);
    return ref.issuer;
  }

  /** Publishes a new signing key first (it signs from now on); the old ones stay published unless `dropOld`. */
  async rotate(alg: 'RS256' | 'ES256' = 'RS256', dropOld = false): Promise<IssuerKey> {
    const key = await makeKey(alg);
    this.keys = dropOld ? [key] : [key, ...this.keys];
    return key;
  }

  /** A signed access token as Keycloak issues it (realm roles under `realm_access.roles`). */
  async token(options: TokenOptions & { roles?: string[]; name?: string } = {}): Promise<string> {
    const key = options.key ?? this.keys[0];
    const now = Math.floor(Date.now() / 1000);
    const payload: JWTPayload = {
      ...(options.name !== undefined ? { name: options.name } : {}),
      ...(options.roles !== undefined ? { realm_access: { roles: options.roles } } : {}),
      ...options.claims,
    };
    const jwt = new SignJWT(payload)
      .setProtectedHeader({ alg: key.alg, kid: key.kid, typ: 'JWT' })
      .setIssuer(options.issuer ?? this.url)
      .setAudience(options.audience ?? this.audience)
      .setSubject(options.sub ?? randomUUID())
      .setIssuedAt(now)
      .setJti(randomUUID())
      .setExpirationTime(now + (options.expiresIn ?? 300));
    if (options.notBefore !== undefined) jwt.setNotBefore(now + options.notBefore);
    return jwt.sign(key.privateKey);
  }

  stop(): Promise<void> {
    return new Promise((resolve) => this.server.close(() => resolve()));
  }
}

/** `alg: none` with the given claims: an unsigned token. */
export function unsignedToken(claims: Record<string, unknown>): string {
  const encode = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');
  return `${encode({ alg: 'none', typ: 'JWT' })}.${encode(claims)}.`;
}
