/**
 * REST -> media node control commands: signed, single-use (a request id the node refuses twice), and the
 * key read at run time from Secrets Manager (cached) instead of the Lambda's environment. The control
 * server is the real one over loopback; only the media node behind it is a recorder of the commands that
 * reach it, and Secrets Manager is a loopback endpoint that checks the SigV4 signature of each call.
 */
import { createServer, type IncomingMessage, type Server } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { SecretsManagerSecret } from '../../lambdas/aws/secrets-manager';
import { SigV4Signer } from '../../lambdas/aws/sigv4';
import { HttpVoiceControl, MAX_SKEW_SECONDS, parseControlAddress, postPinned, SeenNonces, SIGNATURE_HEADER, signControl } from '../../lambdas/adapters/http-voice-control';
import { createControlIdentity } from '../../media-node/control-identity';
import { startControlServer } from '../../media-node/control';
import type { MediaNode } from '../../media-node/node';

const SECRET = 'k'.repeat(48);

interface Recorded {
  kicks: Array<{ userId: number; reason: string; channelId?: number }>;
}

function recordingNode(): { node: MediaNode; recorded: Recorded } {
  const recorded: Recorded = { kicks: [] };
  const node = {
    kick: (userId: number, reason: string, channelId?: number) => {
      recorded.kicks.push({ userId, reason, channelId });
      return true;
    },
    closeChannel: () => 0,
    setAdminState: () => false,
  } as unknown as MediaNode;
  return { node, recorded };
}

function readBody(request: IncomingMessage): Promise<Buffer> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => resolve(Buffer.concat(chunks)));
  });
}

async function listen(server: Server): Promise<string> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

const close = (server: Server) => new Promise<void>((resolve) => server.close(() => resolve()));

/**
 * A tap in front of the node that forwards each request and keeps a copy. On the network that is no longer
 * possible (TLS pinned to the node: test/unit/control-tls.test.ts); here REST is handed the tap's own pinned
 * address, as if the tap had written a voice state, so the single-use rule is still tested on its own.
 */
async function startTap(target: string): Promise<{ url: string; captured: Array<{ signature: string; body: string }>; stop(): Promise<void> }> {
  const captured: Array<{ signature: string; body: string }> = [];
  const identity = createControlIdentity();
  const server = createHttpsServer({ cert: identity.cert, key: identity.key }, async (request, response) => {
    const body = (await readBody(request)).toString('utf8');
    const signature = request.headers[SIGNATURE_HEADER] as string;
    captured.push({ signature, body });
    const forwarded = await postPinned(parseControlAddress(target)!, { 'content-type': 'application/json', [SIGNATURE_HEADER]: signature }, body);
    response.writeHead(forwarded.status, { 'content-type': 'application/json' }).end(forwarded.body);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `https://127.0.0.1:${(server.address() as AddressInfo).port}#sha256=${identity.fingerprint}`;
  return { url, captured, stop: () => new Promise((resolve) => server.close(() => resolve())) };
}

/** A signed request straight to the node's pinned address; the answer's status and JSON body. */
const post = async (url: string, signature: string, body: string) => {
  const answer = await postPinned(parseControlAddress(url)!, { 'content-type': 'application/json', [SIGNATURE_HEADER]: signature }, body);
  return { status: answer.status, json: async () => JSON.parse(answer.body) as unknown };
};

describe('control commands are single-use', () => {
  test('a captured command replayed to the node is refused and does not reach the node again', async () => {
    const { node, recorded } = recordingNode();
    const control = await startControlServer({ node, secret: SECRET, port: 0, host: '127.0.0.1' });
    const tap = await startTap(control.url);
    try {
      const done = await new HttpVoiceControl(SECRET).send(tap.url, { kind: 'kick', userId: 7, channelId: 3, reason: 'Kicked' });
      expect(done).toBe(true);
      expect(recorded.kicks).toEqual([{ userId: 7, reason: 'Kicked', channelId: 3 }]);
      expect(tap.captured).toHaveLength(1);
      expect(tap.captured[0].signature).toMatch(/^t=\d+,n=[0-9a-f-]{36},v1=[0-9a-f]{64}$/);

      const [{ signature, body }] = tap.captured;
      const replayed = await post(control.url, signature, body);
      expect({ status: replayed.status, body: await replayed.json() }).toEqual({ status: 409, body: { error: 'replayed' } });
      expect(recorded.kicks).toHaveLength(1);

      // The same command sent again by REST is a new request (new id) and is carried out.
      expect(await new HttpVoiceControl(SECRET).send(control.url, { kind: 'kick', userId: 7, channelId: 3, reason: 'Kicked' })).toBe(true);
      expect(recorded.kicks).toHaveLength(2);
    } finally {
      await tap.stop();
      await control.stop();
    }
  });

  test('an altered body, a swapped request id, a stale or an old-format signature is refused', async () => {
    const { node, recorded } = recordingNode();
    const control = await startControlServer({ node, secret: SECRET, port: 0, host: '127.0.0.1' });
    try {
      const body = JSON.stringify({ kind: 'kick', userId: 1, reason: 'Kicked' });
      const signature = signControl(SECRET, body);
      const answer = async (response: { status: number; json(): Promise<unknown> }) => ({ status: response.status, body: await response.json() });

      expect(await answer(await post(control.url, signature, body.replace('"userId":1', '"userId":2')))).toEqual({ status: 401, body: { error: 'bad signature' } });
      const otherId = signature.replace(/n=[^,]+/, 'n=00000000-0000-4000-8000-000000000000');
      expect(await answer(await post(control.url, otherId, body))).toEqual({ status: 401, body: { error: 'bad signature' } });
      const stale = signControl(SECRET, body, Date.now() - (MAX_SKEW_SECONDS + 5) * 1000);
      expect(await answer(await post(control.url, stale, body))).toEqual({ status: 401, body: { error: 'stale' } });
      // The format before request ids: timestamp and MAC only.
      const withoutId = signature.replace(/,n=[^,]+/, '');
      expect(await answer(await post(control.url, withoutId, body))).toEqual({ status: 401, body: { error: 'bad signature' } });
      expect(recorded.kicks).toEqual([]);

      expect(await answer(await post(control.url, signature, body))).toEqual({ status: 200, body: { done: true } });
    } finally {
      await control.stop();
    }
  });

  test('request ids are remembered only while their requests could still be accepted', () => {
    const seen = new SeenNonces();
    const now = 1_000_000;
    expect(seen.accept('a'.repeat(36), now + 61_000, now)).toBe(true);
    expect(seen.accept('a'.repeat(36), now + 61_000, now + 60_000)).toBe(false);
    expect(seen.accept('b'.repeat(36), now + 62_000, now + 1_000)).toBe(true);
    expect(seen.size).toBe(2);
    // Past the first expiry, the first id is forgotten (its request is stale by then anyway).
    expect(seen.accept('c'.repeat(36), now + 70_000, now + 61_500)).toBe(true);
    expect(seen.size).toBe(2);
  });
});

describe('the control key from Secrets Manager', () => {
  const credentials = { accessKeyId: 'AKIDEXAMPLE', secretAccessKey: 'wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY', sessionToken: 'session' };
  const ARN = 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:MediaControlSecret-AbCdEf';

  /** GetSecretValue over loopback: answers only correctly signed requests for the one secret. */
  async function startSecretsManager(values: string[]): Promise<{ url: string; calls: () => number; stop(): Promise<void> }> {
    let calls = 0;
    const server = createServer(async (request, response) => {
      const body = await readBody(request);
      const host = request.headers.host!;
      const expected = new SigV4Signer('eu-west-1', 'secretsmanager').sign({ method: 'POST', host, path: '/', body }, credentials, new Date(
        `${String(request.headers['x-amz-date']).replace(/^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/, '$1-$2-$3T$4:$5:$6Z')}`,
      ));
      const ok =
        request.headers.authorization === expected.authorization &&
        request.headers['x-amz-target'] === 'secretsmanager.GetSecretValue' &&
        request.headers['content-type'] === 'application/x-amz-json-1.1' &&
        JSON.parse(body.toString('utf8')).SecretId === ARN;
      if (!ok) return response.writeHead(400).end(JSON.stringify({ __type: 'InvalidSignatureException', message: 'no' }));
      const value = values[Math.min(calls, values.length - 1)];
      calls++;
      response.writeHead(200, { 'content-type': 'application/x-amz-json-1.1' }).end(JSON.stringify({ ARN, SecretString: value }));
    });
    const url = await listen(server);
    return { url, calls: () => calls, stop: () => close(server) };
  }

  test('is read once, with a signed GetSecretValue, and then served from memory', async () => {
    const manager = await startSecretsManager([SECRET]);
    try {
      const secret = new SecretsManagerSecret(ARN, { endpoint: manager.url, credentials: async () => credentials });
      const values = await Promise.all([secret.get(), secret.get(), secret.get()]);
      expect(values).toEqual([SECRET, SECRET, SECRET]);
      expect(await secret.get()).toBe(SECRET);
      expect(manager.calls()).toBe(1);
    } finally {
      await manager.stop();
    }
  });

  test('a refused call is an error that names the secret, not its value, and is not cached', async () => {
    const manager = await startSecretsManager([SECRET]);
    try {
      const wrong = new SecretsManagerSecret(ARN, { endpoint: manager.url, credentials: async () => ({ ...credentials, secretAccessKey: 'wrong' }) });
      await expect(wrong.get()).rejects.toThrow(`GetSecretValue of ${ARN} answered HTTP 400 (InvalidSignatureException)`);
      expect(manager.calls()).toBe(0);
    } finally {
      await manager.stop();
    }
  });

  test('after a rotation REST reads the key again once the node refuses the cached one', async () => {
    const manager = await startSecretsManager(['old-key', SECRET]);
    const { node, recorded } = recordingNode();
    const control = await startControlServer({ node, secret: SECRET, port: 0, host: '127.0.0.1' });
    try {
      const secret = new SecretsManagerSecret(ARN, { endpoint: manager.url, credentials: async () => credentials });
      expect(await secret.get()).toBe('old-key');
      const voice = new HttpVoiceControl(secret);
      expect(await voice.send(control.url, { kind: 'kick', userId: 9, reason: 'Kicked' })).toBe(true);
      expect(recorded.kicks).toHaveLength(1);
      expect(manager.calls()).toBe(2);
    } finally {
      await control.stop();
      await manager.stop();
    }
  });
});
