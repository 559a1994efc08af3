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

export interface Settings {
  params: Params;
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
    sessionLifetimeSeconds: intFromEnv(env, 'SESSION_LIFETIME_SECONDS', 2592000),
    sessionsPerUser: intFromEnv(env, 'SESSIONS_PER_USER', 8),
    corsOrigins: (env.CORS_ORIGINS ?? 'https://localhost:5173,https://localhost:4173,http://localhost:5173')
      .split(',')
      .map((o) => o.trim())
      .filter(Boolean),
    cookieDomain: env.COOKIE_DOMAIN || undefined,
  };
}
