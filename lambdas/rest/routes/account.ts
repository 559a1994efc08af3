import type { Hono } from 'hono';
import { blockedBy } from '../../domain/blocks';
import { forbidden, notFound } from '../../domain/errors';
import { event } from '../../domain/events';
import { audience, publish } from '../../domain/fanout';
import { fileKeys, storeImage } from '../../domain/files';
import { changeStatus } from '../../domain/presence';
import { sessionCookieSameSite } from '../../domain/origins';
import { createSession, SESSION_COOKIE } from '../../domain/sessions';
import {
  checkCredentials,
  getUser,
  listUsers,
  registerUser,
  updateProfile,
  validateDisplayName,
  validateLoginInput,
  validatePassword,
  validateUsername,
} from '../../domain/users';
import { appContext } from '../../runtime';
import { countLoginAttempt, tooManyRequests } from '../rate-limit';
import { fileArg, jsonObject, optionalUser, parseInteger, readArgs, readJson, readPage, requireUser, stringField, textArg } from '../http';

/** Registration, login, profile, presence and the user directory. */
export function accountRoutes(app: Hono): void {
  app.post('/register', async (c) => {
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
    const { db, settings } = appContext();
    const body = jsonObject(await readJson(c));
    const username = stringField(body, 'username');
    const password = stringField(body, 'password');
    // Before any table call: a 3,000-character username would fail as a DynamoDB key (a 500), not as a login.
    validateLoginInput(username, password);
    // Before the password check: a locked-out username is refused even with the right password.
    const attempt = await countLoginAttempt(username);
    if (attempt.refused) return tooManyRequests(c, attempt.refused);
    const userId = await checkCredentials(db, username, password);
    if (userId === undefined) throw notFound('Invalid username or password');
    await attempt.succeeded();
    const token = await createSession(db, userId, settings);
    const attributes = [
      `${SESSION_COOKIE}=${token}`,
      `Max-Age=${settings.sessionLifetimeSeconds}`,
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
    ];
    c.header('Set-Cookie', attributes.join('; '));
    return c.text(token);
  });

  app.put('/register', async (c) => {
    const context = appContext();
    const userId = await requireUser(c);
    const args = await readArgs(c);
    const username = textArg(args, 'username');
    const password = textArg(args, 'password');
    const displayname = textArg(args, 'displayname');
    const avatarFile = fileArg(args, 'avatar');
    if (username !== undefined) validateUsername(username, context.settings.params.min_username_length);
    if (password !== undefined) validatePassword(password, context.settings.params.min_password_length);
    if (displayname !== undefined) validateDisplayName(displayname);
    const previous = avatarFile ? (await getUser(context.db, userId)).avatar : undefined;
    const avatar = avatarFile ? await storeImage(context.files, avatarFile, fileKeys.userAvatar) : undefined;
    const changed = await updateProfile(context.db, userId, { username, password, displayname, avatar });
    if (avatar && previous) await context.files.delete(fileKeys.userAvatar(previous));
    if (Object.keys(changed).length > 0) {
      await publish(context, event('user_changed', { id: userId, ...changed }), audience.observersOf(userId));
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
    return c.json(await listUsers(db, page, textArg(args, 'displayname'), hidden));
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

  app.get('/params', (c) => c.json(appContext().settings.params));
}
