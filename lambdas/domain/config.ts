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
  /** Failed `POST /auth` per username; beyond it every attempt is refused until the window ends. */
  loginFailures?: RateLimit;
  /** `POST /register` per source IP. */
  registrations?: RateLimit;
  /** Main-socket frames (`ping` and `$default`) per connection. */
  socketFrames?: RateLimit;
  /**
   * Frames per connection and window one handler instance admits from memory before counting in the
   * table: keeps the client's keepalive (one ping a minute) free of DynamoDB requests.
   */
  socketFreeFrames: number;
}

export interface Settings {
  params: Params;
  rateLimits: RateLimits;
  sessionLifetimeSeconds: number;
  sessionsPerUser: number;
  /** Origins allowed to make credentialed CORS requests. */
  corsOrigins: string[];
  /** Optional Domain attribute of the session cookie, so REST and both sockets on sub-domains share it. */
  cookieDomain?: string;
}

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
  socketFreeFrames: 10,
};

/** Environment variable of each budget; the value is `<requests>/<seconds>`, or `off` (or `0`). */
export const RATE_LIMIT_VARIABLES = {
  rest: 'RATE_LIMIT_REST',
  messages: 'RATE_LIMIT_MESSAGES',
  loginFailures: 'RATE_LIMIT_LOGIN',
  registrations: 'RATE_LIMIT_REGISTER',
  socketFrames: 'RATE_LIMIT_SOCKET',
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
    corsOrigins: (env.CORS_ORIGINS ?? 'https://localhost:5173,https://localhost:4173,http://localhost:5173')
      .split(',')
      .map((o) => o.trim())
      .filter(Boolean),
    cookieDomain: env.COOKIE_DOMAIN || undefined,
  };
}
