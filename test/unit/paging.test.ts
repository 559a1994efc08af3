import { collectPage, type Db, type Item, type Query } from '../../lambdas/domain/db';
import { idRange } from '../../lambdas/domain/table';

/** A store whose Query answers pages of `perPage` items from `items`, recording each request. */
function pagedStore(items: Item[], perPage: number) {
  const requests: Array<{ query: Query; start?: Item }> = [];
  const db = {
    queryPage: async (query: Query, start?: Item) => {
      requests.push({ query, start });
      const from = start ? Number(start.n) + 1 : 0;
      const page = items.slice(from, from + perPage);
      const more = from + perPage < items.length;
      return { items: page, scanned: page.length, ...(more ? { next: { n: from + perPage - 1 } } : {}) };
    },
  } as unknown as Db;
  return { db, requests };
}

const numbered = (count: number) => Array.from({ length: count }, (_, n) => ({ n }));

describe('collectPage: one REST page from a Query read page by page', () => {
  test('count 0 sends no request', async () => {
    const { db, requests } = pagedStore(numbered(5), 2);
    expect(await collectPage(db, { partition: 'p' }, 0, (found) => found, { limit: () => 2 })).toEqual({ items: [] });
    expect(requests).toEqual([]);
  });

  test('reads on until the page is full, keeping what `take` keeps; a full page has no `next`', async () => {
    const { db, requests } = pagedStore(numbered(10), 3);
    const odd = await collectPage(db, { partition: 'p', descending: true }, 3, (found) => found.filter((item) => Number(item.n) % 2 === 1).map((item) => item.n), {
      limit: (scanned) => 3 + scanned,
    });
    expect(odd).toEqual({ items: [1, 3, 5] });
    // The query is sent as given, with the limit computed from what was read so far, from where the last page stopped.
    expect(requests.map((r) => [r.query.limit, r.query.descending, r.start?.n])).toEqual([
      [3, true, undefined],
      [6, true, 2],
    ]);
  });

  test('the Query running out ends a short page without `next`; the budget ends one with it', async () => {
    const { db } = pagedStore(numbered(4), 2);
    expect(await collectPage(db, { partition: 'p' }, 10, (found) => found, { limit: () => 2 })).toEqual({ items: numbered(4) });
    const budgeted = pagedStore(numbered(10), 2);
    expect(await collectPage(budgeted.db, { partition: 'p' }, 10, () => [], { limit: () => 2, budget: 4 })).toEqual({ items: [], next: { n: 3 } });
    expect(budgeted.requests).toHaveLength(2);
  });
});

describe('idRange: the sort key bounds of a page of ids', () => {
  test('ascending from the start id to the top, descending from it down to 0', () => {
    expect(idRange('MSG#', 42, 1)).toEqual({ from: 'MSG#0000000042', to: 'MSG#9999999999', descending: false });
    expect(idRange('MSG#', 42, 0)).toEqual({ from: 'MSG#0000000000', to: 'MSG#0000000042', descending: true });
  });
});
