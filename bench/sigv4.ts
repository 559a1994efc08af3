import { createHash, createHmac, type Hash, type Hmac } from 'node:crypto';
import { Agent, createServer, request } from 'node:http';
import type { AddressInfo } from 'node:net';
import { SignatureV4 } from '@smithy/signature-v4';
import { sha256Hex, SigV4Signer, type SigningCredentials } from '../lambdas/aws/sigv4';
import { formatTable, median, section } from './support/report';

/**
 * The SigV4 decision of issue 15 (docs/performance.md, "SigV4: our signer or the SDK's"): the cost of signing
 * one PostToConnection with lambdas/aws/sigv4.ts and with @smithy/signature-v4 (the signer inside the AWS
 * SDK), alone and as part of the sender's keep-alive POST over loopback (64 in flight, as deliver() does).
 * `npx tsx bench/sigv4.ts`.
 */

/** The SDK's Node hash (@smithy/hash-node) is not a dependency of ours: the same thing on node:crypto. */
type SourceData = string | ArrayBuffer | ArrayBufferView;
const bytes = (data: SourceData): string | Buffer =>
  typeof data === 'string' ? data : ArrayBuffer.isView(data) ? Buffer.from(data.buffer, data.byteOffset, data.byteLength) : Buffer.from(data);

class NodeSha256 {
  private readonly hash: Hash | Hmac;
  constructor(secret?: SourceData) {
    this.hash = secret === undefined ? createHash('sha256') : createHmac('sha256', bytes(secret));
  }
  update(data: SourceData): void {
    this.hash.update(bytes(data));
  }
  async digest(): Promise<Uint8Array> {
    return this.hash.digest();
  }
}

type Sign = (path: string, body: Buffer, bodySha256: string) => Promise<Record<string, string>> | Record<string, string>;

const credentials: SigningCredentials = { accessKeyId: 'ASIAEXAMPLE', secretAccessKey: 'wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY', sessionToken: 'IQoJb3JpZ2luX2VjE'.repeat(40) };
const host = 'abc123def4.execute-api.eu-west-1.amazonaws.com';

export function signers(): Array<[string, Sign]> {
  const ours = new SigV4Signer('eu-west-1', 'execute-api');
  const smithy = new SignatureV4({ credentials: async () => credentials, region: 'eu-west-1', service: 'execute-api', sha256: NodeSha256, applyChecksum: false });
  return [
    ['lambdas/aws/sigv4.ts', (path, body, bodySha256) => ours.sign({ method: 'POST', host, path, body, bodySha256 }, credentials)],
    [
      '@smithy/signature-v4 (payload hash given)',
      async (path, body, bodySha256) =>
        (
          await smithy.sign({ method: 'POST', protocol: 'https:', hostname: host, path, query: {}, headers: { host, 'x-amz-content-sha256': bodySha256 }, body })
        ).headers,
    ],
  ];
}

export async function runSigV4Bench(rounds = 5, signsPerRound = 20_000, postsPerRound = 2_000): Promise<void> {
  section(`SigV4: ${signsPerRound} signatures and ${postsPerRound} signed keep-alive POSTs per round, median of ${rounds} rounds`);
  const body = Buffer.from(JSON.stringify({ name: 'message_created', data: { id: 1, author_id: 1, text: 'x'.repeat(120), attachments: [], mentions: [] } }));
  const bodySha256 = sha256Hex(body);
  const server = createServer((req, res) => {
    req.resume();
    req.on('end', () => res.end());
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  const agent = new Agent({ keepAlive: true, maxSockets: 64 });
  const post = (path: string, headers: Record<string, string>) =>
    new Promise<void>((resolve, reject) => {
      const { host: _host, ...rest } = headers;
      const outgoing = request({ host: '127.0.0.1', port, method: 'POST', path, agent, headers: { ...rest, 'content-length': String(body.length) } }, (response) => {
        response.resume();
        response.on('end', () => resolve());
      });
      outgoing.on('error', reject);
      outgoing.end(body);
    });
  const all = signers();
  const signTimes = new Map<string, number[]>(all.map(([name]) => [name, []]));
  const postTimes = new Map<string, number[]>(all.map(([name]) => [name, []]));
  try {
    for (let round = 0; round <= rounds; round++) {
      for (const [name, sign] of all) {
        let started = performance.now();
        for (let i = 0; i < signsPerRound; i++) await sign(`/live/@connections/conn${i}%3D`, body, bodySha256);
        const signMs = (performance.now() - started) / signsPerRound;
        started = performance.now();
        let next = 0;
        await Promise.all(
          Array.from({ length: 64 }, async () => {
            while (next < postsPerRound) {
              const path = `/live/@connections/conn${next++}%3D`;
              await post(path, await sign(path, body, bodySha256));
            }
          }),
        );
        const postMs = (performance.now() - started) / postsPerRound;
        // Round 0 warms up (JIT, sockets) and is not counted.
        if (round > 0) {
          signTimes.get(name)!.push(signMs);
          postTimes.get(name)!.push(postMs);
        }
      }
    }
  } finally {
    agent.destroy();
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  }
  console.log(
    formatTable(
      ['signer', 'ms per signature', 'ms per signed POST'],
      all.map(([name]) => [name, median(signTimes.get(name)!).toFixed(4), median(postTimes.get(name)!).toFixed(3)]),
    ),
  );
}

if (require.main === module) {
  runSigV4Bench().then(
    () => process.exit(0),
    (error) => {
      console.error(error);
      process.exit(1);
    },
  );
}
