import type { ControlSecretSource } from '../adapters/http-voice-control';
import { SigV4Signer, type SigningCredentials } from './sigv4';

const REQUEST_TIMEOUT_MS = 3000;

/** The Lambda runtime's credentials: its role's temporary keys are in the environment. */
export async function credentialsFromEnvironment(): Promise<SigningCredentials> {
  const { AWS_ACCESS_KEY_ID: accessKeyId, AWS_SECRET_ACCESS_KEY: secretAccessKey, AWS_SESSION_TOKEN: sessionToken } = process.env;
  if (!accessKeyId || !secretAccessKey) throw new Error('no AWS credentials in the environment (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY)');
  return { accessKeyId, secretAccessKey, sessionToken: sessionToken || undefined };
}

/** `{region}` of a Secrets Manager ARN (`arn:aws:secretsmanager:{region}:{account}:secret:{name}`). */
function regionOfArn(arn: string): string | undefined {
  return /^arn:aws[a-z-]*:secretsmanager:([a-z0-9-]+):/.exec(arn)?.[1];
}

/**
 * One secret's string, read with `GetSecretValue` the first time it is needed and kept for the life of the
 * process (a Lambda execution environment), so the value never sits in the function's configuration
 * (GetFunctionConfiguration shows environment variables to anyone allowed to read it). It is a single
 * signed call (lambdas/aws/sigv4.ts) rather than the SDK's Secrets Manager client: one less package to
 * bundle or rely on, and nothing loaded at init.
 */
export class SecretsManagerSecret implements ControlSecretSource {
  private value: Promise<string> | undefined;
  private readonly endpoint: URL;
  private readonly signer: SigV4Signer;
  private readonly credentials: () => Promise<SigningCredentials>;

  constructor(
    private readonly secretId: string,
    options: { region?: string; endpoint?: string; credentials?: () => Promise<SigningCredentials> } = {},
  ) {
    const region = options.region ?? regionOfArn(secretId) ?? process.env.AWS_REGION ?? 'us-east-1';
    this.endpoint = new URL(options.endpoint ?? `https://secretsmanager.${region}.amazonaws.com/`);
    this.signer = new SigV4Signer(region, 'secretsmanager');
    this.credentials = options.credentials ?? credentialsFromEnvironment;
  }

  get(): Promise<string> {
    // Concurrent first callers share one request; a failed read is not cached.
    this.value ??= this.read().catch((error: unknown) => {
      this.value = undefined;
      throw error;
    });
    return this.value;
  }

  refresh(): void {
    this.value = undefined;
  }

  private async read(): Promise<string> {
    const body = Buffer.from(JSON.stringify({ SecretId: this.secretId }));
    const { host: _host, ...signed } = this.signer.sign({ method: 'POST', host: this.endpoint.host, path: '/', body }, await this.credentials());
    // fetch sends Host itself, from the same URL the signature covers.
    const response = await fetch(new URL('/', this.endpoint), {
      method: 'POST',
      headers: { ...signed, 'content-type': 'application/x-amz-json-1.1', 'x-amz-target': 'secretsmanager.GetSecretValue' },
      body,
      signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
    });
    const answer = (await response.json().catch(() => ({}))) as { SecretString?: string; __type?: string; message?: string };
    if (!response.ok) {
      // The error type and message name the secret at most, never its value.
      throw new Error(`GetSecretValue of ${this.secretId} answered HTTP ${response.status}${answer.__type ? ` (${answer.__type})` : ''}`);
    }
    if (typeof answer.SecretString !== 'string' || answer.SecretString === '') throw new Error(`secret ${this.secretId} has no SecretString`);
    return answer.SecretString;
  }
}
