import { TestSystem, type TestUser } from './support/system';

let system: TestSystem;
beforeAll(async () => {
  system = await TestSystem.start();
});
afterAll(() => system.stop());

const get = async (as: TestUser) => {
  const response = await system.rest('GET', '/preferences', { as });
  expect(response.status).toBe(200);
  return response.json;
};

const many = (count: number, prefix = 'k') => Object.fromEntries(Array.from({ length: count }, (_, i) => [`${prefix}${i}`, String(i)]));

describe('preferences', () => {
  test('start empty; PUT merges, POST replaces; non-string values are kept as their JSON text; per user', async () => {
    const [alice, bob] = [await system.user(), await system.user()];
    expect(await get(alice)).toEqual({});

    expect(await system.rest('PUT', '/preferences', { as: alice, json: { theme: 'dark', volume: 0.5, flags: { a: [1, true] }, none: null } })).toMatchObject({
      status: 200,
      text: 'Changed',
    });
    expect(await get(alice)).toEqual({ theme: 'dark', volume: '0.5', flags: '{"a":[1,true]}', none: 'null' });

    expect((await system.rest('PUT', '/preferences', { as: alice, json: { theme: 'light', lang: 'ru', '': 'empty key' } })).status).toBe(200);
    expect(await get(alice)).toEqual({ theme: 'light', volume: '0.5', flags: '{"a":[1,true]}', none: 'null', lang: 'ru', '': 'empty key' });
    expect((await system.rest('PUT', '/preferences', { as: alice, json: {} })).status).toBe(200);
    expect(await get(alice)).toEqual({ theme: 'light', volume: '0.5', flags: '{"a":[1,true]}', none: 'null', lang: 'ru', '': 'empty key' });

    expect(await system.rest('POST', '/preferences', { as: alice, json: { only: 'this', __proto__x: 'x' } })).toMatchObject({ status: 200, text: 'Replaced' });
    expect(await get(alice)).toEqual({ only: 'this', __proto__x: 'x' });
    // "__proto__" is an ordinary key, not a prototype.
    expect((await system.rest('PUT', '/preferences', { as: alice, json: '{"__proto__":"p"}' })).status).toBe(200);
    expect((await system.rest('GET', '/preferences', { as: alice })).text).toBe('{"only":"this","__proto__x":"x","__proto__":"p"}');
    expect((await system.rest('POST', '/preferences', { as: alice, json: {} })).status).toBe(200);
    expect(await get(alice)).toEqual({});

    expect(await get(bob)).toEqual({});
  });

  test('limits: key <= 64 and value <= 128 characters (400), at most max_user_preference_keys (128) keys (403); refused writes change nothing', async () => {
    const alice = await system.user();
    await system.rest('POST', '/preferences', { as: alice, json: { kept: 'yes' } });
    const cases: Array<[string, unknown, number, string]> = [
      ['PUT', { ['k'.repeat(65)]: 'v' }, 400, 'Preference key should be at most 64 characters long'],
      ['POST', { ['k'.repeat(65)]: 'v' }, 400, 'Preference key should be at most 64 characters long'],
      ['PUT', { long: 'v'.repeat(129) }, 400, "Preference 'long' should be at most 128 characters long"],
      ['PUT', { long: ['v'.repeat(126)] }, 400, "Preference 'long' should be at most 128 characters long"],
      ['POST', many(129), 403, 'Cannot store more than 128 preferences'],
      ['PUT', many(128), 403, 'Cannot store more than 128 preferences'],
    ];
    for (const [method, json, status, text] of cases) {
      const response = await system.rest(method, '/preferences', { as: alice, json });
      expect({ method, status: response.status, text: response.text }).toEqual({ method, status, text });
    }
    expect(await get(alice)).toEqual({ kept: 'yes' });

    // Exactly at the limits is fine.
    const edge = { ['k'.repeat(64)]: 'v'.repeat(128), quoted: 'v'.repeat(126) };
    expect((await system.rest('PUT', '/preferences', { as: alice, json: edge })).status).toBe(200);
    expect((await system.rest('PUT', '/preferences', { as: alice, json: many(125) })).status).toBe(200);
    expect(Object.keys(await get(alice))).toHaveLength(128);
    expect(await system.rest('PUT', '/preferences', { as: alice, json: { one: 'more' } })).toMatchObject({ status: 403 });
    // Overwriting existing keys does not add any.
    expect((await system.rest('PUT', '/preferences', { as: alice, json: { kept: 'still' } })).status).toBe(200);
    expect((await system.rest('POST', '/preferences', { as: alice, json: many(128, 'new') })).status).toBe(200);
    expect(Object.keys(await get(alice))).toEqual(Object.keys(many(128, 'new')));
  });

  test('bad input: not JSON, not an object, no session', async () => {
    const alice = await system.user();
    for (const method of ['PUT', 'POST']) {
      expect(await system.rest(method, '/preferences', { as: alice, json: 'not json' })).toMatchObject({ status: 400, text: "Couldn't parse JSON body" });
      expect(await system.rest(method, '/preferences', { as: alice })).toMatchObject({ status: 400, text: "Couldn't parse JSON body" });
      expect(await system.rest(method, '/preferences', { as: alice, json: ['a'] })).toMatchObject({ status: 400, text: 'Expected a JSON object' });
      expect(await system.rest(method, '/preferences', { as: alice, json: '"text"' })).toMatchObject({ status: 400, text: 'Expected a JSON object' });
      expect(await system.rest(method, '/preferences', { as: alice, json: 'null' })).toMatchObject({ status: 400, text: 'Expected a JSON object' });
      expect(await system.rest(method, '/preferences', { json: {} })).toMatchObject({ status: 400, text: 'Invalid token' });
    }
    expect(await system.rest('GET', '/preferences')).toMatchObject({ status: 400, text: 'Invalid token' });
    expect(await get(alice)).toEqual({});
  });

  test('concurrent merges keep every key', async () => {
    const alice = await system.user();
    await Promise.all(Array.from({ length: 5 }, (_, i) => system.rest('PUT', '/preferences', { as: alice, json: { [`key${i}`]: String(i) } })));
    expect(await get(alice)).toEqual({ key0: '0', key1: '1', key2: '2', key3: '3', key4: '4' });
  });
});
