import { createServer, type IncomingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { SQSEvent } from 'aws-lambda';
import { InProcessOfflineGrace } from '../../lambdas/adapters/in-process-offline-grace';
import { delaySecondsOf, SqsOfflineGrace } from '../../lambdas/aws/sqs-offline-grace';
import { createAppContext } from '../../lambdas/runtime';
import { handler, parsePendingOffline } from '../../lambdas/schedule/offline-grace';
import { DEFAULT_OFFLINE_GRACE_MS, runtimeSettingsFromEnv, SettingsError } from '../../lambdas/settings';
import type { PendingOffline } from '../../lambdas/domain/ports';

const BASE = { TABLE_NAME: 'zavodchat', WS_MANAGEMENT_ENDPOINT: 'https://abc.execute-api.eu-north-1.amazonaws.com/live' };
const CREDENTIALS = async () => ({ accessKeyId: 'AKIDEXAMPLE', secretAccessKey: 'secret', sessionToken: 'token' });

/** A loopback stand-in for SQS that records each request and answers `status`. */
async function fakeSqs(status: number) {
  const requests: Array<{ method?: string; url?: string; headers: IncomingHttpHeaders; body: string }> = [];
  const server = createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      requests.push({ method: request.method, url: request.url, headers: request.headers, body: Buffer.concat(chunks).toString('utf8') });
      response.writeHead(status, { 'content-type': 'application/x-amz-json-1.0' });
      response.end(status === 200 ? '{"MessageId":"m1"}' : '{"__type":"com.amazonaws.sqs#QueueDoesNotExist"}');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const queueUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}/123456789012/offline-grace`;
  return { requests, queueUrl, close: () => new Promise<void>((resolve) => server.close(() => resolve())) };
}

describe('SQS adapter', () => {
  test('one signed SendMessage (JSON protocol) to the queue, delayed by the grace in whole seconds', async () => {
    const sqs = await fakeSqs(200);
    try {
      await new SqsOfflineGrace(sqs.queueUrl, 2500, CREDENTIALS, 'eu-north-1').schedule({ userId: 7, epoch: 3 });
      expect(sqs.requests).toHaveLength(1);
      const [request] = sqs.requests;
      expect(request).toMatchObject({ method: 'POST', url: '/' });
      expect(request.headers).toMatchObject({ 'content-type': 'application/x-amz-json-1.0', 'x-amz-target': 'AmazonSQS.SendMessage', 'x-amz-security-token': 'token' });
      expect(request.headers.authorization).toMatch(/^AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE\/\d{8}\/eu-north-1\/sqs\/aws4_request, SignedHeaders=content-type;host;x-amz-date;x-amz-security-token;x-amz-target, Signature=[0-9a-f]{64}$/);
      const body = JSON.parse(request.body);
      expect(body).toEqual({ QueueUrl: sqs.queueUrl, MessageBody: JSON.stringify({ userId: 7, epoch: 3 }), DelaySeconds: 3 });
      expect(parsePendingOffline(body.MessageBody)).toEqual({ userId: 7, epoch: 3 });
    } finally {
      await sqs.close();
    }
  });

  test('a refusal is an error naming the status (the caller then goes offline at once)', async () => {
    const sqs = await fakeSqs(400);
    try {
      await expect(new SqsOfflineGrace(sqs.queueUrl, 1000, CREDENTIALS).schedule({ userId: 1, epoch: 1 })).rejects.toThrow('SQS SendMessage answered HTTP 400');
    } finally {
      await sqs.close();
    }
  });

  test('SQS delays by whole seconds, at most 15 minutes', () => {
    expect([0, 1, 1000, 1001, 15_000, 900_000, 1_000_000].map(delaySecondsOf)).toEqual([0, 1, 1, 2, 15, 900, 900]);
  });
});

describe('the queue\'s function', () => {
  test('reads {userId, epoch} and nothing else', () => {
    expect(parsePendingOffline('{"userId":5,"epoch":0}')).toEqual({ userId: 5, epoch: 0 });
    for (const body of ['', 'null', '[]', '{"userId":"5","epoch":1}', '{"userId":5}', '{"userId":5.5,"epoch":1}', '{"userId":5,"epoch":1e400}']) {
      expect([body, parsePendingOffline(body)]).toEqual([body, undefined]);
    }
  });

  test('drops a malformed message instead of retrying it forever', async () => {
    const event = { Records: [{ messageId: 'm1', body: 'not json' }] } as unknown as SQSEvent;
    expect(await handler(event)).toEqual({ batchItemFailures: [] });
  });
});

describe('in-process adapter', () => {
  test('runs each check after the grace; flush runs the pending ones at once', async () => {
    const ran: PendingOffline[] = [];
    const grace = new InProcessOfflineGrace(60_000, async (pending) => void ran.push(pending));
    await grace.schedule({ userId: 1, epoch: 1 });
    await grace.schedule({ userId: 2, epoch: 4 });
    expect([grace.pending, ran]).toEqual([2, []]);
    await grace.flush();
    expect([grace.pending, ran]).toEqual([0, [{ userId: 1, epoch: 1 }, { userId: 2, epoch: 4 }]]);

    const short = new InProcessOfflineGrace(20, async (pending) => void ran.push(pending));
    const scheduledAt = Date.now();
    await short.schedule({ userId: 3, epoch: 1 });
    await short.settled();
    expect(Date.now() - scheduledAt).toBeGreaterThanOrEqual(19);
    expect(ran.at(-1)).toEqual({ userId: 3, epoch: 1 });
  });
});

describe('settings', () => {
  test('PRESENCE_OFFLINE_GRACE_MS: 15 s by default, 0 for none, at most SQS\'s 15 minutes', () => {
    expect(runtimeSettingsFromEnv(BASE).presence).toEqual({ offlineGraceMs: DEFAULT_OFFLINE_GRACE_MS, offlineQueueUrl: undefined });
    expect(DEFAULT_OFFLINE_GRACE_MS).toBe(15_000);
    expect(runtimeSettingsFromEnv({ ...BASE, PRESENCE_OFFLINE_GRACE_MS: '0' }).presence.offlineGraceMs).toBe(0);
    for (const bad of ['-1', 'soon', '1.5', '900001']) {
      expect(() => runtimeSettingsFromEnv({ ...BASE, PRESENCE_OFFLINE_GRACE_MS: bad })).toThrow(SettingsError);
    }
    expect(() => runtimeSettingsFromEnv({ ...BASE, PRESENCE_OFFLINE_QUEUE_URL: 'a queue' })).toThrow("PRESENCE_OFFLINE_QUEUE_URL must be a URL, got 'a queue'");
  });

  test('the composition root chooses the queue, a timer, or none', () => {
    const context = (env: Record<string, string>) => createAppContext(runtimeSettingsFromEnv({ ...BASE, ...env }));
    expect(context({ PRESENCE_OFFLINE_QUEUE_URL: 'https://sqs.eu-north-1.amazonaws.com/123456789012/grace' }).offlineGrace).toBeInstanceOf(SqsOfflineGrace);
    expect(context({}).offlineGrace).toBeInstanceOf(InProcessOfflineGrace);
    expect(context({ PRESENCE_OFFLINE_GRACE_MS: '0' }).offlineGrace).toBeUndefined();
  });
});
