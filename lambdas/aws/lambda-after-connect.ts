import { request as httpsRequest } from 'node:https';
import type { AfterConnect, OpenedConnection } from '../domain/ports';
import { SigV4Signer, type SigningCredentials } from './sigv4';

/**
 * Hands the work after `$connect` to the `opened` function with an asynchronous invoke (`Event`: Lambda
 * queues it and answers 202 at once, so `$connect` is not held up). Signed here instead of through
 * `@aws-sdk/client-lambda`, which the runtime bundle would otherwise have to carry for this one call.
 * `Payload` is what the function takes: the main socket's OpenedConnection, or another socket's (the workspace one's).
 */
export class LambdaAfterConnect<Payload = OpenedConnection> implements AfterConnect<Payload> {
  private readonly signer: SigV4Signer;
  private readonly host: string;

  /** `credentials`: the function's role, as an SDK client's provider finds them. */
  constructor(
    private readonly functionName: string,
    private readonly credentials: () => Promise<SigningCredentials>,
    region = process.env.AWS_REGION ?? 'us-east-1',
  ) {
    this.signer = new SigV4Signer(region, 'lambda');
    this.host = `lambda.${region}.amazonaws.com`;
  }

  async schedule(payload: Payload): Promise<void> {
    const body = Buffer.from(JSON.stringify(payload));
    const path = `/2015-03-31/functions/${encodeURIComponent(this.functionName)}/invocations`;
    const headers = this.signer.sign({ method: 'POST', host: this.host, path, body, headers: { 'x-amz-invocation-type': 'Event' } }, await this.credentials());
    return new Promise((resolve, reject) => {
      const outgoing = httpsRequest({ hostname: this.host, method: 'POST', path, headers: { ...headers, 'content-length': String(body.length) } }, (response) => {
        response.resume();
        response.on('end', () => (response.statusCode === 202 ? resolve() : reject(new Error(`Lambda Invoke answered HTTP ${response.statusCode}`))));
      });
      outgoing.setTimeout(3000, () => outgoing.destroy(new Error('Lambda Invoke timed out')));
      outgoing.on('error', reject);
      outgoing.end(body);
    });
  }
}
