import { createHash, createHmac } from 'node:crypto';

/** What signing needs of the caller's identity (the shape the SDK's credential providers return). */
export interface SigningCredentials {
  accessKeyId: string;
  secretAccessKey: string;
  sessionToken?: string;
}

export interface RequestToSign {
  method: string;
  host: string;
  /** The path as it goes on the wire, already percent-encoded once. */
  path: string;
  body: Buffer;
  /** Hex SHA-256 of `body`, when the caller has it already (one payload, many recipients). */
  bodySha256?: string;
  /** Further headers to send and sign (lower-case names), e.g. Lambda's `x-amz-invocation-type`. */
  headers?: Record<string, string>;
}

export const sha256Hex = (data: Buffer | string): string => createHash('sha256').update(data).digest('hex');

const hmac = (key: Buffer | string, data: string): Buffer => createHmac('sha256', key).update(data).digest();

/** RFC 3986 unreserved characters stay, everything else is %XX (upper case), as SigV4 wants. */
function uriEscape(segment: string): string {
  return encodeURIComponent(segment).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
}

/**
 * AWS Signature Version 4 for one request without a query string, for services other than S3 (whose path
 * segments are escaped once more in the canonical request). Signs host and x-amz-date (and the session token).
 * A thin replacement for the SDK's middleware stack on the hot path of fan-out, where the SDK costs ~1 ms of
 * CPU per post; `test/unit/sigv4.test.ts` checks it against the SDK's own signer for every request shape we
 * sign. Kept rather than `@smithy/signature-v4` alone: that signer costs 3-6x the CPU per signature, one
 * per recipient of every event (bench/sigv4.ts; docs/performance.md, "SigV4: our signer or the SDK's").
 */
export class SigV4Signer {
  private signingKey: { scope: string; secret: string; key: Buffer } | undefined;

  constructor(
    private readonly region: string,
    private readonly service: string,
  ) {}

  sign(request: RequestToSign, credentials: SigningCredentials, now = new Date()): Record<string, string> {
    const amzDate = now.toISOString().replace(/[-:]/g, '').replace(/\.\d{3}/, '');
    const day = amzDate.slice(0, 8);
    const headers: Record<string, string> = { ...request.headers, host: request.host, 'x-amz-date': amzDate };
    if (credentials.sessionToken) headers['x-amz-security-token'] = credentials.sessionToken;
    const names = Object.keys(headers).sort();
    const canonicalPath = request.path
      .split('/')
      .map((segment) => uriEscape(segment))
      .join('/');
    const canonicalHeaders = names.map((name) => `${name}:${headers[name].trim()}\n`).join('');
    const payloadHash = request.bodySha256 ?? sha256Hex(request.body);
    // Method, path, (empty) query, headers (each line ends with \n), signed header names, payload hash.
    const canonicalRequest = `${request.method}\n${canonicalPath}\n\n${canonicalHeaders}\n${names.join(';')}\n${payloadHash}`;
    const scope = `${day}/${this.region}/${this.service}/aws4_request`;
    const stringToSign = ['AWS4-HMAC-SHA256', amzDate, scope, sha256Hex(canonicalRequest)].join('\n');
    const signature = createHmac('sha256', this.key(scope, day, credentials.secretAccessKey)).update(stringToSign).digest('hex');
    headers.authorization = `AWS4-HMAC-SHA256 Credential=${credentials.accessKeyId}/${scope}, SignedHeaders=${names.join(';')}, Signature=${signature}`;
    return headers;
  }

  /** The derived key changes once a day (or with the credentials): four HMACs saved per request. */
  private key(scope: string, day: string, secret: string): Buffer {
    if (this.signingKey?.scope !== scope || this.signingKey.secret !== secret) {
      const key = hmac(hmac(hmac(hmac(`AWS4${secret}`, day), this.region), this.service), 'aws4_request');
      this.signingKey = { scope, secret, key };
    }
    return this.signingKey.key;
  }
}
