import { parseAllowedOrigins, parseSameSite, type SameSite } from './origins';

/**
 * Server limits and settings. Defaults are upstream ZavodChat's shipped configuration; every value can be
 * overridden by an environment variable of the same name in upper case (e.g. MAX_GET_COUNT=20).
 */
export interface Params {
  ws_port: number;
  ws_vc_port: number;
  min_username_length: number;
  min_password_length: number;
  total_file_storage_size: number;
  max_attachments: number;
  max_get_count: number;
  max_user_preference_keys: number;
  max_servers_owned_per_user: number;
  max_channels_per_server: number;
  max_roles_per_server: number;
  max_invites_per_server: number;
  max_emojis_per_server: number;
  max_wl_users_per_channel: number;
  max_video_bitrate: number;
}

/** A fixed-window budget: at most `requests` per window of `windowSeconds`, windows aligned to the epoch. */
export interface RateLimit {
  requests: number;
  windowSeconds: number;
}

/** Per-caller budgets (docs/protocol.md, "Rate limits"); an absent budget is not enforced. */
export interface RateLimits {
  /** Every REST request of a user (of a source IP without a valid session), except message writes and `GET /params`. */
  rest?: RateLimit;
  /** `POST /channels/{cid}/messages` and `PUT /messages/{mid}`, per user. */
  messages?: RateLimit;
  /** Failed `POST /auth` per username and source address; beyond it that source's attempts at that name are refused until the window ends. */
  loginFailures?: RateLimit;
  /** `POST /register` per source IP. */
  registrations?: RateLimit;
  /** Main-socket frames (`ping` and `$default`) per connection. */
  socketFrames?: RateLimit;
  /** Main-socket `$connect` attempts per source address (refused ones included). */
  connects?: RateLimit;
  /**
   * Failed `POST /auth` per username from all sources together; beyond it only sources without a failure
   * of their own in the window may still try (see countLoginAttempt).
   */
  loginFailuresPerName?: RateLimit;
  /**
   * Frames per connection and window one handler instance admits from memory before counting in the
   * table: keeps the client's keepalive (one ping a minute) free of DynamoDB requests.
   */
  socketFreeFrames: number;
}

/** The support desk's sign-in (issue 17; README "Configuration"): the same names locally and as stack parameters. */
export interface DeskOidcSettings {
  /** DESK_OIDC_ISSUER: the `iss` of accepted tokens; its discovery document is `<issuer>/.well-known/openid-configuration`. */
  issuer: string;
  /** DESK_OIDC_AUDIENCE: a value tokens must carry in `aud`. */
  audience: string;
  /** DESK_ROLES_CLAIM: where the roles are, a dotted path into the claims (`realm_access.roles`) or one claim's full name. */
  rolesClaim: string;
  /** DESK_CURATOR_ROLE */
  curatorRole: string;
  /** DESK_ADMIN_ROLE */
  adminRole: string;
}

export const DESK_OIDC_DEFAULTS = { rolesClaim: 'realm_access.roles', curatorRole: 'curator', adminRole: 'desk-admin' } as const;

/** The desk's settings, or undefined when DESK_OIDC_ISSUER is unset (the desk routes then answer 404). */
export function deskOidcFromEnv(env: NodeJS.ProcessEnv): DeskOidcSettings | undefined {
  const issuer = env.DESK_OIDC_ISSUER?.trim();
  if (!issuer) return undefined;
  if (!/^https?:\/\//.test(issuer)) throw new Error(`DESK_OIDC_ISSUER must be an http(s) URL, got '${issuer}'`);
  const audience = env.DESK_OIDC_AUDIENCE?.trim();
  // Without an audience any token of the issuer (one minted for another application) would be accepted.
  if (!audience) throw new Error('DESK_OIDC_AUDIENCE must be set when DESK_OIDC_ISSUER is');
  return {
    issuer,
    audience,
    rolesClaim: env.DESK_ROLES_CLAIM?.trim() || DESK_OIDC_DEFAULTS.rolesClaim,
    curatorRole: env.DESK_CURATOR_ROLE?.trim() || DESK_OIDC_DEFAULTS.curatorRole,
    adminRole: env.DESK_ADMIN_ROLE?.trim() || DESK_OIDC_DEFAULTS.adminRole,
  };
}

export interface Settings {
  params: Params;
  rateLimits: RateLimits;
  sessionLifetimeSeconds: number;
  sessionsPerUser: number;
  /**
   * The allowed origins (CORS_ORIGINS): the only pages that get credentialed CORS, may send state-changing
   * REST requests and may open either socket (docs/security.md).
   */
  corsOrigins: string[];
  /** Optional Domain attribute of the session cookie, so REST and both sockets on sub-domains share it. */
  cookieDomain?: string;
  /** COOKIE_SAMESITE; unset (`auto`) chooses per login by the layout (docs/security.md, "CSRF"). */
  cookieSameSite?: SameSite;
  /** Largest REST request body outside the upload routes (MAX_REQUEST_BODY_BYTES), checked before parsing. */
  maxRequestBodyBytes: number;
  /** Open main-socket connections at once, per user and per source address; 0 = no cap. */
  connectionCaps: { perUser: number; perAddress: number };
  /**
   * Items one request may evaluate for a filtered listing (`GET /users?displayname=`, `messages_search`):
   * beyond it the page is answered as far as it got, with `X-Next-Start-Id` saying where to go on.
   */
  maxScanItems: number;
  /** The support desk's OpenID Connect sign-in; absent when DESK_OIDC_ISSUER is unset. */
  desk?: DeskOidcSettings;
}

/** The default of MAX_REQUEST_BODY_BYTES: far above any valid JSON body (a 2,000-character message is < 13 KB). */
export const DEFAULT_MAX_REQUEST_BODY_BYTES = 64 * 1024;
export const DEFAULT_CONNECTION_CAPS = { perUser: 20, perAddress: 200 };
export const DEFAULT_MAX_SCAN_ITEMS = 1000;

export const DEFAULT_PARAMS: Params = {
  ws_port: 444,
  ws_vc_port: 445,
  min_username_length: 2,
  min_password_length: 8,
  total_file_storage_size: 10737418240,
  max_attachments: 10,
  max_get_count: 50,
  max_user_preference_keys: 128,
  max_servers_owned_per_user: 10,
  max_channels_per_server: 50,
  max_roles_per_server: 50,
  max_invites_per_server: 50,
  max_emojis_per_server: 100,
  max_wl_users_per_channel: 50,
  max_video_bitrate: 10240000,
};

/**
 * `max_video_bitrate` of a cloud deployment (lib/config.ts), where every bit a viewer receives is billed as
 * data transfer out ($0.09/GB): 2.5 Mbit/s instead of upstream's 10.24. The stock client sends video only
 * to share a screen, mostly still text and UI, where encoders spend bits on what changes; a viewer-hour then
 * costs at most about $0.10 of egress instead of $0.41. docs/deploy.md ("Video bitrate") shows the
 * arithmetic and the reasoning; `-c maxVideoBitrate=` sets another value.
 */
export const PAY_PER_USE_MAX_VIDEO_BITRATE = 2_500_000;

/**
 * Production budgets, sized so a real client never meets them: the web client loads servers, channels,
 * members, roles and a page of messages per opened channel at startup (a few hundred requests for a user
 * of many servers) and pings the main socket once a minute.
 */
export const DEFAULT_RATE_LIMITS: Required<RateLimits> = {
  rest: { requests: 600, windowSeconds: 60 },
  messages: { requests: 30, windowSeconds: 10 },
  loginFailures: { requests: 10, windowSeconds: 300 },
  registrations: { requests: 20, windowSeconds: 3600 },
  socketFrames: { requests: 60, windowSeconds: 60 },
  connects: { requests: 60, windowSeconds: 60 },
  loginFailuresPerName: { requests: 100, windowSeconds: 300 },
  socketFreeFrames: 10,
};

/** Environment variable of each budget; the value is `<requests>/<seconds>`, or `off` (or `0`). */
export const RATE_LIMIT_VARIABLES = {
  rest: 'RATE_LIMIT_REST',
  messages: 'RATE_LIMIT_MESSAGES',
  loginFailures: 'RATE_LIMIT_LOGIN',
  registrations: 'RATE_LIMIT_REGISTER',
  socketFrames: 'RATE_LIMIT_SOCKET',
  connects: 'RATE_LIMIT_CONNECT',
  loginFailuresPerName: 'RATE_LIMIT_LOGIN_NAME',
} as const;

export function rateLimitFromEnv(env: NodeJS.ProcessEnv, name: string, fallback: RateLimit): RateLimit | undefined {
  const raw = env[name]?.trim();
  if (raw === undefined || raw === '') return fallback;
  if (raw === 'off' || raw === '0') return undefined;
  const match = /^(\d{1,9})\/(\d{1,7})$/.exec(raw);
  if (!match || Number(match[1]) === 0 || Number(match[2]) === 0) {
    throw new Error(`${name} must be <requests>/<seconds> (e.g. 600/60) or off, got '${raw}'`);
  }
  return { requests: Number(match[1]), windowSeconds: Number(match[2]) };
}

/**
 * The budgets from the environment. `RATE_LIMITS=off` turns every one off (benchmarks, trusted load
 * tests). Read without the rest of the settings so the `ping` handler stays free of heavier imports.
 */
export function rateLimitsFromEnv(env: NodeJS.ProcessEnv = process.env): RateLimits {
  const free = intFromEnv(env, 'RATE_LIMIT_SOCKET_FREE', DEFAULT_RATE_LIMITS.socketFreeFrames);
  if (env.RATE_LIMITS?.trim() === 'off') return { socketFreeFrames: free };
  const limits: RateLimits = { socketFreeFrames: free };
  for (const key of Object.keys(RATE_LIMIT_VARIABLES) as Array<keyof typeof RATE_LIMIT_VARIABLES>) {
    limits[key] = rateLimitFromEnv(env, RATE_LIMIT_VARIABLES[key], DEFAULT_RATE_LIMITS[key]);
  }
  return limits;
}

function intFromEnv(env: NodeJS.ProcessEnv, name: string, fallback: number): number {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (!Number.isSafeInteger(value) || value < 0) throw new Error(`${name} must be a non-negative integer, got '${raw}'`);
  return value;
}

export function settingsFromEnv(env: NodeJS.ProcessEnv = process.env): Settings {
  const params = { ...DEFAULT_PARAMS };
  for (const key of Object.keys(params) as Array<keyof Params>) {
    params[key] = intFromEnv(env, key.toUpperCase(), params[key]);
  }
  // The ports the sockets really listen on locally are what clients should be told.
  params.ws_port = intFromEnv(env, 'WS_PORT', params.ws_port);
  params.ws_vc_port = intFromEnv(env, 'VC_PORT', params.ws_vc_port);
  return {
    params,
    rateLimits: rateLimitsFromEnv(env),
    sessionLifetimeSeconds: intFromEnv(env, 'SESSION_LIFETIME_SECONDS', 2592000),
    sessionsPerUser: intFromEnv(env, 'SESSIONS_PER_USER', 8),
    corsOrigins: parseAllowedOrigins(env.CORS_ORIGINS ?? 'https://localhost:5173,https://localhost:4173,http://localhost:5173'),
    cookieDomain: env.COOKIE_DOMAIN || undefined,
    cookieSameSite: parseSameSite(env.COOKIE_SAMESITE),
    maxRequestBodyBytes: intFromEnv(env, 'MAX_REQUEST_BODY_BYTES', DEFAULT_MAX_REQUEST_BODY_BYTES),
    connectionCaps: {
      perUser: intFromEnv(env, 'MAX_CONNECTIONS_PER_USER', DEFAULT_CONNECTION_CAPS.perUser),
      perAddress: intFromEnv(env, 'MAX_CONNECTIONS_PER_ADDRESS', DEFAULT_CONNECTION_CAPS.perAddress),
    },
    maxScanItems: Math.max(1, intFromEnv(env, 'MAX_SCAN_ITEMS', DEFAULT_MAX_SCAN_ITEMS)),
    desk: deskOidcFromEnv(env),
  };
}
