import { request as httpsRequest } from 'node:https';
import type { AfterConnect, OpenedConnection } from '../domain/after-connect';
import { SigV4Signer, type SigningCredentials } from './sigv4';

/** The Lambda runtime's own credentials (its execution role), as every SDK client there reads them. */
function credentialsFromEnvironment(): SigningCredentials {
  const { AWS_ACCESS_KEY_ID: accessKeyId, AWS_SECRET_ACCESS_KEY: secretAccessKey, AWS_SESSION_TOKEN: sessionToken } = process.env;
  if (!accessKeyId || !secretAccessKey) throw new Error('no AWS credentials in the environment');
  return { accessKeyId, secretAccessKey, sessionToken };
}

/**
 * Hands the work after `$connect` to the `opened` function with an asynchronous invoke (`Event`: Lambda
 * queues it and answers 202 at once, so `$connect` is not held up). Signed here instead of through
 * `@aws-sdk/client-lambda`, which the runtime bundle would otherwise have to carry for this one call.
 */
export class LambdaAfterConnect implements AfterConnect {
  private readonly signer: SigV4Signer;
  private readonly host: string;

  constructor(
    private readonly functionName: string,
    region = process.env.AWS_REGION ?? 'us-east-1',
    private readonly credentials: () => SigningCredentials = credentialsFromEnvironment,
  ) {
    this.signer = new SigV4Signer(region, 'lambda');
    this.host = `lambda.${region}.amazonaws.com`;
  }

  schedule(connection: OpenedConnection): Promise<void> {
    const body = Buffer.from(JSON.stringify(connection));
    const path = `/2015-03-31/functions/${encodeURIComponent(this.functionName)}/invocations`;
    const headers = this.signer.sign({ method: 'POST', host: this.host, path, body, headers: { 'x-amz-invocation-type': 'Event' } }, this.credentials());
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
