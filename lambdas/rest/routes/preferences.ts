import type { Hono } from 'hono';
import { getPreferences, mergePreferences, parsePreferences, replacePreferences } from '../../domain/preferences';
import { appContext } from '../../runtime';
import { readJson, requireUser } from '../http';
import type { RestEnv } from '../auth';

/** The client's key-value preferences: read, merge (PUT), replace (POST). */
export function preferenceRoutes(app: Hono<RestEnv>): void {
  app.get('/preferences', async (c) => {
    const { db } = appContext();
    const userId = await requireUser(c);
    return c.json(Object.fromEntries(await getPreferences(db, userId)));
  });

  app.put('/preferences', async (c) => {
    const { db, settings } = appContext();
    const userId = await requireUser(c);
    await mergePreferences(db, userId, parsePreferences(await readJson(c)), settings.params.max_user_preference_keys);
    return c.text('Changed');
  });

  app.post('/preferences', async (c) => {
    const { db, settings } = appContext();
    const userId = await requireUser(c);
    await replacePreferences(db, userId, parsePreferences(await readJson(c)), settings.params.max_user_preference_keys);
    return c.text('Replaced');
  });
}
