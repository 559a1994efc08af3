import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { TransactWriteCommand } from '@aws-sdk/lib-dynamodb';
import { createDb, isConditionFailure, isTransactionConflict } from '../../lambdas/aws/dynamodb-store';

process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = 'true';

const cancelled = (...codes: string[]) =>
  Object.assign(new Error(`Transaction cancelled, please refer cancellation reasons for specific reasons [${codes.join(', ')}]`), {
    name: 'TransactionCanceledException',
    CancellationReasons: codes.map((Code) => ({ Code })),
  });

describe('telling refusals from races in DynamoDB errors', () => {
  test('a failed condition, alone or in a transaction, is a refusal', () => {
    expect(isConditionFailure(Object.assign(new Error('x'), { name: 'ConditionalCheckFailedException' }))).toBe(true);
    expect(isConditionFailure(cancelled('None', 'ConditionalCheckFailed'))).toBe(true);
    expect(isTransactionConflict(cancelled('None', 'ConditionalCheckFailed'))).toBe(false);
  });

  test('a transaction that lost a race is a conflict to retry, not a refusal', () => {
    expect(isConditionFailure(cancelled('None', 'TransactionConflict'))).toBe(false);
    expect(isTransactionConflict(cancelled('None', 'TransactionConflict'))).toBe(true);
  });

  test('without structured reasons, the message names them', () => {
    const error = Object.assign(new Error('Transaction cancelled, please refer cancellation reasons for specific reasons [TransactionConflict, None]'), {
      name: 'TransactionCanceledException',
    });
    expect(isTransactionConflict(error)).toBe(true);
    expect(isConditionFailure(error)).toBe(false);
  });

  test('other errors are neither', () => {
    for (const error of [new Error('ECONNREFUSED'), Object.assign(new Error('x'), { name: 'ProvisionedThroughputExceededException' }), undefined, null]) {
      expect(isConditionFailure(error)).toBe(false);
      expect(isTransactionConflict(error)).toBe(false);
    }
  });
});

describe('a transaction that loses a race is tried again', () => {
  let server: Server;
  let endpoint: string;
  let answers: Array<'conflict' | 'condition' | 'ok'> = [];
  let calls = 0;

  beforeAll(async () => {
    // Answers as DynamoDB's JSON protocol does, so the real SDK client parses the cancellation reasons.
    server = createServer((request, response) => {
      request.resume();
      request.on('end', () => {
        calls++;
        const answer = answers.shift() ?? 'ok';
        if (answer === 'ok') return response.writeHead(200, { 'content-type': 'application/x-amz-json-1.0' }).end('{}');
        const code = answer === 'conflict' ? 'TransactionConflict' : 'ConditionalCheckFailed';
        response.writeHead(400, { 'content-type': 'application/x-amz-json-1.0' }).end(
          JSON.stringify({
            __type: 'com.amazonaws.dynamodb.v20120810#TransactionCanceledException',
            Message: `Transaction cancelled, please refer cancellation reasons for specific reasons [None, ${code}]`,
            CancellationReasons: [{ Code: 'None' }, { Code: code }],
          }),
        );
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  });
  beforeEach(() => {
    calls = 0;
  });

  const transaction = () => {
    const db = createDb({ table: 'anything', endpoint });
    return db.doc.send(
      new TransactWriteCommand({
        TransactItems: [
          { Put: { TableName: db.table, Item: { pk: 'a', sk: 'a' } } },
          { Put: { TableName: db.table, Item: { pk: 'b', sk: 'b' } } },
        ],
      }),
    );
  };

  test('conflicts are retried until the transaction goes through', async () => {
    answers = ['conflict', 'conflict', 'ok'];
    await expect(transaction()).resolves.toBeDefined();
    expect(calls).toBe(3);
  });

  test('a refusal is not retried', async () => {
    answers = ['condition'];
    const error = await transaction().catch((e: unknown) => e);
    expect(isConditionFailure(error)).toBe(true);
    expect(calls).toBe(1);
  });

  test('a conflict that does not go away ends as the conflict', async () => {
    answers = Array.from({ length: 10 }, () => 'conflict' as const);
    const error = await transaction().catch((e: unknown) => e);
    expect(isTransactionConflict(error)).toBe(true);
    expect(calls).toBe(5);
  });
});
