import { TestSystem } from './support/system';

/** Usernames are unique by a normalised key (docs/security.md, "Usernames"); display names refuse controls. */
let system: TestSystem;
beforeAll(async () => {
  system = await TestSystem.start();
});
afterAll(() => system.stop());

const register = (username: string, displayname = 'Someone') => system.rest('POST', '/register', { json: { username, displayname, password: 'password1' } });
const taken = { status: 403, text: 'Username already exists' };

test('case, surrounding spaces and compatibility forms of a taken name are the same name', async () => {
  expect(await register('alice')).toMatchObject({ status: 200 });
  for (const variant of ['Alice', 'alice ', ' ALICE', 'ａｌｉｃｅ', 'ali\u00a0'.trim() + 'ce']) {
    expect({ variant, ...(await register(variant)) }).toMatchObject({ variant, ...taken });
  }
  expect(await register('straße')).toMatchObject({ status: 200 });
  expect(await register('STRASSE')).toMatchObject(taken);
  // Logging in takes any spelling of the same name.
  const plain = await system.rest('POST', '/auth', { json: { username: 'alice', password: 'password1' } });
  const shouted = await system.rest('POST', '/auth', { json: { username: ' ALICE ', password: 'password1' } });
  expect(shouted.status).toBe(200);
  const id = async (token: string) => (await system.rest('GET', '/users/-1', { token })).json.id;
  expect(await id(shouted.text)).toBe(await id(plain.text));
});

test('invisible, bidi-control and mixed-script names are refused; whole-script look-alikes are the same name', async () => {
  await register('bobby');
  expect(await register('ali\u200bce')).toMatchObject({ status: 400, text: 'Username should not contain control, invisible or direction-changing characters' });
  expect(await register('\u202eecila')).toMatchObject({ status: 400 });
  expect(await register('bob\u2066by')).toMatchObject({ status: 400 });
  expect(await register('bob\u0000by')).toMatchObject({ status: 400 });
  // A Cyrillic `а` among Latin letters.
  expect(await register('\u0430lice')).toMatchObject({ status: 400, text: 'Username should not mix scripts (such as Latin and Cyrillic letters)' });
  // All Cyrillic, but looking like a Latin name that exists: folded to it.
  expect(await register('ace')).toMatchObject({ status: 200 });
  expect(await register('\u0430\u0441\u0435')).toMatchObject(taken);
  // Scripts written together stay allowed, as do other single-script names.
  expect(await register('tanaka田中たなか')).toMatchObject({ status: 200 });
  expect(await register('Дмитрий')).toMatchObject({ status: 200 });
  expect(await register('дмитрий')).toMatchObject(taken);
});

test('renaming follows the same rules: a new spelling of one\'s own name is allowed, someone else\'s is taken', async () => {
  await register('carol');
  await register('dave');
  const login = await system.rest('POST', '/auth', { json: { username: 'carol', password: 'password1' } });
  const as = { token: login.text };
  expect(await system.rest('PUT', '/register', { ...as, form: { username: 'Carol', current_password: 'password1' } })).toMatchObject({ status: 200 });
  expect(await system.rest('PUT', '/register', { ...as, form: { username: 'DAVE ', current_password: 'password1' } })).toMatchObject(taken);
  expect(await system.rest('PUT', '/register', { ...as, form: { username: 'ca\u200brol', current_password: 'password1' } })).toMatchObject({ status: 400 });
  expect((await system.rest('POST', '/auth', { json: { username: 'CAROL', password: 'password1' } })).status).toBe(200);
});

test('display names refuse control and direction-override characters', async () => {
  expect(await register('erin', 'Erin\u202e')).toMatchObject({ status: 400, text: 'Display name should not contain control or direction-override characters' });
  expect(await register('erin', 'Er\u0007in')).toMatchObject({ status: 400 });
  expect(await register('erin', 'Line\nbreak')).toMatchObject({ status: 400 });
  expect(await register('erin', 'Érin ☕ אריאל')).toMatchObject({ status: 200 });
  const login = await system.rest('POST', '/auth', { json: { username: 'erin', password: 'password1' } });
  expect(await system.rest('PUT', '/register', { token: login.text, form: { displayname: 'x\u2067y' } })).toMatchObject({ status: 400 });
});
