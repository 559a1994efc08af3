/**
 * A real OpenID provider (npm `oidc-provider`, ESM-only, hence this child process) for the desk tests:
 * authorization code flow, JWT access tokens for one resource (resource indicators), realm roles in the
 * Keycloak layout. The login is automatic: `login_hint` names the account as `<sub>|<name>|<role>,<role>`.
 * Prints `{"issuer": ..., "audience": ...}` as its first stdout line, then serves until killed.
 */
import { createServer } from 'node:http';
import { generateKeyPairSync } from 'node:crypto';
import Provider from 'oidc-provider';

const AUDIENCE = 'https://desk.test/api';
/** Another application's API: its tokens are real, but for the wrong audience. */
const OTHER = 'https://other.test/api';
const accounts = new Map();

const server = createServer();
// OIDC_PORT: a fixed port for trying the desk by hand (local/desk-provider.ts); any free one for the tests.
await new Promise((resolve) => server.listen(Number(process.env.OIDC_PORT ?? 0), '127.0.0.1', resolve));
const issuer = `http://127.0.0.1:${server.address().port}`;

const jwk = (alg, kid) => {
  const { privateKey } = alg === 'ES256' ? generateKeyPairSync('ec', { namedCurve: 'P-256' }) : generateKeyPairSync('rsa', { modulusLength: 2048 });
  return { ...privateKey.export({ format: 'jwk' }), alg, kid, use: 'sig' };
};

const provider = new Provider(issuer, {
  clients: [
    {
      client_id: 'desk-test',
      client_secret: 'desk-test-secret',
      redirect_uris: ['http://127.0.0.1/callback'],
      grant_types: ['authorization_code'],
      response_types: ['code'],
      token_endpoint_auth_method: 'client_secret_post',
    },
  ],
  jwks: { keys: [jwk('ES256', 'es-1'), jwk('RS256', 'rs-1')] },
  pkce: { required: () => false },
  scopes: ['openid', 'desk'],
  features: {
    devInteractions: { enabled: false },
    resourceIndicators: {
      enabled: true,
      defaultResource: () => AUDIENCE,
      useGrantedResource: () => true,
      getResourceServerInfo: (_ctx, resource) => {
        if (resource !== AUDIENCE && resource !== OTHER) throw new Error(`unknown resource ${resource}`);
        return { scope: 'desk', audience: resource, accessTokenFormat: 'jwt', accessTokenTTL: 600, jwt: { sign: { alg: resource === OTHER ? 'RS256' : 'ES256' } } };
      },
    },
  },
  interactions: { url: (_ctx, interaction) => `/interaction/${interaction.uid}` },
  findAccount: (_ctx, sub) => ({ accountId: sub, claims: () => ({ sub }) }),
  extraTokenClaims: (_ctx, token) => {
    const account = accounts.get(token.accountId);
    return account ? { name: account.name, realm_access: { roles: account.roles } } : undefined;
  },
});
// Quiet: the tests look at answers, not at the provider's warnings about a plain-http issuer.
provider.on('server_error', (_ctx, error) => console.error(String(error)));

const callback = provider.callback();
server.on('request', async (req, res) => {
  try {
    if (req.url.startsWith('/interaction/')) {
      const details = await provider.interactionDetails(req, res);
      if (process.env.OIDC_DEBUG) console.error(JSON.stringify({ prompt: details.prompt, params: details.params }));
      const [sub, name, roles] = String(details.params.login_hint ?? '').split('|');
      accounts.set(sub, { name, roles: roles ? roles.split(',') : [] });
      const grant = new provider.Grant({ accountId: sub, clientId: details.params.client_id });
      grant.addOIDCScope('openid desk');
      grant.addResourceScope(details.params.resource ?? AUDIENCE, 'desk');
      const grantId = await grant.save();
      await provider.interactionFinished(req, res, { login: { accountId: sub }, consent: { grantId } }, { mergeWithLastSubmission: false });
      return;
    }
    callback(req, res);
  } catch (error) {
    console.error(String(error));
    res.statusCode = 500;
    res.end();
  }
});
console.log(JSON.stringify({ issuer, audience: AUDIENCE, other: OTHER }));
