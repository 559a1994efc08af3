import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import {
  BatchWriteCommand,
  DynamoDBDocumentClient,
  QueryCommand,
  type QueryCommandInput,
  UpdateCommand,
} from '@aws-sdk/lib-dynamodb';
import { GSI1, keys } from './table';

export interface Db {
  doc: DynamoDBDocumentClient;
  table: string;
}

export type Item = Record<string, unknown>;

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

export function createDb(options: DbOptions): Db {
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
  return { doc, table: options.table };
}

/** Runs a Query to the end, following LastEvaluatedKey. */
export async function queryAll(db: Db, input: Omit<QueryCommandInput, 'TableName'>): Promise<Item[]> {
  const items: Item[] = [];
  let startKey: Record<string, unknown> | undefined;
  do {
    const page = await db.doc.send(new QueryCommand({ ...input, TableName: db.table, ExclusiveStartKey: startKey }));
    items.push(...((page.Items ?? []) as Item[]));
    startKey = page.LastEvaluatedKey;
  } while (startKey);
  return items;
}

/** Items whose partition key is `pk` and whose sort key starts with `prefix`. */
export function queryPrefix(db: Db, pk: string, prefix: string, extra: Partial<QueryCommandInput> = {}): Promise<Item[]> {
  // DynamoDB refuses begins_with on an empty string: no prefix means the whole partition.
  return queryAll(db, {
    KeyConditionExpression: prefix ? 'pk = :pk AND begins_with(sk, :prefix)' : 'pk = :pk',
    ExpressionAttributeValues: prefix ? { ':pk': pk, ':prefix': prefix } : { ':pk': pk },
    ...extra,
  });
}

/** Items of the generic secondary index whose partition is `pk` and sort key starts with `prefix`. */
export function queryIndexPrefix(db: Db, pk: string, prefix = ''): Promise<Item[]> {
  return queryAll(db, {
    IndexName: GSI1.name,
    KeyConditionExpression: prefix ? 'gsi1pk = :pk AND begins_with(gsi1sk, :prefix)' : 'gsi1pk = :pk',
    ExpressionAttributeValues: prefix ? { ':pk': pk, ':prefix': prefix } : { ':pk': pk },
  });
}

const BATCH_WRITE_LIMIT = 25;

/** Puts and deletes in batches of 25, retrying what DynamoDB leaves unprocessed. */
export async function batchWrite(
  db: Db,
  requests: Array<{ put: Item } | { delete: { pk: string; sk: string } }>,
): Promise<void> {
  const chunks: (typeof requests)[] = [];
  for (let i = 0; i < requests.length; i += BATCH_WRITE_LIMIT) chunks.push(requests.slice(i, i + BATCH_WRITE_LIMIT));
  await Promise.all(
    chunks.map(async (chunk) => {
      let pending: unknown[] = chunk.map((r) =>
        'put' in r ? { PutRequest: { Item: r.put } } : { DeleteRequest: { Key: r.delete } },
      );
      for (let attempt = 0; pending.length > 0; attempt++) {
        if (attempt > 0) await new Promise((resolve) => setTimeout(resolve, Math.min(1000, 25 * 2 ** attempt)));
        if (attempt > 8) throw new Error('DynamoDB left batch writes unprocessed after retries');
        const result = await db.doc.send(
          new BatchWriteCommand({ RequestItems: { [db.table]: pending as never } }),
        );
        pending = (result.UnprocessedItems?.[db.table] as unknown[] | undefined) ?? [];
      }
    }),
  );
}

/** Reserves `count` consecutive ids of a kind with one atomic counter update; returns the first. */
export async function reserveIds(db: Db, kind: string, count: number): Promise<number> {
  const result = await db.doc.send(
    new UpdateCommand({
      TableName: db.table,
      Key: keys.counter(kind),
      UpdateExpression: 'ADD #value :count',
      ExpressionAttributeNames: { '#value': 'value' },
      ExpressionAttributeValues: { ':count': count },
      ReturnValues: 'UPDATED_NEW',
    }),
  );
  return Number(result.Attributes?.value) - count + 1;
}

/** Allocates the next integer id of a kind (users, servers, ...) with an atomic counter. */
export function nextId(db: Db, kind: string): Promise<number> {
  return reserveIds(db, kind, 1);
}

/** The reason codes of a cancelled transaction, one per item ('None' for those that were fine). */
function cancellationCodes(error: unknown): string[] | undefined {
  const { name, CancellationReasons: reasons, message } = (error ?? {}) as { name?: string; CancellationReasons?: Array<{ Code?: string }>; message?: string };
  if (name !== 'TransactionCanceledException') return undefined;
  if (Array.isArray(reasons)) return reasons.map((reason) => reason?.Code ?? 'None');
  // Without the structured list the message still names them: "... reasons [ConditionalCheckFailed, None]".
  return /\[([^\]]*)\]/.exec(message ?? '')?.[1].split(',').map((code) => code.trim()) ?? [];
}

/** A write (or one item of a transaction) refused by its condition. */
export function isConditionFailure(error: unknown): boolean {
  if ((error as { name?: string } | null)?.name === 'ConditionalCheckFailedException') return true;
  const codes = cancellationCodes(error);
  // A cancellation that names no reason is taken as a refusal, as before reasons were read.
  return codes !== undefined && (codes.length === 0 || codes.includes('ConditionalCheckFailed'));
}

/** How many times a transaction is tried when it loses a race with another one on the same items. */
const TRANSACTION_ATTEMPTS = 5;

/**
 * A transaction cancelled only because another one touched the same items at the same time (two posts to
 * one channel): worth trying again. The SDK does not retry these, and they are no refusal.
 */
export function isTransactionConflict(error: unknown): boolean {
  const codes = cancellationCodes(error);
  return codes !== undefined && codes.includes('TransactionConflict') && !codes.includes('ConditionalCheckFailed');
}
