import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import type { OfflineGrace, PendingOffline } from '../domain/ports';
import { SigV4Signer, type SigningCredentials } from './sigv4';

/** SQS delays a message by whole seconds, at most 15 minutes. */
export function delaySecondsOf(graceMs: number): number {
  return Math.min(900, Math.max(0, Math.ceil(graceMs / 1000)));
}

/**
 * The offline grace on AWS: one SQS SendMessage with DelaySeconds per user whose last connection went; the
 * queue's Lambda (lambdas/schedule/offline-grace.ts) runs the check when the message becomes visible.
 * Signed here (SQS's JSON protocol) instead of through `@aws-sdk/client-sqs`, which the bundles would
 * otherwise carry for this one call, as LambdaAfterConnect does for Lambda's Invoke.
 */
export class SqsOfflineGrace implements OfflineGrace {
  private readonly signer: SigV4Signer;
  private readonly endpoint: URL;

  /** `credentials`: the function's role, as an SDK client's provider finds them. */
  constructor(
    private readonly queueUrl: string,
    readonly graceMs: number,
    private readonly credentials: () => Promise<SigningCredentials>,
    region = process.env.AWS_REGION ?? 'us-east-1',
  ) {
    this.signer = new SigV4Signer(region, 'sqs');
    // The queue's own host serves the API (an emulator's too).
    this.endpoint = new URL(queueUrl);
  }

  async schedule(pending: PendingOffline): Promise<void> {
    const body = Buffer.from(
      JSON.stringify({ QueueUrl: this.queueUrl, MessageBody: JSON.stringify({ userId: pending.userId, epoch: pending.epoch }), DelaySeconds: delaySecondsOf(this.graceMs) }),
    );
    const host = this.endpoint.host;
    const headers = this.signer.sign(
      { method: 'POST', host, path: '/', body, headers: { 'content-type': 'application/x-amz-json-1.0', 'x-amz-target': 'AmazonSQS.SendMessage' } },
      await this.credentials(),
    );
    const request = this.endpoint.protocol === 'http:' ? httpRequest : httpsRequest;
    return new Promise((resolve, reject) => {
      const outgoing = request(
        { hostname: this.endpoint.hostname, port: this.endpoint.port || undefined, method: 'POST', path: '/', headers: { ...headers, 'content-length': String(body.length) } },
        (response) => {
          const chunks: Buffer[] = [];
          response.on('data', (chunk: Buffer) => chunks.push(chunk));
          response.on('end', () =>
            response.statusCode === 200
              ? resolve()
              : reject(new Error(`SQS SendMessage answered HTTP ${response.statusCode}: ${Buffer.concat(chunks).toString('utf8').slice(0, 200)}`)),
          );
        },
      );
      outgoing.setTimeout(3000, () => outgoing.destroy(new Error('SQS SendMessage timed out')));
      outgoing.on('error', reject);
      outgoing.end(body);
    });
  }
}
