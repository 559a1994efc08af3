import { TestSystem, type TestUser } from './support/system';

/**
 * Filtered listings evaluate at most MAX_SCAN_ITEMS items per request and say where to go on
 * (docs/security.md, "Unbounded reads"): the body stays upstream's array, `X-Next-Start-Id` carries the
 * next `start_id`.
 */
const MAX_SCAN = 4;
// Filtered pages ask for fewer items than the budget (it is never below the page size).

let system: TestSystem;
beforeAll(async () => {
  system = await TestSystem.start({ env: { MAX_SCAN_ITEMS: String(MAX_SCAN) } });
});
afterAll(() => system.stop());

type Reply = Awaited<ReturnType<TestSystem['rest']>>;
const next = (reply: Reply) => reply.headers.get('x-next-start-id');

/** Follows X-Next-Start-Id from `first` until a page is full or the listing ends; returns every page. */
async function walk(path: (startId: number) => string, first: number, call: (url: string) => Promise<Reply>): Promise<Reply[]> {
  const pages: Reply[] = [];
  let startId: number | undefined = first;
  while (startId !== undefined && pages.length < 100) {
    const reply = await call(path(startId));
    expect(reply.status).toBe(200);
    pages.push(reply);
    const header = next(reply);
    startId = header === null ? undefined : Number(header);
  }
  return pages;
}

test('GET /users?displayname=: a filter matching nobody stops after the budget and says where to go on', async () => {
  const users: TestUser[] = [];
  for (let i = 0; i < 9; i++) users.push(await system.user(`Person ${i}`));
  const needle = await system.user('Needle');
  const ids = [...users, needle].map((u) => u.id);

  const first = await system.rest('GET', '/users?start_id=0&count=3&order=1&displayname=Nobody');
  expect(first.status).toBe(200);
  expect(first.json).toEqual([]);
  // MAX_SCAN users evaluated (ids from 1 in this table), the next request starts after the last of them.
  expect(next(first)).toBe(String(ids[MAX_SCAN - 1] + 1));
  expect(first.headers.get('access-control-expose-headers')).toContain('X-Next-Start-Id');

  // Going on finds the needle at the end, each request within the budget; the last page carries no header.
  const ascending = await walk((s) => `/users?start_id=${s}&count=3&order=1&displayname=Needle`, 0, (url) => system.rest('GET', url));
  expect(ascending.flatMap((p) => p.json)).toEqual([{ id: needle.id, name: 'Needle', status: 0 }]);
  expect(ascending.length).toBeGreaterThanOrEqual(Math.ceil(ids.length / MAX_SCAN));
  expect(next(ascending.at(-1)!)).toBeNull();
  // A page filled within the budget needs no header.
  const descending = await system.rest('GET', '/users?start_id=2147483647&count=3&displayname=Person');
  expect(descending.json.map((u: { name: string }) => u.name)).toEqual(['Person 8', 'Person 7', 'Person 6']);
  expect(next(descending)).toBeNull();
}, 120_000);

test('POST /channels/{cid}/messages_search: bounded per request, continued by X-Next-Start-Id', async () => {
  const owner = await system.user();
  const serverId = await system.server(owner);
  const channelId = Number((await system.rest('POST', `/servers/${serverId}/channels`, { as: owner, json: { name: 'chat', type: 0 } })).text);
  const ids: number[] = [];
  for (let i = 0; i < 12; i++) {
    const posted = await system.rest('POST', `/channels/${channelId}/messages`, { as: owner, json: { text: i === 0 ? 'the oldest secret' : `filler ${i}` } });
    ids.push(Number(posted.text));
  }
  const search = (startId: number) => system.rest('POST', `/channels/${channelId}/messages_search?start_id=${startId}&count=3`, { as: owner, json: { content: 'secret' } });
  const first = await search(2147483647);
  expect(first.json).toEqual([]);
  // Newest first: MAX_SCAN messages evaluated, the next request starts below the last of them.
  expect(next(first)).toBe(String(ids[ids.length - MAX_SCAN] - 1));
  const pages = await walk((s) => String(s), 2147483647, (s) => search(Number(s)));
  expect(pages.flatMap((p) => p.json).map((m: { id: number; text: string }) => [m.id, m.text])).toEqual([[ids[0], 'the oldest secret']]);
  // An unfiltered page is as before: full, no header.
  const plain = await system.rest('GET', `/channels/${channelId}/messages?start_id=2147483647&count=5`, { as: owner });
  expect(plain.json).toHaveLength(5);
  expect(next(plain)).toBeNull();
}, 120_000);
