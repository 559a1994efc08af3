import { type ChildProcess, spawn } from 'node:child_process';
import { join } from 'node:path';

/**
 * The real OpenID provider of the desk tests (npm `oidc-provider` in a child process, test/support/
 * oidc-provider.mjs): `token()` runs the authorization code flow with resource indicators, as a browser
 * would, and returns the JWT access token the provider issues, signed with its own keys.
 */
export class RealProvider {
  private constructor(
    private readonly child: ChildProcess,
    readonly issuer: string,
    /** The desk API's resource: the `aud` of its access tokens. */
    readonly audience: string,
    /** Another API's resource: real tokens, wrong audience. */
    readonly otherAudience: string,
  ) {}

  static async start(): Promise<RealProvider> {
    const child = spawn(process.execPath, [join(__dirname, 'oidc-provider-child.mjs')], { stdio: ['ignore', 'pipe', 'pipe'] });
    // Its warnings (Node version, in-memory adapter) are expected; errors surface as failed flows.
    child.stderr!.resume();
    const first = await new Promise<string>((resolve, reject) => {
      let buffered = '';
      child.stdout!.on('data', (chunk) => {
        buffered += String(chunk);
        if (buffered.includes('\n')) resolve(buffered.split('\n')[0]);
      });
      child.once('exit', (code) => reject(new Error(`oidc-provider exited with ${code}`)));
    });
    const { issuer, audience, other } = JSON.parse(first) as { issuer: string; audience: string; other: string };
    return new RealProvider(child, issuer, audience, other);
  }

  /** Signs `sub` in (automatic login named by `login_hint`) and exchanges the code for an access token. */
  async token(account: { sub: string; name?: string; roles?: string[] }, resource = this.audience): Promise<string> {
    const jar = new Map<string, string>();
    const get = async (url: string) => {
      const response = await fetch(url, { redirect: 'manual', headers: { cookie: [...jar].map(([k, v]) => `${k}=${v}`).join('; ') } });
      for (const line of response.headers.getSetCookie()) {
        const pair = line.split(';')[0];
        jar.set(pair.slice(0, pair.indexOf('=')), pair.slice(pair.indexOf('=') + 1));
      }
      return response.headers.get('location');
    };
    const redirectUri = 'http://127.0.0.1/callback';
    const hint = `${account.sub}|${account.name ?? ''}|${(account.roles ?? []).join(',')}`;
    const query = new URLSearchParams({ client_id: 'desk-test', response_type: 'code', redirect_uri: redirectUri, scope: 'openid desk', resource, login_hint: hint });
    let location = await get(`${this.issuer}/auth?${query}`);
    for (let hop = 0; hop < 6 && location && !location.startsWith(redirectUri); hop++) location = await get(new URL(location, this.issuer).toString());
    const code = location?.startsWith(redirectUri) ? new URL(location).searchParams.get('code') : null;
    if (!code) throw new Error(`the provider's flow ended at ${location}`);
    const response = await fetch(`${this.issuer}/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ grant_type: 'authorization_code', code, redirect_uri: redirectUri, client_id: 'desk-test', client_secret: 'desk-test-secret', resource }),
    });
    const body = (await response.json()) as { access_token?: string };
    if (!body.access_token) throw new Error(`token endpoint: ${response.status} ${JSON.stringify(body)}`);
    return body.access_token;
  }

  async stop(): Promise<void> {
    if (this.child.exitCode !== null) return;
    const exited = new Promise((resolve) => this.child.once('exit', resolve));
    this.child.kill();
    await exited;
  }
}
