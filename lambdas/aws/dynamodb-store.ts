import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import {
  BatchGetCommand,
  BatchWriteCommand,
  DeleteCommand,
  DynamoDBDocumentClient,
  GetCommand,
  PutCommand,
  QueryCommand,
  type QueryCommandInput,
  TransactWriteCommand,
  type TransactWriteCommandInput,
  UpdateCommand,
} from '@aws-sdk/lib-dynamodb';
import {
  type BatchRequest,
  type Changes,
  ConditionFailed,
  type Db,
  Expr,
  type Item,
  type Key,
  Name,
  type Page,
  type Query,
  type ReadOptions,
  TransactionConflict,
  type TransactWrite,
  type WriteOptions,
} from '../domain/db';
import { GSI1, KEY } from '../domain/table';

/**
 * Counts every request sent to DynamoDB, by command name. Benchmarks and tests read it to show how many
 * requests an operation costs; it is process-wide and cheap (one increment a request).
 */
export const dynamoDbRequestCounter = {
  byCommand: new Map<string, number>(),
  total(): number {
    let sum = 0;
    for (const n of this.byCommand.values()) sum += n;
    return sum;
  },
  reset(): void {
    this.byCommand.clear();
  },
  snapshot(): Record<string, number> {
    return Object.fromEntries(this.byCommand);
  },
};

export interface DbOptions {
  table: string;
  /** DynamoDB Local or another compatible endpoint; unset on AWS. */
  endpoint?: string;
  /**
   * With `endpoint`: the access key id to sign with (DYNAMODB_LOCAL_ACCESS_KEY_ID, else `local`). DynamoDB
   * Local keeps one database per key, so this chooses the database (docs/security.md, "Local database").
   */
  accessKeyId?: string;
  region?: string;
  /** Milliseconds to open a connection (DYNAMODB_CONNECT_TIMEOUT_MS, else 1500). */
  connectTimeoutMs?: number;
  /** Milliseconds for one attempt's request and response (DYNAMODB_REQUEST_TIMEOUT_MS, else 5000). */
  requestTimeoutMs?: number;
}

function positiveEnv(name: string): number | undefined {
  const value = Number(process.env[name]);
  return Number.isFinite(value) && value > 0 ? value : undefined;
}

/** The client's defaults: how long one call may take at worst when the table hangs. */
export const DYNAMODB_CALL_LIMITS = { attempts: 3, connectTimeoutMs: 1500, requestTimeoutMs: 5000 } as const;

/** Upper bound of one call against a hung table (every attempt times out; backoff stays under 1 s each). */
export function worstCaseCallMs(limits: { attempts: number; connectTimeoutMs: number; requestTimeoutMs: number } = DYNAMODB_CALL_LIMITS): number {
  return limits.attempts * (limits.connectTimeoutMs + limits.requestTimeoutMs + 1000);
}

/** How many times a transaction is tried when it loses a race with another one on the same items. */
const TRANSACTION_ATTEMPTS = 5;
const BATCH_WRITE_LIMIT = 25;
const BATCH_GET_LIMIT = 100;

/** The reason codes of a cancelled transaction, one per item ('None' for those that were fine). */
function cancellationCodes(error: unknown): string[] | undefined {
  const { name, CancellationReasons: reasons, message } = (error ?? {}) as { name?: string; CancellationReasons?: Array<{ Code?: string }>; message?: string };
  if (name !== 'TransactionCanceledException') return undefined;
  if (Array.isArray(reasons)) return reasons.map((reason) => reason?.Code ?? 'None');
  // Without the structured list the message still names them: "... reasons [ConditionalCheckFailed, None]".
  return /\[([^\]]*)\]/.exec(message ?? '')?.[1].split(',').map((code) => code.trim()) ?? [];
}

/** DynamoDB refused a write (or one item of a transaction) by its condition. */
export function isConditionFailure(error: unknown): boolean {
  if ((error as { name?: string } | null)?.name === 'ConditionalCheckFailedException') return true;
  const codes = cancellationCodes(error);
  // A cancellation that names no reason is taken as a refusal, as before reasons were read.
  return codes !== undefined && (codes.length === 0 || codes.includes('ConditionalCheckFailed'));
}

/**
 * A transaction cancelled only because another one touched the same items at the same time (two posts to
 * one channel): worth trying again. The SDK does not retry these, and they are no refusal.
 */
export function isTransactionConflict(error: unknown): boolean {
  const codes = cancellationCodes(error);
  return codes !== undefined && codes.includes('TransactionConflict') && !codes.includes('ConditionalCheckFailed');
}

/** A raw attribute value (what a refusal's ReturnValuesOnConditionCheckFailure carries) as a plain value. */
function plain(value: Record<string, unknown>): unknown {
  if ('S' in value) return value.S;
  if ('N' in value) return Number(value.N);
  if ('BOOL' in value) return value.BOOL;
  if ('NULL' in value) return null;
  if ('M' in value) return plainItem(value.M as Record<string, Record<string, unknown>>);
  if ('L' in value) return (value.L as Array<Record<string, unknown>>).map(plain);
  if ('SS' in value) return new Set(value.SS as string[]);
  if ('NS' in value) return new Set((value.NS as string[]).map(Number));
  return undefined;
}

function plainItem(raw: Record<string, Record<string, unknown>>): Item {
  return Object.fromEntries(Object.entries(raw).map(([name, value]) => [name, plain(value)]));
}

/** DynamoDB's errors in the port's terms; anything else (unavailability included) unchanged. */
function translated(error: unknown): unknown {
  if (isConditionFailure(error)) {
    const raw = (error as { Item?: Record<string, Record<string, unknown>> }).Item;
    return new ConditionFailed(raw ? plainItem(raw) : undefined, { cause: error });
  }
  if (isTransactionConflict(error)) return new TransactionConflict({ cause: error });
  return error;
}

/**
 * The one place DynamoDB expressions are written: every value and `attr()` name of a request becomes a
 * placeholder (`:v0`, `#n0`) here, so domain code never spells ExpressionAttributeNames/Values.
 */
class Placeholders {
  private readonly names = new Map<string, string>();
  private readonly values: Record<string, unknown> = {};
  private count = 0;

  name(name: string): string {
    let placeholder = this.names.get(name);
    if (!placeholder) this.names.set(name, (placeholder = `#n${this.names.size}`));
    return placeholder;
  }

  value(value: unknown): string {
    const placeholder = `:v${this.count++}`;
    this.values[placeholder] = value;
    return placeholder;
  }

  expression(expression: Expr): string {
    let text = expression.strings[0];
    expression.args.forEach((arg, i) => {
      text += (arg instanceof Expr ? this.expression(arg) : arg instanceof Name ? this.name(arg.name) : this.value(arg)) + expression.strings[i + 1];
    });
    return text;
  }

  private operand(value: unknown): string {
    return value instanceof Expr ? this.expression(value) : this.value(value);
  }

  changes(changes: Changes): string {
    if (changes instanceof Expr) return this.expression(changes);
    const clauses: string[] = [];
    const set = Object.entries(changes.set ?? {}).filter(([, value]) => value !== undefined);
    if (set.length > 0) clauses.push(`SET ${set.map(([name, value]) => `${this.name(name)} = ${this.operand(value)}`).join(', ')}`);
    if (changes.remove?.length) clauses.push(`REMOVE ${changes.remove.map((name) => (name instanceof Expr ? this.expression(name) : this.name(name))).join(', ')}`);
    const add = Object.entries(changes.add ?? {});
    if (add.length > 0) clauses.push(`ADD ${add.map(([name, value]) => `${this.name(name)} ${this.value(value)}`).join(', ')}`);
    const remove = Object.entries(changes.delete ?? {});
    if (remove.length > 0) clauses.push(`DELETE ${remove.map(([name, value]) => `${this.name(name)} ${this.value(value)}`).join(', ')}`);
    return clauses.join(' ');
  }

  projection(attributes: readonly string[] | undefined): { ProjectionExpression?: string } {
    return attributes?.length ? { ProjectionExpression: attributes.map((name) => this.name(name)).join(', ') } : {};
  }

  /** The maps to send, absent when empty (DynamoDB refuses empty ones). */
  maps(): { ExpressionAttributeNames?: Record<string, string>; ExpressionAttributeValues?: Record<string, unknown> } {
    return {
      ...(this.names.size > 0 ? { ExpressionAttributeNames: Object.fromEntries([...this.names].map(([name, placeholder]) => [placeholder, name])) } : {}),
      ...(this.count > 0 ? { ExpressionAttributeValues: this.values } : {}),
    };
  }
}

function keyCondition(query: Query, p: Placeholders): string {
  const partition = query.index ? GSI1.partition : KEY.partition;
  const sort = query.index ? GSI1.sort : KEY.sort;
  const conditions = [`${partition} = ${p.value(query.partition)}`];
  // DynamoDB refuses begins_with on an empty string: no prefix means the whole partition.
  if (query.prefix) conditions.push(`begins_with(${sort}, ${p.value(query.prefix)})`);
  if (query.from !== undefined && query.to !== undefined) conditions.push(`${sort} BETWEEN ${p.value(query.from)} AND ${p.value(query.to)}`);
  else {
    const bounds = (
      [
        ['>', query.after],
        ['<', query.before],
        ['>=', query.from],
        ['<=', query.to],
      ] as const
    ).filter(([, bound]) => bound !== undefined);
    for (const [operator, bound] of bounds) conditions.push(`${sort} ${operator} ${p.value(bound)}`);
  }
  // One condition on the sort key at most: a second would be refused by DynamoDB anyway.
  if (conditions.length > 2) throw new Error('A Query takes one condition on the sort key');
  return conditions.join(' AND ');
}

/** The store port on DynamoDB (the document client, so items are plain objects). */
export class DynamoDbStore implements Db {
  constructor(
    /** For tests, benchmarks and the composition root (its credentials); the domain never sees it. */
    readonly doc: DynamoDBDocumentClient,
    readonly table: string,
  ) {}

  private async send<T>(command: object): Promise<T> {
    try {
      return (await this.doc.send(command as never)) as T;
    } catch (error) {
      throw translated(error);
    }
  }

  async get(key: Key, options: ReadOptions = {}): Promise<Item | undefined> {
    const p = new Placeholders();
    const projection = p.projection(options.attributes);
    const result = await this.send<{ Item?: Item }>(
      new GetCommand({ TableName: this.table, Key: key, ...(options.consistent ? { ConsistentRead: true } : {}), ...projection, ...p.maps() }),
    );
    return result.Item;
  }

  async getMany(wanted: readonly Key[], options: ReadOptions = {}): Promise<Item[]> {
    const chunks: Key[][] = [];
    for (let i = 0; i < wanted.length; i += BATCH_GET_LIMIT) chunks.push(wanted.slice(i, i + BATCH_GET_LIMIT));
    const pages = await Promise.all(
      chunks.map(async (chunk) => {
        const items: Item[] = [];
        let pending: Array<Record<string, unknown>> = chunk.map((key) => ({ ...key }));
        for (let attempt = 0; pending.length > 0; attempt++) {
          if (attempt > 0) await new Promise((resolve) => setTimeout(resolve, Math.min(1000, 25 * 2 ** attempt)));
          if (attempt > 8) throw new Error('DynamoDB left batch reads unprocessed after retries');
          const p = new Placeholders();
          const projection = p.projection(options.attributes);
          const request = { Keys: pending, ...(options.consistent ? { ConsistentRead: true } : {}), ...projection, ...p.maps() };
          const result = await this.send<{ Responses?: Record<string, Item[]>; UnprocessedKeys?: Record<string, { Keys?: Array<Record<string, unknown>> }> }>(
            new BatchGetCommand({ RequestItems: { [this.table]: request } }),
          );
          items.push(...(result.Responses?.[this.table] ?? []));
          pending = result.UnprocessedKeys?.[this.table]?.Keys ?? [];
        }
        return items;
      }),
    );
    return pages.flat();
  }

  /** The input of one write, alone or in a transaction: key or item, update, condition and placeholders. */
  private writeInput(write: TransactWrite): Record<string, unknown> {
    const p = new Placeholders();
    const target =
      'put' in write
        ? { Item: write.put }
        : 'update' in write
          ? { Key: write.update, UpdateExpression: p.changes(write.changes) }
          : { Key: 'delete' in write ? write.delete : write.check };
    return { TableName: this.table, ...target, ...(write.if ? { ConditionExpression: p.expression(write.if) } : {}), ...p.maps() };
  }

  async put(item: Item, options: WriteOptions = {}): Promise<Item | undefined> {
    const input = { ...this.writeInput({ put: item, if: options.if }), ...this.returning(options) };
    return (await this.send<{ Attributes?: Item }>(new PutCommand(input as never))).Attributes;
  }

  async update(key: Key, changes: Changes, options: WriteOptions = {}): Promise<Item | undefined> {
    const input = { ...this.writeInput({ update: key, changes, if: options.if }), ...this.returning(options) };
    return (await this.send<{ Attributes?: Item }>(new UpdateCommand(input as never))).Attributes;
  }

  async delete(key: Key, options: WriteOptions = {}): Promise<Item | undefined> {
    const input = { ...this.writeInput({ delete: key, if: options.if }), ...this.returning(options) };
    return (await this.send<{ Attributes?: Item }>(new DeleteCommand(input as never))).Attributes;
  }

  /** A conditional write that returns the old item also returns it when refused (for `ConditionFailed.item`). */
  private returning(options: WriteOptions): object {
    if (!options.returning) return {};
    return { ReturnValues: options.returning, ...(options.if && options.returning === 'ALL_OLD' ? { ReturnValuesOnConditionCheckFailure: 'ALL_OLD' } : {}) };
  }

  private queryInput(query: Query, start: Item | undefined, count = false): QueryCommandInput {
    const p = new Placeholders();
    const KeyConditionExpression = keyCondition(query, p);
    const filter = query.filter ? { FilterExpression: p.expression(query.filter) } : {};
    const projection = count ? {} : p.projection(query.attributes);
    return {
      TableName: this.table,
      ...(query.index ? { IndexName: GSI1.name } : {}),
      KeyConditionExpression,
      ...filter,
      ...projection,
      ...p.maps(),
      ...(query.consistent ? { ConsistentRead: true } : {}),
      ...(query.limit !== undefined ? { Limit: query.limit } : {}),
      ...(query.descending ? { ScanIndexForward: false } : {}),
      ...(count ? { Select: 'COUNT' as const } : {}),
      ...(start ? { ExclusiveStartKey: start } : {}),
    };
  }

  async queryPage(query: Query, start?: Item): Promise<Page> {
    const result = await this.send<{ Items?: Item[]; LastEvaluatedKey?: Item; ScannedCount?: number }>(new QueryCommand(this.queryInput(query, start)));
    const items = result.Items ?? [];
    return { items, scanned: result.ScannedCount ?? items.length, ...(result.LastEvaluatedKey ? { next: result.LastEvaluatedKey } : {}) };
  }

  async query(query: Query): Promise<Item[]> {
    const items: Item[] = [];
    let start: Item | undefined;
    do {
      const page = await this.queryPage(query, start);
      items.push(...page.items);
      start = page.next;
    } while (start);
    return items;
  }

  async count(query: Query): Promise<number> {
    let count = 0;
    let start: Item | undefined;
    do {
      const page = await this.send<{ Count?: number; LastEvaluatedKey?: Item }>(new QueryCommand(this.queryInput(query, start, true)));
      count += page.Count ?? 0;
      start = page.LastEvaluatedKey;
    } while (start);
    return count;
  }

  async batchWrite(requests: readonly BatchRequest[]): Promise<void> {
    const chunks: BatchRequest[][] = [];
    for (let i = 0; i < requests.length; i += BATCH_WRITE_LIMIT) chunks.push(requests.slice(i, i + BATCH_WRITE_LIMIT));
    await Promise.all(
      chunks.map(async (chunk) => {
        let pending: unknown[] = chunk.map((r) => ('put' in r ? { PutRequest: { Item: r.put } } : { DeleteRequest: { Key: r.delete } }));
        for (let attempt = 0; pending.length > 0; attempt++) {
          if (attempt > 0) await new Promise((resolve) => setTimeout(resolve, Math.min(1000, 25 * 2 ** attempt)));
          if (attempt > 8) throw new Error('DynamoDB left batch writes unprocessed after retries');
          const result = await this.send<{ UnprocessedItems?: Record<string, unknown[]> }>(new BatchWriteCommand({ RequestItems: { [this.table]: pending as never } }));
          pending = result.UnprocessedItems?.[this.table] ?? [];
        }
      }),
    );
  }

  async transact(writes: readonly TransactWrite[]): Promise<void> {
    const TransactItems = writes.map((write) => {
      const operation = 'put' in write ? 'Put' : 'update' in write ? 'Update' : 'delete' in write ? 'Delete' : 'ConditionCheck';
      return { [operation]: this.writeInput(write) };
    }) as TransactWriteCommandInput['TransactItems'];
    await this.send(new TransactWriteCommand({ TransactItems }));
  }
}

export function createDb(options: DbOptions): DynamoDbStore {
  const client = new DynamoDBClient({
    endpoint: options.endpoint,
    region: options.region ?? process.env.AWS_REGION ?? 'us-east-1',
    // DynamoDB Local checks no secret, but its database is the key id's; on AWS the Lambda role's
    // credentials are found as usual.
    ...(options.endpoint
      ? { credentials: { accessKeyId: options.accessKeyId ?? (process.env.DYNAMODB_LOCAL_ACCESS_KEY_ID || 'local'), secretAccessKey: 'local' } }
      : {}),
    maxAttempts: DYNAMODB_CALL_LIMITS.attempts,
    // Without timeouts a hung DynamoDB holds a Lambda until its own timeout; with them a call gives up after
    // at most 3 attempts of 5 s (within the REST Lambda's 29 s) and the handler answers 503.
    requestHandler: {
      connectionTimeout: options.connectTimeoutMs ?? positiveEnv('DYNAMODB_CONNECT_TIMEOUT_MS') ?? DYNAMODB_CALL_LIMITS.connectTimeoutMs,
      requestTimeout: options.requestTimeoutMs ?? positiveEnv('DYNAMODB_REQUEST_TIMEOUT_MS') ?? DYNAMODB_CALL_LIMITS.requestTimeoutMs,
      // Otherwise the request timeout only logs a warning.
      throwOnRequestTimeout: true,
    },
  });
  // Outermost, so the counter below sees every attempt.
  client.middlewareStack.add(
    (next, context) => async (args) => {
      if (context.commandName !== 'TransactWriteItemsCommand') return next(args);
      for (let attempt = 1; ; attempt++) {
        try {
          return await next(args);
        } catch (error) {
          if (attempt >= TRANSACTION_ATTEMPTS || !isTransactionConflict(error)) throw error;
          await new Promise((resolve) => setTimeout(resolve, Math.random() * 20 * 2 ** attempt));
        }
      }
    },
    { step: 'initialize', name: 'zavodchatTransactionConflictRetry' },
  );
  client.middlewareStack.add(
    (next, context) => async (args) => {
      const name = String(context.commandName ?? 'unknown');
      dynamoDbRequestCounter.byCommand.set(name, (dynamoDbRequestCounter.byCommand.get(name) ?? 0) + 1);
      return next(args);
    },
    { step: 'initialize', name: 'zavodchatRequestCounter' },
  );
  const doc = DynamoDBDocumentClient.from(client, { marshallOptions: { removeUndefinedValues: true } });
  return new DynamoDbStore(doc, options.table);
}
