/**
 * Which browser origins may act on a user's behalf (docs/security.md, "CSRF" and "Socket origins"). One list,
 * the `CORS_ORIGINS` setting, serves credentialed CORS, the REST origin check and both sockets' upgrade checks.
 */

/** An origin as browsers serialise it (`scheme://host[:port]`, lower case, default port omitted); undefined if not http(s). */
export function normalizeOrigin(raw: string): string | undefined {
  let url: URL;
  try {
    url = new URL(raw.trim());
  } catch {
    return undefined;
  }
  return url.protocol === 'http:' || url.protocol === 'https:' ? url.origin : undefined;
}

/**
 * The allowed origins from `CORS_ORIGINS` (comma-separated). Entries are normalised so `https://Chat.example/`
 * matches the `https://chat.example` a browser sends; an entry that is no http(s) origin (`*`, say) matches nothing.
 */
export function parseAllowedOrigins(raw: string): string[] {
  return raw
    .split(',')
    .map((entry) => entry.trim())
    .filter(Boolean)
    .map((entry) => normalizeOrigin(entry) ?? entry);
}

/**
 * `allowed`: the request names an allowed origin. `absent`: it names none (no `Origin`, no `Referer`): not a
 * browser acting for a page, as browsers send `Origin` on every cross-origin request and on every POST, PUT and
 * DELETE. `foreign`: any other origin, including the opaque `null` of sandboxed frames and privacy redirects.
 */
export type OriginVerdict = 'allowed' | 'absent' | 'foreign';

/** Judges `Origin`, or lacking it `Referer` (some older browsers omit `Origin` on same-origin requests). */
export function judgeOrigin(headers: { origin?: string; referer?: string }, allowed: readonly string[]): OriginVerdict {
  const claimed = headers.origin?.trim() || headers.referer?.trim();
  if (!claimed) return 'absent';
  const origin = normalizeOrigin(claimed);
  return origin !== undefined && allowed.includes(origin) ? 'allowed' : 'foreign';
}

export type SameSite = 'Strict' | 'Lax' | 'None';

export function parseSameSite(raw: string | undefined): SameSite | undefined {
  const value = raw?.trim().toLowerCase();
  if (!value || value === 'auto') return undefined;
  if (value === 'lax') return 'Lax';
  if (value === 'strict') return 'Strict';
  if (value === 'none') return 'None';
  throw new Error(`COOKIE_SAMESITE must be Lax, Strict, None or auto, got '${raw}'`);
}

/** Whether `host` is `domain` or one of its sub-domains. */
function within(host: string, domain: string): boolean {
  const d = domain.replace(/^\./, '').toLowerCase();
  return host === d || host.endsWith(`.${d}`);
}

/**
 * The session cookie's SameSite for one login: `Lax` when the page logging in is on the same site as REST
 * (same scheme and host, or both under `COOKIE_DOMAIN`, which is what a custom-domain deployment shares with
 * its sockets), `None` when it is on another site, where a `Lax` cookie would never be sent back. Without an
 * `Origin` the caller is no browser and the attribute means nothing to it: `Lax`. `COOKIE_SAMESITE` overrides.
 * "Same site" is judged without the public-suffix list, so two hosts that only share a registrable domain
 * count as cross-site unless `COOKIE_DOMAIN` names it: that errs towards `None`, never towards a lost cookie.
 */
export function sessionCookieSameSite(request: {
  setting?: SameSite;
  origin?: string;
  /** The REST host the browser addressed (`Host`) and its scheme (`X-Forwarded-Proto`). */
  host?: string;
  scheme?: string;
  cookieDomain?: string;
}): SameSite {
  if (request.setting) return request.setting;
  if (!request.origin?.trim()) return 'Lax';
  const origin = normalizeOrigin(request.origin);
  if (!origin || !request.host || !request.scheme) return 'None';
  const page = new URL(origin);
  let restHost: string;
  try {
    restHost = new URL(`${request.scheme}://${request.host}`).hostname;
  } catch {
    return 'None';
  }
  if (page.protocol !== `${request.scheme.toLowerCase()}:`) return 'None';
  if (page.hostname === restHost) return 'Lax';
  if (request.cookieDomain && within(page.hostname, request.cookieDomain) && within(restHost, request.cookieDomain)) return 'Lax';
  return 'None';
}
