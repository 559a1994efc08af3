import { Agent as HttpAgent, type IncomingMessage, request as httpRequest } from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';
import { ApiGatewayManagementApiClient, DeleteConnectionCommand, GetConnectionCommand } from '@aws-sdk/client-apigatewaymanagementapi';
import { DELIVERY_CONCURRENCY } from '../domain/fanout';
import type { ConnectionSender } from '../domain/ports';
import { sha256Hex, SigV4Signer, type SigningCredentials } from './sigv4';

/** A post is tried twice at most (as the SDK client was configured before), on network errors, 429 and 5xx. */
const MAX_ATTEMPTS = 2;
const RETRY_DELAY_MS = 50;
const REQUEST_TIMEOUT_MS = 5000;

/** `{region}` of `https://{api}.execute-api.{region}.amazonaws.com/{stage}`. */
function regionOfEndpoint(host: string): string | undefined {
  return /\.execute-api\.([a-z0-9-]+)\.amazonaws\.com$/.exec(host)?.[1];
}

/**
 * Delivers events through the API Gateway Management API (on AWS, and the local gateway's twin of it).
 *
 * `post` is on the hot path of every fan-out: one call per recipient. It signs `PostToConnection` itself and
 * sends it over a keep-alive agent, instead of going through the SDK client's middleware stack, which costs
 * about 1.1 ms of CPU per post against about 0.2 ms for this (docs/performance.md, "Cost of one delivery").
 * Credentials still come from the SDK (its provider chain, cached and refreshed), and the rare
 * `DeleteConnection` still goes through the SDK client.
 */
export class ManagementApiSender implements ConnectionSender {
  private readonly client: ApiGatewayManagementApiClient;
  private readonly endpoint: URL;
  private readonly basePath: string;
  private readonly agent: HttpAgent;
  private readonly signer: SigV4Signer;
  private readonly credentials: () => Promise<SigningCredentials>;
  /** The last payload and its bytes and hash: a fan-out posts one payload to many connections. */
  private encoded: { payload: string; body: Buffer; sha256: string } | undefined;

  /** `credentials`: the SDK's provider chain when unset (the local runtime gives the ones its gateway accepts). */
  constructor(endpoint: string, options: { region?: string; credentials?: () => Promise<SigningCredentials> } = {}) {
    this.endpoint = new URL(endpoint);
    const region = options.region ?? process.env.AWS_REGION ?? regionOfEndpoint(this.endpoint.hostname) ?? 'us-east-1';
    this.client = new ApiGatewayManagementApiClient({ endpoint, region, maxAttempts: MAX_ATTEMPTS, credentials: options.credentials });
    this.basePath = this.endpoint.pathname.replace(/\/+$/, '');
    const secure = this.endpoint.protocol === 'https:';
    // One socket per concurrent post of a fan-out; kept open between invocations of a warm Lambda.
    const agentOptions = { keepAlive: true, maxSockets: DELIVERY_CONCURRENCY };
    this.agent = secure ? new HttpsAgent(agentOptions) : new HttpAgent(agentOptions);
    this.signer = new SigV4Signer(region, 'execute-api');
    this.credentials = options.credentials ?? (() => this.client.config.credentials());
  }

  async post(connectionId: string, payload: string): Promise<'sent' | 'gone'> {
    const { body, sha256 } = this.encode(payload);
    const path = `${this.basePath}/@connections/${encodeURIComponent(connectionId)}`;
    for (let attempt = 1; ; attempt++) {
      let outcome: { status: number; errorType?: string } | Error;
      try {
        const headers = this.signer.sign({ method: 'POST', host: this.endpoint.host, path, body, bodySha256: sha256 }, await this.credentials());
        outcome = await this.send(path, headers, body);
      } catch (error) {
        outcome = error instanceof Error ? error : new Error(String(error));
      }
      if (!(outcome instanceof Error)) {
        if (outcome.status >= 200 && outcome.status < 300) return 'sent';
        if (outcome.status === 410) return 'gone';
      }
      const retryable = outcome instanceof Error || outcome.status === 429 || outcome.status >= 500;
      if (!retryable || attempt >= MAX_ATTEMPTS) {
        if (outcome instanceof Error) throw outcome;
        throw new Error(`PostToConnection answered HTTP ${outcome.status}${outcome.errorType ? ` (${outcome.errorType})` : ''}`);
      }
      await new Promise((resolve) => setTimeout(resolve, RETRY_DELAY_MS));
    }
  }

  async close(connectionId: string): Promise<void> {
    try {
      await this.client.send(new DeleteConnectionCommand({ ConnectionId: connectionId }));
    } catch (error) {
      if ((error as { name?: string }).name !== 'GoneException') throw error;
    }
  }

  /** GetConnection: false only when API Gateway says the connection is gone (any other failure: assume it lives). */
  async exists(connectionId: string): Promise<boolean> {
    try {
      await this.client.send(new GetConnectionCommand({ ConnectionId: connectionId }));
      return true;
    } catch (error) {
      return (error as { name?: string }).name !== 'GoneException';
    }
  }

  private encode(payload: string): { body: Buffer; sha256: string } {
    if (this.encoded?.payload !== payload) {
      const body = Buffer.from(payload);
      this.encoded = { payload, body, sha256: sha256Hex(body) };
    }
    return this.encoded;
  }

  private send(path: string, headers: Record<string, string>, body: Buffer): Promise<{ status: number; errorType?: string }> {
    const request = this.endpoint.protocol === 'https:' ? httpsRequest : httpRequest;
    return new Promise((resolve, reject) => {
      const outgoing = request(
        {
          protocol: this.endpoint.protocol,
          hostname: this.endpoint.hostname,
          port: this.endpoint.port || undefined,
          method: 'POST',
          path,
          agent: this.agent,
          headers: { ...headers, 'content-type': 'application/octet-stream', 'content-length': String(body.length) },
        },
        (response: IncomingMessage) => {
          // The body is an error description at most; draining it frees the socket for the next post.
          response.resume();
          response.on('end', () => {
            const errorType = response.headers['x-amzn-errortype'];
            resolve({ status: response.statusCode ?? 0, errorType: typeof errorType === 'string' ? errorType.split(':')[0] : undefined });
          });
          response.on('error', reject);
        },
      );
      outgoing.setTimeout(REQUEST_TIMEOUT_MS, () => outgoing.destroy(new Error(`PostToConnection timed out after ${REQUEST_TIMEOUT_MS} ms`)));
      outgoing.on('error', reject);
      outgoing.end(body);
    });
  }
}
