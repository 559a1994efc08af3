import { keys } from './table';

/**
 * The store port: everything the domain asks of the single table (docs/data-model.md, "Store port").
 * The domain depends on this interface only; the DynamoDB adapter (lambdas/aws/dynamodb-store.ts) renders
 * the expressions below into DynamoDB's placeholders and maps its errors onto `ConditionFailed` and
 * `TransactionConflict`.
 */

export type Item = Record<string, unknown>;
export interface Key {
  pk: string;
  sk: string;
}

/** An attribute name written as a placeholder (`#n0`): needed for DynamoDB's reserved words (`value`, `ttl`, `status`, ...). */
export class Name {
  constructor(readonly name: string) {}
}

/**
 * A piece of DynamoDB expression language whose values (and `attr()` names) the adapter turns into
 * placeholders; built with the `ex` template tag. Pieces nest: `ex\`${a} AND ${b}\``.
 */
export class Expr {
  constructor(
    readonly strings: readonly string[],
    readonly args: readonly unknown[],
  ) {}
}

/** `ex\`openedAt < ${postedAt}\``: the interpolated values become `:v` placeholders, `attr(...)` a `#n` one. */
export function ex(strings: TemplateStringsArray, ...args: unknown[]): Expr {
  return new Expr([...strings], args);
}

export function attr(name: string): Name {
  return new Name(name);
}

/** One element of a list attribute (`roles[2]`). */
export function element(name: string, index: number): Expr {
  return new Expr(['', `[${Math.trunc(index)}]`], [new Name(name)]);
}

/** Joins conditions with AND (none: undefined, so the write is unconditional). */
export function allOf(...conditions: Array<Expr | undefined | false>): Expr | undefined {
  const present = conditions.filter((condition): condition is Expr => condition instanceof Expr);
  if (present.length === 0) return undefined;
  return new Expr(['', ...present.slice(1).map(() => ' AND '), ''], present);
}

/** The usual conditions on an item's existence (its partition key attribute). */
export const exists = ex`attribute_exists(pk)`;
export const absent = ex`attribute_not_exists(pk)`;

/**
 * The changes of one update: `set` (an `Expr` value is an expression, e.g. `ex\`if_not_exists(...)\``;
 * undefined values are left out), `remove`, `add` (numbers or sets), `delete` (elements of a set). An `Expr`
 * is taken as the whole update expression.
 */
export type Changes =
  | Expr
  | {
      set?: Record<string, unknown>;
      /** Attribute names, or list elements (`element(...)`). */
      remove?: ReadonlyArray<string | Expr>;
      add?: Record<string, unknown>;
      delete?: Record<string, unknown>;
    };

/** Which attributes a write returns (DynamoDB's ReturnValues). */
export type Returning = 'ALL_OLD' | 'ALL_NEW' | 'UPDATED_OLD' | 'UPDATED_NEW';

export interface ReadOptions {
  /** Read what the last write left (DynamoDB's ConsistentRead; not on the index). */
  consistent?: boolean;
  /** Only these attributes (a projection). */
  attributes?: readonly string[];
}

export interface WriteOptions {
  /** The write happens only when this holds; otherwise it throws `ConditionFailed`. */
  if?: Expr;
  returning?: Returning;
}

/** A Query of one partition of the table, or of the generic index (`index: true`, gsi1pk/gsi1sk). */
export interface Query extends ReadOptions {
  partition: string;
  index?: boolean;
  /** Sort keys starting with this (none or '': the whole partition). */
  prefix?: string;
  /** Sort key bounds, exclusive: `after` (>), `before` (<); inclusive: `from` (>=), `to` (<=). */
  after?: string;
  before?: string;
  from?: string;
  to?: string;
  /** Applied after the read (it costs the items it drops). */
  filter?: Expr;
  /** Items per request (DynamoDB's Limit). */
  limit?: number;
  /** Descending sort key order. */
  descending?: boolean;
}

export interface Page {
  items: Item[];
  /** Where the next page starts (DynamoDB's LastEvaluatedKey); absent on the last page. */
  next?: Item;
  /** How many items the request read, before the filter dropped any. */
  scanned: number;
}

/** One item of a transaction. */
export type TransactWrite =
  | { put: Item; if?: Expr }
  | { update: Key; changes: Changes; if?: Expr }
  | { delete: Key; if?: Expr }
  | { check: Key; if: Expr };

export type BatchRequest = { put: Item } | { delete: Key };

export interface Db {
  get(key: Key, options?: ReadOptions): Promise<Item | undefined>;
  /** Many items by key (BatchGetItem, 100 a request, unprocessed keys retried); in no particular order. */
  getMany(keys: readonly Key[], options?: ReadOptions): Promise<Item[]>;
  put(item: Item, options?: WriteOptions): Promise<Item | undefined>;
  update(key: Key, changes: Changes, options?: WriteOptions): Promise<Item | undefined>;
  delete(key: Key, options?: WriteOptions): Promise<Item | undefined>;
  /** Every page of a Query (`limit` is then the page size). */
  query(query: Query): Promise<Item[]>;
  /** One page of a Query, from `start` (a page's `next`). */
  queryPage(query: Query, start?: Item): Promise<Page>;
  /** How many items a Query matches (every page, no items read back). */
  count(query: Query): Promise<number>;
  /** Puts and deletes in batches of 25, retrying what is left unprocessed; not atomic. */
  batchWrite(requests: readonly BatchRequest[]): Promise<void>;
  /** All or nothing; a refused condition throws `ConditionFailed`, a lost race (after retries) `TransactionConflict`. */
  transact(writes: readonly TransactWrite[]): Promise<void>;
}

/** A write (or one item of a transaction) refused by its condition; `item` is the item as it was, when asked for. */
export class ConditionFailed extends Error {
  override readonly name = 'ConditionFailed';
  constructor(
    readonly item?: Item,
    options?: { cause?: unknown },
  ) {
    super('The condition of a write did not hold', options);
  }
}

/** A transaction that lost a race with another on the same items, after the adapter's retries. */
export class TransactionConflict extends Error {
  override readonly name = 'TransactionConflict';
  constructor(options?: { cause?: unknown }) {
    super('A transaction conflicted with another one', options);
  }
}

export function isConditionFailure(error: unknown): error is ConditionFailed {
  return error instanceof ConditionFailed;
}

export function isTransactionConflict(error: unknown): error is TransactionConflict {
  return error instanceof TransactionConflict;
}

/** A conditional write's result, or `refused` when its condition did not hold (any other failure propagates). */
export async function orIfRefused<T, R>(write: Promise<T>, refused: R): Promise<T | R> {
  try {
    return await write;
  } catch (error) {
    if (isConditionFailure(error)) return refused;
    throw error;
  }
}

/** Runs a conditional write; when its condition refuses it, throws `refusal()` (a domain error) instead. */
export async function orThrow<T>(write: Promise<T>, refusal: () => Error): Promise<T> {
  try {
    return await write;
  } catch (error) {
    throw isConditionFailure(error) ? refusal() : error;
  }
}

/** Runs a conditional write: true when it happened, false when its condition refused it. */
export function applied(write: Promise<unknown>): Promise<boolean> {
  return orIfRefused(write.then(() => true), false);
}

/** Items whose partition key is `pk` and whose sort key starts with `prefix`. */
export function queryPrefix(db: Db, pk: string, prefix: string, options: Omit<Query, 'partition' | 'prefix'> = {}): Promise<Item[]> {
  return db.query({ ...options, partition: pk, prefix });
}

/** Items of the generic secondary index whose partition is `pk` and sort key starts with `prefix`. */
export function queryIndexPrefix(db: Db, pk: string, prefix = ''): Promise<Item[]> {
  return db.query({ index: true, partition: pk, prefix });
}

/**
 * One page of up to `count` results (REST's paged lists), read from a Query page by page: `take` turns the
 * items of each page into results, dropping what it filters out. Stops when the page is full, at the
 * Query's end, or once `budget` items were read (filters can make a page cost the whole partition
 * otherwise); `next` is where the Query stopped when the page came out short. `limit` sizes each request
 * from what was read so far.
 */
export async function collectPage<T>(
  db: Db,
  query: Query,
  count: number,
  take: (items: Item[]) => T[] | Promise<T[]>,
  options: { limit: (scanned: number) => number; budget?: number },
): Promise<{ items: T[]; next?: Item }> {
  const items: T[] = [];
  // `count=0` asks for nothing (docs/protocol.md, "Pagination"): no request at all.
  if (count === 0) return { items };
  const budget = options.budget ?? Infinity;
  let scanned = 0;
  let next: Item | undefined;
  do {
    const page = await db.queryPage({ ...query, limit: options.limit(scanned) }, next);
    scanned += page.scanned;
    for (const result of await take(page.items)) {
      items.push(result);
      if (items.length >= count) return { items };
    }
    next = page.next;
  } while (next && scanned < budget);
  return { items, next };
}

/** Puts and deletes in batches of 25, retrying what DynamoDB leaves unprocessed. */
export function batchWrite(db: Db, requests: readonly BatchRequest[]): Promise<void> {
  return db.batchWrite(requests);
}

/** The key of a stored item (its pk and sk). */
export function keyOf(item: Item): Key {
  return { pk: String(item.pk), sk: String(item.sk) };
}

/** Reserves `count` consecutive ids of a kind with one atomic counter update; returns the first. */
export async function reserveIds(db: Db, kind: string, count: number): Promise<number> {
  const result = await db.update(keys.counter(kind), { add: { value: count } }, { returning: 'UPDATED_NEW' });
  return Number(result?.value) - count + 1;
}

/** Allocates the next integer id of a kind (users, servers, ...) with an atomic counter. */
export function nextId(db: Db, kind: string): Promise<number> {
  return reserveIds(db, kind, 1);
}
