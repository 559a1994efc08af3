import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { DynamoDbStore } from '../../lambdas/aws/dynamodb-store';
import { absent, allOf, attr, ConditionFailed, element, ex, exists, isConditionFailure, isTransactionConflict, orIfRefused, orThrow, applied } from '../../lambdas/domain/db';

/**
 * The store port's DynamoDB adapter renders every expression: these pin the requests it sends (names and
 * values as placeholders, conditions, projections, consistency) and how it maps DynamoDB's refusals.
 */
function recording(answer: (input: Record<string, unknown>, name: string) => unknown = () => ({})) {
  const sent: Array<{ name: string; input: Record<string, unknown> }> = [];
  const doc = {
    send: async (command: { input: Record<string, unknown>; constructor: { name: string } }) => {
      sent.push({ name: command.constructor.name, input: command.input });
      return answer(command.input, command.constructor.name);
    },
  };
  return { store: new DynamoDbStore(doc as unknown as DynamoDBDocumentClient, 'T'), sent };
}

describe('DynamoDB store adapter', () => {
  test('an update renders every name and value as a placeholder, expressions included', async () => {
    const { store, sent } = recording();
    await store.update(
      { pk: 'USER#1', sk: 'PROFILE' },
      { set: { lastStatus: ex`${attr('status')}`, status: 0, skipped: undefined }, remove: ['offlineAt', element('roles', 2)], add: { presenceEpoch: 1 } },
      { if: ex`attribute_exists(pk) AND presenceEpoch = ${7}`, returning: 'UPDATED_OLD' },
    );
    expect(sent).toEqual([
      {
        name: 'UpdateCommand',
        input: {
          TableName: 'T',
          Key: { pk: 'USER#1', sk: 'PROFILE' },
          UpdateExpression: 'SET #n0 = #n1, #n1 = :v0 REMOVE #n2, #n3[2] ADD #n4 :v1',
          ConditionExpression: 'attribute_exists(pk) AND presenceEpoch = :v2',
          ExpressionAttributeNames: { '#n0': 'lastStatus', '#n1': 'status', '#n2': 'offlineAt', '#n3': 'roles', '#n4': 'presenceEpoch' },
          ExpressionAttributeValues: { ':v0': 0, ':v1': 1, ':v2': 7 },
          ReturnValues: 'UPDATED_OLD',
        },
      },
    ]);
  });

  test('an unconditional write sends no condition and no empty maps', async () => {
    const { store, sent } = recording();
    await store.put({ pk: 'a', sk: 'b', x: 1 });
    await store.delete({ pk: 'a', sk: 'b' });
    expect(sent.map((s) => s.input)).toEqual([
      { TableName: 'T', Item: { pk: 'a', sk: 'b', x: 1 } },
      { TableName: 'T', Key: { pk: 'a', sk: 'b' } },
    ]);
  });

  test('queries: prefix, bounds, BETWEEN, the index, projection, consistency, filter and paging', async () => {
    const { store, sent } = recording((input) => (input.ExclusiveStartKey ? { Items: [{ n: 2 }] } : { Items: [{ n: 1 }], LastEvaluatedKey: { pk: 'p', sk: 'k' } }));
    expect(await store.query({ partition: 'USER#1', prefix: 'CONN#', consistent: true, attributes: ['connectionId', 'ttl'] })).toEqual([{ n: 1 }, { n: 2 }]);
    expect(sent[0].input).toEqual({
      TableName: 'T',
      KeyConditionExpression: 'pk = :v0 AND begins_with(sk, :v1)',
      ProjectionExpression: '#n0, #n1',
      ExpressionAttributeNames: { '#n0': 'connectionId', '#n1': 'ttl' },
      ExpressionAttributeValues: { ':v0': 'USER#1', ':v1': 'CONN#' },
      ConsistentRead: true,
    });
    expect(sent[1].input.ExclusiveStartKey).toEqual({ pk: 'p', sk: 'k' });
    sent.length = 0;
    await store.queryPage({ index: true, partition: 'CONNECTIONS', after: '0042', limit: 1 });
    await store.queryPage({ partition: 'CHANNEL#3', from: 'MSG#0', to: 'MSG#9', descending: true, filter: allOf(ex`authorId = ${5}`, ex`contains(${attr('text')}, ${'hi'})`) });
    expect(sent.map((s) => s.input)).toEqual([
      { TableName: 'T', IndexName: 'gsi1', KeyConditionExpression: 'gsi1pk = :v0 AND gsi1sk > :v1', ExpressionAttributeValues: { ':v0': 'CONNECTIONS', ':v1': '0042' }, Limit: 1 },
      {
        TableName: 'T',
        KeyConditionExpression: 'pk = :v0 AND sk BETWEEN :v1 AND :v2',
        FilterExpression: 'authorId = :v3 AND contains(#n0, :v4)',
        ExpressionAttributeNames: { '#n0': 'text' },
        ExpressionAttributeValues: { ':v0': 'CHANNEL#3', ':v1': 'MSG#0', ':v2': 'MSG#9', ':v3': 5, ':v4': 'hi' },
        ScanIndexForward: false,
      },
    ]);
    await expect(store.query({ partition: 'x', prefix: 'A', after: 'B' })).rejects.toThrow('one condition on the sort key');
  });

  test('a transaction renders each item with its own placeholders', async () => {
    const { store, sent } = recording();
    await store.transact([
      { put: { pk: 'a', sk: '1' }, if: absent },
      { update: { pk: 'a', sk: '2' }, changes: { add: { count: -1 } } },
      { delete: { pk: 'a', sk: '3' }, if: ex`${attr('state')} = ${'friends'}` },
      { check: { pk: 'a', sk: '4' }, if: exists },
    ]);
    expect(sent[0].input.TransactItems).toEqual([
      { Put: { TableName: 'T', Item: { pk: 'a', sk: '1' }, ConditionExpression: 'attribute_not_exists(pk)' } },
      { Update: { TableName: 'T', Key: { pk: 'a', sk: '2' }, UpdateExpression: 'ADD #n0 :v0', ExpressionAttributeNames: { '#n0': 'count' }, ExpressionAttributeValues: { ':v0': -1 } } },
      { Delete: { TableName: 'T', Key: { pk: 'a', sk: '3' }, ConditionExpression: '#n0 = :v0', ExpressionAttributeNames: { '#n0': 'state' }, ExpressionAttributeValues: { ':v0': 'friends' } } },
      { ConditionCheck: { TableName: 'T', Key: { pk: 'a', sk: '4' }, ConditionExpression: 'attribute_exists(pk)' } },
    ]);
  });

  test('refusals become ConditionFailed (with the old item when asked for), lost races TransactionConflict', async () => {
    const refusal = Object.assign(new Error('refused'), { name: 'ConditionalCheckFailedException', Item: { connectedAt: { N: '12' }, userId: { N: '3' }, s: { S: 'x' } } });
    const { store, sent } = recording(() => Promise.reject(refusal));
    const error = await store.delete({ pk: 'a', sk: 'b' }, { if: ex`openedAt < ${1}`, returning: 'ALL_OLD' }).catch((e: unknown) => e);
    expect(isConditionFailure(error)).toBe(true);
    expect((error as ConditionFailed).item).toEqual({ connectedAt: 12, userId: 3, s: 'x' });
    expect(sent[0].input).toMatchObject({ ReturnValues: 'ALL_OLD', ReturnValuesOnConditionCheckFailure: 'ALL_OLD' });
    expect(await applied(store.put({ pk: 'a', sk: 'b' }, { if: absent }))).toBe(false);
    expect(await orIfRefused(store.put({ pk: 'a', sk: 'b' }, { if: absent }), 'refused')).toBe('refused');
    await expect(orThrow(store.put({ pk: 'a', sk: 'b' }, { if: absent }), () => new Error('mapped'))).rejects.toThrow('mapped');

    const conflict = Object.assign(new Error('cancelled [TransactionConflict, None]'), { name: 'TransactionCanceledException' });
    const racing = recording(() => Promise.reject(conflict)).store;
    const lost = await racing.transact([{ check: { pk: 'a', sk: 'b' }, if: exists }]).catch((e: unknown) => e);
    expect(isTransactionConflict(lost)).toBe(true);
    expect(isConditionFailure(lost)).toBe(false);

    const other = Object.assign(new Error('down'), { code: 'ECONNREFUSED' });
    await expect(applied(recording(() => Promise.reject(other)).store.put({ pk: 'a', sk: 'b' }, { if: absent }))).rejects.toBe(other);
  });

  test('getMany reads 100 keys a request and retries unprocessed keys', async () => {
    let calls = 0;
    const { store, sent } = recording((input) => {
      calls++;
      const keys = (input.RequestItems as Record<string, { Keys: Array<{ pk: string }> }>).T.Keys;
      // The first answer leaves one key unprocessed.
      return calls === 1 ? { Responses: { T: keys.slice(1) }, UnprocessedKeys: { T: { Keys: keys.slice(0, 1) } } } : { Responses: { T: keys } };
    });
    const wanted = Array.from({ length: 150 }, (_, i) => ({ pk: `P${i}`, sk: 'S' }));
    const items = await store.getMany(wanted, { consistent: true, attributes: ['id'] });
    expect(items.map((item) => item.pk).sort()).toEqual(wanted.map((key) => key.pk).sort());
    expect(sent.map((s) => (s.input.RequestItems as Record<string, { Keys: unknown[] }>).T.Keys.length).sort((a, b) => a - b)).toEqual([1, 50, 100]);
    expect((sent[0].input.RequestItems as Record<string, unknown>).T).toMatchObject({ ConsistentRead: true, ProjectionExpression: '#n0', ExpressionAttributeNames: { '#n0': 'id' } });
  });
});
