import type { Context, Hono } from 'hono';
import { blockedBy } from '../../domain/blocks';
import { connectionsOfSessions } from '../../domain/connections';
import { badRequest, forbidden, notFound, TEXT } from '../../domain/errors';
import { events } from '../../domain/events';
import { audience, type FanoutContext, publish } from '../../domain/fanout';
import { fileKeys, storeImage } from '../../domain/files';
import { changeStatus, closeConnections } from '../../domain/presence';
import type { Settings } from '../../domain/config';
import { sessionCookieSameSite } from '../../domain/origins';
import { createSessionEvicting, endSessions, SESSION_COOKIE } from '../../domain/sessions';
import {
  checkCredentials,
  getUser,
  getUserRecord,
  listUsers,
  registerUser,
  updateProfile,
  validateDisplayName,
  validateLoginInput,
  validatePassword,
  usernameKeyOrUndefined,
  validateUsername,
} from '../../domain/users';
import { appContext } from '../../runtime';
import type { Verdict } from '../../domain/rate-limits';
import { countLoginAttempt, sourceIp, tooManyRequests } from '../rate-limit';
import { type Args, continuePage, fileArg, jsonObject, optionalUser, parseInteger, readArgs, readJson, readPage, requireUser, stringField, textArg } from '../http';
import { requireSession, type RestEnv } from '../auth';
import { policy } from '../route-policy';

/** The session cookie: a token with the session's lifetime, or an empty one that expires at once (logout). */
function sessionCookie(settings: Settings, token: string | undefined, c: Context): string {
  return [
    `${SESSION_COOKIE}=${token ?? ''}`,
    `Max-Age=${token ? settings.sessionLifetimeSeconds : 0}`,
    'Path=/',
    `SameSite=${sessionCookieSameSite({
      setting: settings.cookieSameSite,
      origin: c.req.header('origin'),
      host: c.req.header('host'),
      scheme: c.req.header('x-forwarded-proto'),
      cookieDomain: settings.cookieDomain,
    })}`,
    'Secure',
    'HttpOnly',
    ...(settings.cookieDomain ? [`Domain=${settings.cookieDomain}`] : []),
  ].join('; ');
}

/** Closes the main-socket connections opened with the given sessions (after those sessions were deleted). */
async function closeSessionConnections(context: FanoutContext, userId: number, sessions: string[]): Promise<void> {
  if (sessions.length === 0) return;
  await closeConnections(context, await connectionsOfSessions(context.db, userId, sessions));
}

/**
 * Changing the username or the password needs the current password (`current_password`, a form field:
 * never in the URL), so a stolen session cannot take the account over. A wrong one counts as a failed
 * login of the account from that source.
 */
async function checkCurrentPassword(c: Context, userId: number, args: Args): Promise<Verdict | undefined> {
  const { db } = appContext();
  if (c.req.query('current_password') !== undefined) throw badRequest("'current_password' must be sent in the request body, not the URL");
  const current = textArg(args, 'current_password');
  if (current === undefined) throw badRequest("Changing the username or password needs 'current_password'");
  const record = await getUserRecord(db, userId);
  if (!record) throw notFound(TEXT.userNotFound);
  const attempt = await countLoginAttempt(usernameKeyOrUndefined(record.username) ?? record.username, sourceIp(c));
  if (attempt.refused) return attempt.refused;
  if ((await checkCredentials(db, record.username, current)) !== userId) throw forbidden('Wrong current password');
  await attempt.succeeded();
  return undefined;
}

/** Registration, login, logout, profile, presence and the user directory. */
export function accountRoutes(app: Hono<RestEnv>): void {
  app.post('/register', policy({ budget: 'register', session: false }), async (c) => {
    const { db, settings } = appContext();
    const body = jsonObject(await readJson(c));
    const username = stringField(body, 'username');
    const displayname = stringField(body, 'displayname');
    const password = stringField(body, 'password');
    validateUsername(username, settings.params.min_username_length);
    validateDisplayName(displayname);
    validatePassword(password, settings.params.min_password_length);
    await registerUser(db, { username, displayname, password });
    return c.text('Registered');
  });

  app.post('/auth', async (c) => {
    const context = appContext();
    const { db, settings } = context;
    const body = jsonObject(await readJson(c));
    const username = stringField(body, 'username');
    const password = stringField(body, 'password');
    // Before any table call: a 3,000-character username would fail as a DynamoDB key (a 500), not as a login.
    validateLoginInput(username, password);
    // Before the password check: a source locked out of this username is refused even with the right password.
    const attempt = await countLoginAttempt(usernameKeyOrUndefined(username) ?? username, sourceIp(c));
    if (attempt.refused) return tooManyRequests(c, attempt.refused);
    const userId = await checkCredentials(db, username, password);
    if (userId === undefined) throw notFound('Invalid username or password');
    await attempt.succeeded();
    const { token, evicted } = await createSessionEvicting(db, userId, settings);
    // A session dropped for SESSIONS_PER_USER ends everywhere: its sockets close now.
    await closeSessionConnections(context, userId, evicted);
    c.header('Set-Cookie', sessionCookie(settings, token, c));
    return c.text(token);
  });

  // Our extension (docs/api.md): ends the caller's session, clears the cookie, closes its sockets.
  app.delete('/auth', async (c) => {
    const context = appContext();
    const { userId, token } = requireSession(c);
    const ended = await endSessions(context.db, userId, { tokens: [token] });
    await closeSessionConnections(context, userId, ended);
    c.header('Set-Cookie', sessionCookie(context.settings, undefined, c));
    return c.text('Logged out');
  });

  app.put('/register', async (c) => {
    const context = appContext();
    const { userId, token } = requireSession(c);
    const args = await readArgs(c);
    const username = textArg(args, 'username');
    const password = textArg(args, 'password');
    const displayname = textArg(args, 'displayname');
    const avatarFile = fileArg(args, 'avatar');
    if (username !== undefined) validateUsername(username, context.settings.params.min_username_length);
    if (password !== undefined) validatePassword(password, context.settings.params.min_password_length);
    if (displayname !== undefined) validateDisplayName(displayname);
    if (username !== undefined || password !== undefined) {
      const refused = await checkCurrentPassword(c, userId, args);
      if (refused) return tooManyRequests(c, refused);
    }
    const previous = avatarFile ? (await getUser(context.db, userId)).avatar : undefined;
    const avatar = avatarFile ? await storeImage(context.files, avatarFile, fileKeys.userAvatar) : undefined;
    const changed = await updateProfile(context.db, userId, { username, password, displayname, avatar });
    if (avatar && previous) await context.files.delete(fileKeys.userAvatar(previous));
    // A new password ends every other session (whoever else held one is out) and closes their sockets.
    if (password !== undefined) await closeSessionConnections(context, userId, await endSessions(context.db, userId, { except: token }));
    if (Object.keys(changed).length > 0) {
      // The whole user too: the workspace socket's `user-updated` carries it whole.
      await publish(context, events.userChanged(userId, changed, await getUser(context.db, userId)), audience.observersOf(userId));
    }
    return c.text('Changed');
  });

  app.get('/users/:uid', async (c) => {
    const { db } = appContext();
    const raw = parseInteger(c.req.param('uid'), 'user_id');
    const userId = raw === -1 ? await requireUser(c) : raw;
    return c.json(await getUser(db, userId));
  });

  app.get('/users', async (c) => {
    const { db, settings } = appContext();
    const caller = await optionalUser(c);
    const args = await readArgs(c);
    const page = readPage(args, settings.params.max_get_count);
    const hidden = caller === undefined ? new Set<number>() : await blockedBy(db, caller);
    return continuePage(c, await listUsers(db, page, textArg(args, 'displayname'), hidden, settings.maxScanItems));
  });

  app.put('/user_status', async (c) => {
    const context = appContext();
    const userId = await requireUser(c);
    const raw = textArg(await readArgs(c), 'status');
    const status = parseInteger(raw, 'status');
    if (status > 3) throw forbidden(`status is invalid: ${status} is above 3`);
    if (status < 0) throw forbidden(`status is invalid: ${status} is below 0`);
    await changeStatus(context, userId, status);
    return c.text('Changed');
  });

  app.get('/params', policy({ budget: 'none', session: false }), (c) => c.json(appContext().settings.params));
}
