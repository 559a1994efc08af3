import { absent, collectPage, type Db, type Item, keyOf, nextId, orThrow, type TransactWrite } from './db';
import { badRequest, forbidden, notFound, TEXT } from './errors';
import { DUMMY_PASSWORD_HASH, hashPassword, verifyPassword } from './password';
import { DEFAULT_MAX_SCAN_ITEMS } from './config';
import { nextStartAfter, type ScannedPage } from './messages';
import { build } from './items';
import { GSI1, keys, padId } from './table';

export const MAX_NAME_LENGTH = 64;

/** The public user object: `{id, name, status, avatar?}`. */
export interface User {
  id: number;
  name: string;
  status: number;
  avatar?: string;
}

export interface UserRecord extends User {
  username: string;
  lastStatus: number;
}

export function publicUser(record: Item): User {
  const user: User = { id: Number(record.id), name: String(record.name), status: Number(record.status ?? 0) };
  if (typeof record.avatar === 'string') user.avatar = record.avatar;
  return user;
}

export async function getUserRecord(db: Db, userId: number): Promise<UserRecord | undefined> {
  const item = await db.get(keys.user(userId));
  if (!item) return undefined;
  return {
    ...publicUser(item),
    username: String(item.username),
    lastStatus: Number(item.lastStatus ?? 1),
  };
}

export async function getUser(db: Db, userId: number): Promise<User> {
  const record = await getUserRecord(db, userId);
  if (!record) throw notFound(TEXT.userNotFound);
  return publicUser(record as unknown as Item);
}

/**
 * Control, format (zero-width, bidi controls), private-use, unassigned and default-ignorable characters:
 * invisible or reordering, so `ali\u200bce` or an RTL-override name would look like another user's.
 */
const INVISIBLE = /[\p{Cc}\p{Cf}\p{Zl}\p{Zp}\p{Co}\p{Cn}\p{Cs}\p{Default_Ignorable_Code_Point}]/u;
/** Characters a display name may not contain: controls, line separators and bidi embeddings/overrides/isolates. */
const DISPLAY_NAME_REFUSED = /[\p{Cc}\p{Zl}\p{Zp}\u202a-\u202e\u2066-\u2069]/u;

/** Scripts told apart for the mixed-script rule; a letter of another script counts as `Other`. */
const SCRIPTS = ['Latin', 'Cyrillic', 'Greek', 'Armenian', 'Hebrew', 'Arabic', 'Georgian', 'Han', 'Hiragana', 'Katakana', 'Hangul', 'Bopomofo', 'Thai', 'Devanagari'].map(
  (name) => [name, new RegExp(`\\p{Script=${name}}`, 'u')] as const,
);
/** Scripts that are written together (UTS #39 "highly restrictive"): Japanese, Chinese and Korean with Latin. */
const SCRIPT_COMBINATIONS = [
  new Set(['Latin', 'Han', 'Hiragana', 'Katakana']),
  new Set(['Latin', 'Han', 'Bopomofo']),
  new Set(['Latin', 'Han', 'Hangul']),
];

function scriptsOf(text: string): Set<string> {
  const scripts = new Set<string>();
  for (const char of text) {
    if (!/[\p{L}\p{N}]/u.test(char) || /[\p{Script=Common}\p{Script=Inherited}]/u.test(char)) continue;
    scripts.add(SCRIPTS.find(([, pattern]) => pattern.test(char))?.[0] ?? 'Other');
  }
  return scripts;
}

/**
 * Cyrillic and Greek letters that look like Latin ones (after case folding), folded into the Latin letter
 * for uniqueness only: an all-Cyrillic `асе` would otherwise be a second account next to `ace`.
 */
const CONFUSABLES: Record<string, string> = {
  а: 'a', с: 'c', ԁ: 'd', е: 'e', һ: 'h', і: 'i', ј: 'j', ӏ: 'l', о: 'o', р: 'p', ԛ: 'q', ѕ: 's', ԝ: 'w', х: 'x', у: 'y', ү: 'y',
  α: 'a', ε: 'e', ι: 'i', κ: 'k', ν: 'v', ο: 'o', ρ: 'p', τ: 't', υ: 'u', χ: 'x',
};

/** NFKC, trimmed, inner whitespace runs as one space: the username as stored. */
export function canonicalUsername(username: string): string {
  return username.normalize('NFKC').trim().replace(/\s+/gu, ' ');
}

/**
 * The key a username is unique by (docs/security.md, "Usernames"): NFKC, trimmed, case-folded (full
 * folding, so `ß` = `ss`), look-alike Cyrillic and Greek letters folded to Latin. Names with invisible,
 * control or bidi characters, or mixing scripts (`аlice` with a Cyrillic `а`), are refused (400).
 */
export function usernameKey(username: string): string {
  const canonical = canonicalUsername(username);
  if (INVISIBLE.test(canonical)) throw badRequest('Username should not contain control, invisible or direction-changing characters');
  const scripts = scriptsOf(canonical);
  if (scripts.size > 1 && !SCRIPT_COMBINATIONS.some((allowed) => [...scripts].every((script) => allowed.has(script)))) {
    throw badRequest('Username should not mix scripts (such as Latin and Cyrillic letters)');
  }
  const folded = canonical.toUpperCase().toLowerCase().normalize('NFKC');
  return Array.from(folded, (char) => CONFUSABLES[char] ?? char).join('');
}

/** The key of a name that may be anything (a login attempt): undefined when no account can have it. */
export function usernameKeyOrUndefined(username: string): string | undefined {
  try {
    return usernameKey(username);
  } catch {
    return undefined;
  }
}

export function validateUsername(username: string, minLength: number): void {
  const canonical = canonicalUsername(username);
  if (canonical.length < minLength) throw badRequest(`Username should be at least ${minLength} characters long`);
  if (canonical.length > MAX_NAME_LENGTH) throw badRequest(`Username should be at most ${MAX_NAME_LENGTH} characters long`);
  usernameKey(username);
}

export function validatePassword(password: string, minLength: number): void {
  if (password.length < minLength) throw badRequest(`Password should be at least ${minLength} characters long`);
  if (password.length > 1024) throw badRequest('Password should be at most 1024 characters long');
}

export const MAX_PASSWORD_LENGTH = 1024;

/**
 * The bounds of a login's inputs, checked before the table sees them (docs/security.md, "Request bodies"). Only
 * upper bounds: the minimum lengths apply to new accounts, and a short guess is simply a wrong password.
 */
export function validateLoginInput(username: string, password: string): void {
  if (username.length === 0) throw badRequest('Username should not be empty');
  if (username.length > MAX_NAME_LENGTH) throw badRequest(`Username should be at most ${MAX_NAME_LENGTH} characters long`);
  if (password.length > MAX_PASSWORD_LENGTH) throw badRequest(`Password should be at most ${MAX_PASSWORD_LENGTH} characters long`);
}

export function validateDisplayName(name: string): void {
  if (name.length < 1) throw badRequest('Display name should not be empty');
  if (name.length > MAX_NAME_LENGTH) throw badRequest(`Display name should be at most ${MAX_NAME_LENGTH} characters long`);
  if (DISPLAY_NAME_REFUSED.test(name)) throw badRequest('Display name should not contain control or direction-override characters');
}

const USERNAME_TAKEN = 'Username already exists';

/** Creates the account; the username is claimed atomically with the user row. */
export async function registerUser(
  db: Db,
  input: { username: string; displayname: string; password: string },
): Promise<number> {
  const passwordHash = await hashPassword(input.password);
  const id = await nextId(db, 'user');
  await orThrow(
    db.transact([
      { put: build.credentials(usernameKey(input.username), id, passwordHash), if: absent },
      { put: build.user(id, canonicalUsername(input.username), input.displayname) },
    ]),
    () => forbidden(USERNAME_TAKEN),
  );
  return id;
}

/**
 * The credentials item of a username: by its key, else (accounts registered before usernames were
 * normalised) by the name exactly as it was registered.
 */
async function findCredentials(db: Db, username: string): Promise<Item | undefined> {
  const key = usernameKeyOrUndefined(username);
  const candidates = [...new Set([...(key !== undefined ? [key] : []), username])];
  for (const candidate of candidates) {
    if (candidate.length === 0 || candidate.length > 4 * MAX_NAME_LENGTH) continue;
    const item = await db.get(keys.credentials(candidate));
    if (item) return item;
  }
  return undefined;
}

/** Returns the user id for valid credentials, undefined otherwise (in constant-ish time). */
export async function checkCredentials(db: Db, username: string, password: string): Promise<number | undefined> {
  const item = await findCredentials(db, username);
  const ok = await verifyPassword(password, item ? String(item.passwordHash) : DUMMY_PASSWORD_HASH);
  return item && ok ? Number(item.userId) : undefined;
}

/**
 * Applies a profile edit. Returns which public fields changed, so callers emit `user_changed` only then
 * (docs/upstream.md, decision 8).
 */
export async function updateProfile(
  db: Db,
  userId: number,
  change: { username?: string; password?: string; displayname?: string; avatar?: string },
): Promise<{ name?: string; avatar?: string }> {
  const current = await getUserRecord(db, userId);
  if (!current) throw notFound(TEXT.userNotFound);
  const transact: TransactWrite[] = [];
  const set: Record<string, unknown> = {};
  const changed: { name?: string; avatar?: string } = {};
  const old = await findCredentials(db, current.username);
  const credentialsKey = old ? keyOf(old) : keys.credentials(usernameKey(current.username));
  const newKey = change.username !== undefined ? keys.credentials(usernameKey(change.username)) : credentialsKey;

  if (change.username !== undefined && canonicalUsername(change.username) !== current.username) {
    set.username = canonicalUsername(change.username);
  }
  if (newKey.pk !== credentialsKey.pk) {
    const passwordHash = change.password !== undefined ? await hashPassword(change.password) : old?.passwordHash;
    transact.push({ delete: credentialsKey }, { put: build.credentials(usernameKey(change.username as string), userId, passwordHash as string), if: absent });
  } else if (change.password !== undefined) {
    transact.push({ update: credentialsKey, changes: { set: { passwordHash: await hashPassword(change.password) } } });
  }
  if (change.displayname !== undefined && change.displayname !== current.name) {
    set.name = change.displayname;
    changed.name = change.displayname;
  }
  if (change.avatar !== undefined && change.avatar !== current.avatar) {
    set.avatar = change.avatar;
    changed.avatar = change.avatar;
  }
  if (Object.keys(set).length > 0) transact.push({ update: keys.user(userId), changes: { set } });
  if (transact.length === 0) return changed;
  await orThrow(db.transact(transact), () => forbidden(USERNAME_TAKEN));
  return changed;
}

export interface Page {
  startId: number;
  count: number;
  /** 0 = descending (ids <= startId), 1 = ascending (ids >= startId). */
  order: 0 | 1;
}

/**
 * `GET /users`: one page of all users, optionally filtered by a case-sensitive display-name substring,
 * evaluating at most `maxScan` users (a filter matching nobody would walk the whole table otherwise);
 * when the budget ends first, `nextStartId` says where the next request goes on.
 */
export async function listUsers(
  db: Db,
  page: Page,
  displayname: string | undefined,
  hidden: Set<number>,
  maxScan = DEFAULT_MAX_SCAN_ITEMS,
): Promise<ScannedPage<User>> {
  const filtered = displayname !== undefined || hidden.size > 0;
  // A full page must always be possible: the budget is never below the page size.
  const budget = Math.max(maxScan, page.count);
  const { items, next } = await collectPage(
    db,
    {
      index: true,
      partition: keys.allUsersIndex(),
      ...(page.order === 1 ? { from: padId(page.startId) } : { to: padId(page.startId) }),
      descending: page.order !== 1,
    },
    page.count,
    (found) => found.map(publicUser).filter((user) => !hidden.has(user.id) && (displayname === undefined || user.name.includes(displayname))),
    { budget, limit: (scanned) => Math.min(budget - scanned, displayname !== undefined ? Math.max(page.count * 2, 100) : Math.max(page.count, 1) * 2) },
  );
  const nextStartId = filtered && next ? nextStartAfter(next[GSI1.sort], page.order) : undefined;
  return nextStartId === undefined ? { items } : { items, nextStartId };
}
