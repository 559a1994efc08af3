import { absent, attr, type Db, ex, isConditionFailure } from './db';
import { keys } from './table';
import { build } from './items';
import { badRequest, forbidden, TEXT } from './errors';

export const MAX_PREFERENCE_KEY_LENGTH = 64;
export const MAX_PREFERENCE_VALUE_LENGTH = 128;
const MAX_WRITE_ATTEMPTS = 5;

const tooMany = (maxKeys: number) => `Cannot store more than ${maxKeys} preferences`;

/** A user's client preferences: string keys to string values. */
export type Preferences = Map<string, string>;

/**
 * One item per user. The map is kept as JSON text, so any key (even an empty one) is stored as given;
 * `version` makes a merge a compare-and-set.
 */
const preferencesKey = keys.preferences;

/**
 * A JSON object of preferences; non-string values are kept as their JSON text (upstream stores text).
 * 400 for anything that is not an object, and for keys or values that are too long.
 */
export function parsePreferences(body: unknown): Preferences {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) throw badRequest(TEXT.expectedJsonObject);
  const out: Preferences = new Map();
  for (const [key, raw] of Object.entries(body)) {
    const value = typeof raw === 'string' ? raw : JSON.stringify(raw);
    if (key.length > MAX_PREFERENCE_KEY_LENGTH) throw badRequest(`Preference key should be at most ${MAX_PREFERENCE_KEY_LENGTH} characters long`);
    if (value.length > MAX_PREFERENCE_VALUE_LENGTH) {
      throw badRequest(`Preference '${key}' should be at most ${MAX_PREFERENCE_VALUE_LENGTH} characters long`);
    }
    out.set(key, value);
  }
  return out;
}

async function read(db: Db, userId: number): Promise<{ preferences: Preferences; version: number }> {
  const item = await db.get(preferencesKey(userId), { consistent: true });
  if (!item) return { preferences: new Map(), version: 0 };
  return { preferences: new Map(Object.entries(JSON.parse(String(item.values)) as Record<string, string>)), version: Number(item.version) };
}

export async function getPreferences(db: Db, userId: number): Promise<Preferences> {
  return (await read(db, userId)).preferences;
}

/** `PUT /preferences`: sets the given keys and keeps the others; 403 when the result has too many keys. */
export async function mergePreferences(db: Db, userId: number, change: Preferences, maxKeys: number): Promise<void> {
  for (let attempt = 1; ; attempt++) {
    const { preferences, version } = await read(db, userId);
    for (const [key, value] of change) preferences.set(key, value);
    if (preferences.size > maxKeys) throw forbidden(tooMany(maxKeys));
    try {
      await db.put(
        build.preferences(userId, JSON.stringify(Object.fromEntries(preferences)), version + 1),
        { if: version === 0 ? absent : ex`${attr('version')} = ${version}` },
      );
      return;
    } catch (error) {
      // Another write came in between: merge into its result.
      if (!isConditionFailure(error) || attempt >= MAX_WRITE_ATTEMPTS) throw error;
    }
  }
}

/** `POST /preferences`: the given keys become the whole set (and a merge racing it merges into it). */
export async function replacePreferences(db: Db, userId: number, preferences: Preferences, maxKeys: number): Promise<void> {
  if (preferences.size > maxKeys) throw forbidden(tooMany(maxKeys));
  await db.update(preferencesKey(userId), { set: { values: JSON.stringify(Object.fromEntries(preferences)) }, add: { version: 1 } });
}
