/**
 * REST -> media node control commands are confidential in every configuration: they travel over TLS to the
 * certificate the node's voice state pins (`https://<host>:<port>#sha256=<hex>`), with no domain and no CA.
 * The control server is the real one over loopback with its real in-memory identity; only the media node
 * behind it is a recorder of the commands that reach it. The eavesdropper is a TCP relay that keeps every
 * byte; the man in the middle a TLS server with another self-signed certificate that relays to the node.
 */
import { createPrivateKey, X509Certificate } from 'node:crypto';
import { request as httpRequest } from 'node:http';
import { createServer as createTcpServer, connect as tcpConnect, type AddressInfo, type Server, type Socket } from 'node:net';
import { connect as tlsConnect, createServer as createTlsServer, type TLSSocket } from 'node:tls';
import { HttpVoiceControl, parseControlAddress, pinnedControlAddress, postPinned, SIGNATURE_HEADER, signControl } from '../../lambdas/adapters/http-voice-control';
import { createControlIdentity } from '../../media-node/control-identity';
import { startControlServer } from '../../media-node/control';
import type { MediaNode } from '../../media-node/node';

const SECRET = 's'.repeat(48);

function recordingNode(): { node: MediaNode; kicks: Array<{ userId: number; reason: string; channelId?: number }> } {
  const kicks: Array<{ userId: number; reason: string; channelId?: number }> = [];
  const node = {
    kick: (userId: number, reason: string, channelId?: number) => {
      kicks.push({ userId, reason, channelId });
      return true;
    },
    closeChannel: () => 0,
    setAdminState: () => false,
  } as unknown as MediaNode;
  return { node, kicks };
}

async function listen(server: Server): Promise<number> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return (server.address() as AddressInfo).port;
}

/** Resolves when every connection the server accepted so far has closed, and at least `count` were accepted. */
function connectionsClosed(server: Server, count = 1): Promise<void> {
  return new Promise((resolve) => {
    let accepted = 0;
    let open = 0;
    // The TCP connection: a TLS server's too (its decrypted data is all read before the connection closes).
    server.on('connection', (socket: Socket) => {
      accepted++;
      open++;
      socket.once('close', () => {
        open--;
        if (open === 0 && accepted >= count) resolve();
      });
    });
  });
}

/** A TCP relay to `port` that keeps a copy of every byte in both directions: what anyone on the path sees. */
async function startEavesdropper(port: number): Promise<{ port: number; seen: () => Buffer; closed: Promise<void>; stop(): Promise<void> }> {
  const chunks: Buffer[] = [];
  const server = createTcpServer((client) => {
    const upstream = tcpConnect({ host: '127.0.0.1', port });
    client.on('data', (chunk: Buffer) => chunks.push(chunk));
    upstream.on('data', (chunk: Buffer) => chunks.push(chunk));
    client.pipe(upstream).pipe(client);
    // Either side gone ends the other (a half-closed relay would wait for ever).
    client.on('close', () => upstream.destroy());
    upstream.on('close', () => client.destroy());
    client.on('error', () => upstream.destroy());
    upstream.on('error', () => client.destroy());
  });
  const closed = connectionsClosed(server);
  return { port: await listen(server), seen: () => Buffer.concat(chunks), closed, stop: () => new Promise((resolve) => server.close(() => resolve())) };
}

/**
 * A man in the middle: terminates TLS with its own self-signed certificate and relays the decrypted bytes
 * to the real node over TLS, keeping a copy of what it could read.
 */
async function startManInTheMiddle(port: number): Promise<{ port: number; decrypted: () => string; closed: Promise<void>; stop(): Promise<void> }> {
  const own = createControlIdentity();
  const chunks: Buffer[] = [];
  const server = createTlsServer({ cert: own.cert, key: own.key }, (client: TLSSocket) => {
    const upstream = tlsConnect({ host: '127.0.0.1', port, rejectUnauthorized: false });
    client.on('data', (chunk: Buffer) => chunks.push(chunk));
    client.pipe(upstream).pipe(client);
    client.on('close', () => upstream.destroy());
    upstream.on('close', () => client.destroy());
    client.on('error', () => upstream.destroy());
    upstream.on('error', () => client.destroy());
  });
  const closed = connectionsClosed(server);
  return { port: await listen(server), decrypted: () => Buffer.concat(chunks).toString('utf8'), closed, stop: () => new Promise((resolve) => server.close(() => resolve())) };
}

describe('the control identity', () => {
  test('is a self-signed certificate for its key, new per process, whose SHA-256 is the pin the endpoint publishes and serves', async () => {
    const identity = createControlIdentity();
    const certificate = new X509Certificate(identity.cert);
    expect(certificate.verify(certificate.publicKey)).toBe(true);
    expect(certificate.checkPrivateKey(createPrivateKey(identity.key))).toBe(true);
    expect(certificate.fingerprint256.replace(/:/g, '').toLowerCase()).toBe(identity.fingerprint);
    expect(new Date(certificate.validTo).getTime()).toBeGreaterThan(Date.now() + 365 * 24 * 3600 * 1000);
    expect(createControlIdentity().fingerprint).not.toBe(identity.fingerprint);

    const { node } = recordingNode();
    const control = await startControlServer({ node, secret: SECRET, port: 0, host: '127.0.0.1', identity });
    try {
      expect(control.url).toBe(`https://127.0.0.1:${control.port}#sha256=${identity.fingerprint}`);
      const presented = await new Promise<string>((resolve, reject) => {
        const socket = tlsConnect({ host: '127.0.0.1', port: control.port, rejectUnauthorized: false }, () => {
          resolve(socket.getPeerX509Certificate()!.fingerprint256);
          socket.end();
        });
        socket.on('error', reject);
      });
      expect(presented).toBe(certificate.fingerprint256);
    } finally {
      await control.stop();
    }
  });

  test('the published address: https only, no path, a 64-digit pin', () => {
    const pin = 'ab'.repeat(32);
    expect(pinnedControlAddress('https://203.0.113.5:446', pin)).toBe(`https://203.0.113.5:446#sha256=${pin}`);
    expect(pinnedControlAddress('https://voice.chat.example.com:446/', pin)).toBe(`https://voice.chat.example.com:446#sha256=${pin}`);
    expect(() => pinnedControlAddress('http://203.0.113.5:446', pin)).toThrow('MEDIA_CONTROL_URL must be https://<host>[:<port>]');
    expect(() => pinnedControlAddress('https://203.0.113.5:446/control', pin)).toThrow('MEDIA_CONTROL_URL must be https://');
    expect(() => pinnedControlAddress('https://203.0.113.5:446', 'AB'.repeat(32))).toThrow('64 lower-case hex digits');
    expect(parseControlAddress(`https://203.0.113.5:446#sha256=${pin}`)?.fingerprint.toString('hex')).toBe(pin);
    for (const unpinned of ['http://127.0.0.1:446', `http://127.0.0.1:446#sha256=${pin}`, 'https://127.0.0.1:446', `https://127.0.0.1:446#sha256=${pin.slice(2)}`, `https://127.0.0.1:446/x#sha256=${pin}`, 'not a url']) {
      expect({ unpinned, parsed: parseControlAddress(unpinned) }).toEqual({ unpinned, parsed: undefined });
    }
  });
});

describe('control commands are confidential', () => {
  test('a command reaches the node over TLS to the pinned certificate, and a relay on the way reads none of it', async () => {
    const { node, kicks } = recordingNode();
    const control = await startControlServer({ node, secret: SECRET, port: 0, host: '127.0.0.1' });
    const tap = await startEavesdropper(control.port);
    try {
      const address = `https://127.0.0.1:${tap.port}#sha256=${control.fingerprint}`;
      const done = await new HttpVoiceControl(SECRET).send(address, { kind: 'kick', userId: 424242, channelId: 31337, reason: 'Kicked-marker-7f3a' });
      expect(done).toBe(true);
      expect(kicks).toEqual([{ userId: 424242, channelId: 31337, reason: 'Kicked-marker-7f3a' }]);
      await tap.closed;
      const seen = tap.seen();
      // A TLS handshake record went by (content type 22), then only ciphertext.
      expect(seen[0]).toBe(0x16);
      expect(seen.length).toBeGreaterThan(500);
      const text = seen.toString('latin1');
      for (const secret of ['424242', '31337', 'Kicked-marker-7f3a', SIGNATURE_HEADER, '/control', '"kick"', '"done"']) {
        expect({ secret, visible: text.includes(secret) }).toEqual({ secret, visible: false });
      }
    } finally {
      await tap.stop();
      await control.stop();
    }
  });

  test('a man in the middle with another certificate gets no byte of the command, and nothing is executed', async () => {
    const { node, kicks } = recordingNode();
    const control = await startControlServer({ node, secret: SECRET, port: 0, host: '127.0.0.1' });
    const mitm = await startManInTheMiddle(control.port);
    try {
      // The voice state names the node's certificate; the network leads to the man in the middle.
      const address = `https://127.0.0.1:${mitm.port}#sha256=${control.fingerprint}`;
      await expect(new HttpVoiceControl(SECRET).send(address, { kind: 'kick', userId: 5, reason: 'Kicked' })).rejects.toThrow(
        /presented a certificate other than the pinned one \(sha256 [0-9a-f]{64}\): nothing sent/,
      );
      await mitm.closed;
      expect(mitm.decrypted()).toBe('');
      expect(kicks).toEqual([]);
    } finally {
      await mitm.stop();
      await control.stop();
    }
  });

  test('another node (another certificate) at the pinned address is not sent the command either', async () => {
    const first = recordingNode();
    const second = recordingNode();
    const node = await startControlServer({ node: first.node, secret: SECRET, port: 0, host: '127.0.0.1' });
    const other = await startControlServer({ node: second.node, secret: SECRET, port: 0, host: '127.0.0.1' });
    try {
      const stale = `https://127.0.0.1:${other.port}#sha256=${node.fingerprint}`;
      await expect(new HttpVoiceControl(SECRET).send(stale, { kind: 'kick', userId: 5, reason: 'Kicked' })).rejects.toThrow('nothing sent');
      expect(await new HttpVoiceControl(SECRET).send(other.url, { kind: 'kick', userId: 6, reason: 'Kicked' })).toBe(true);
      // Only the command addressed with the right pin arrived.
      expect(second.kicks).toEqual([{ userId: 6, reason: 'Kicked', channelId: undefined }]);
      expect(first.kicks).toEqual([]);
    } finally {
      await other.stop();
      await node.stop();
    }
  });
});

describe('plain HTTP is refused', () => {
  test('by the node: a correctly signed request in clear is not executed, and its request id is still unused', async () => {
    const { node, kicks } = recordingNode();
    const control = await startControlServer({ node, secret: SECRET, port: 0, host: '127.0.0.1' });
    try {
      const body = JSON.stringify({ kind: 'kick', userId: 8, reason: 'Kicked' });
      const signature = signControl(SECRET, body);
      const plain = await new Promise<string>((resolve) => {
        const request = httpRequest(
          { host: '127.0.0.1', port: control.port, method: 'POST', path: '/control', agent: false, headers: { 'content-type': 'application/json', [SIGNATURE_HEADER]: signature } },
          (response) => {
            response.resume();
            resolve(`HTTP ${response.statusCode}`);
          },
        );
        request.on('error', (error: NodeJS.ErrnoException) => resolve(error.code ?? error.message));
        request.end(body);
      });
      expect(plain).toMatch(/^(ECONNRESET|EPIPE|HPE_\w+|socket hang up)$/);
      expect(kicks).toEqual([]);
      // The same signed request over TLS is accepted once: the clear one never got as far as the node's checks.
      const address = parseControlAddress(control.url)!;
      const headers = { 'content-type': 'application/json', [SIGNATURE_HEADER]: signature };
      expect(await postPinned(address, headers, body)).toEqual({ status: 200, body: '{"done":true}' });
      expect(await postPinned(address, headers, body)).toEqual({ status: 409, body: '{"error":"replayed"}' });
      expect(kicks).toHaveLength(1);
    } finally {
      await control.stop();
    }
  });

  test('by REST: an address without a pin (http://, or https:// without #sha256=) is not connected to', async () => {
    let connections = 0;
    const server = createTcpServer((socket) => {
      connections++;
      socket.destroy();
    });
    const port = await listen(server);
    try {
      const control = new HttpVoiceControl(SECRET);
      for (const address of [`http://127.0.0.1:${port}`, `https://127.0.0.1:${port}`, `http://127.0.0.1:${port}#sha256=${'a'.repeat(64)}`]) {
        await expect(control.send(address, { kind: 'kick', userId: 1, reason: 'Kicked' })).rejects.toThrow(`media node address '${address}' names no pinned certificate`);
      }
      // A pinned address on the same port does connect (the server hangs up): the refusals above never did.
      await expect(control.send(`https://127.0.0.1:${port}#sha256=${'a'.repeat(64)}`, { kind: 'kick', userId: 1, reason: 'Kicked' })).rejects.toThrow();
      expect(connections).toBe(1);
    } finally {
      await new Promise((resolve) => server.close(resolve));
    }
  });
});
