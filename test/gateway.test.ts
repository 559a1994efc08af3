import {
  ApiGatewayManagementApiClient,
  DeleteConnectionCommand,
  GetConnectionCommand,
  GoneException,
  PostToConnectionCommand,
} from '@aws-sdk/client-apigatewaymanagementapi';
import { type SocketClient, TestSystem } from './support/system';

const IDLE_MS = 700;
const MAX_CONNECTION_MS = 2500;
let system: TestSystem;
let management: ApiGatewayManagementApiClient;

beforeAll(async () => {
  system = await TestSystem.start({ gatewayLimits: { idleTimeoutMs: IDLE_MS, maxConnectionMs: MAX_CONNECTION_MS } });
  management = new ApiGatewayManagementApiClient({ endpoint: system.runtime.managementEndpoint, region: 'us-east-1', credentials: { accessKeyId: 'x', secretAccessKey: 'y' } });
});
afterAll(async () => {
  management.destroy();
  await system.stop();
});

function onlyConnectionId(): string {
  const ids = [...system.runtime.gateway.connections.keys()];
  expect(ids).toHaveLength(1);
  return ids[0];
}

async function withSocket<T>(run: (client: SocketClient) => Promise<T>): Promise<T> {
  const client = await system.connect(await system.user());
  try {
    return await run(client);
  } finally {
    client.socket.terminate();
    await client.closed;
    // Its `$disconnect` done before the next test.
    await system.settle();
  }
}

describe("API Gateway's limits", () => {
  test('a frame above 32 KB closes the connection with 1009', () =>
    withSocket(async (client) => {
      client.send({ name: 'ping', data: 'x'.repeat(33 * 1024) });
      expect((await client.closed).code).toBe(1009);
    }));

  test('a 120 KB message in 30 KB frames is accepted; above 128 KB closes with 1009', async () => {
    await withSocket(async (client) => {
      const body = JSON.stringify({ name: 'too_big_to_route', data: 'y'.repeat(120 * 1024) });
      for (let at = 0; at < body.length; at += 30 * 1024) {
        client.socket.send(body.slice(at, at + 30 * 1024), { fin: at + 30 * 1024 >= body.length });
      }
      expect(await client.next('error')).toBe("unknown event 'too_big_to_route'");
    });
    await withSocket(async (client) => {
      const body = JSON.stringify({ name: 'ping', data: 'y'.repeat(130 * 1024) });
      for (let at = 0; at < body.length; at += 30 * 1024) {
        client.socket.send(body.slice(at, at + 30 * 1024), { fin: at + 30 * 1024 >= body.length });
      }
      expect((await client.closed).code).toBe(1009);
    });
  });

  test('a binary frame closes the connection with 1003', () =>
    withSocket(async (client) => {
      client.socket.send(Buffer.from([1, 2, 3]), { binary: true });
      expect((await client.closed).code).toBe(1003);
    }));

  test('an idle connection is closed with 1001 after the idle timeout; pings keep it open', () =>
    withSocket(async (client) => {
      const started = Date.now();
      const keepAlive = setInterval(() => client.send({ name: 'ping', data: '' }), IDLE_MS / 3);
      await new Promise((r) => setTimeout(r, IDLE_MS * 1.5));
      clearInterval(keepAlive);
      expect(client.socket.readyState).toBe(client.socket.OPEN);
      expect((await client.closed).code).toBe(1001);
      expect(Date.now() - started).toBeGreaterThanOrEqual(IDLE_MS * 1.5);
    }));

  test('a connection is closed with 1001 at the maximum duration even when active', () =>
    withSocket(async (client) => {
      const started = Date.now();
      const keepAlive = setInterval(() => client.send({ name: 'ping', data: '' }), IDLE_MS / 3);
      const { code } = await client.closed;
      clearInterval(keepAlive);
      expect(code).toBe(1001);
      expect(Date.now() - started).toBeGreaterThanOrEqual(MAX_CONNECTION_MS - 100);
    }));
});

describe('the Management API, spoken to by the unmodified AWS SDK client', () => {
  test('GetConnection, PostToConnection, DeleteConnection and GoneException', async () => {
    const user = await system.user();
    await system.server(user);
    const client = await system.connect(user, { query: 'status=2' });
    const connectionId = onlyConnectionId();

    const info = await management.send(new GetConnectionCommand({ ConnectionId: connectionId }));
    expect(info.Identity?.SourceIp).toMatch(/127\.0\.0\.1/);
    expect(info.ConnectedAt).toBeInstanceOf(Date);

    await management.send(new PostToConnectionCommand({ ConnectionId: connectionId, Data: Buffer.from('{"name":"hello","data":1}') }));
    expect(await client.next('hello')).toBe(1);

    await expect(management.send(new PostToConnectionCommand({ ConnectionId: 'unknownId=', Data: Buffer.from('x') }))).rejects.toBeInstanceOf(GoneException);

    await management.send(new DeleteConnectionCommand({ ConnectionId: connectionId }));
    await client.closed;
    // $disconnect ran: the user is offline again.
    for (let i = 0; i < 50 && (await system.rest('GET', `/users/${user.id}`)).json.status !== 0; i++) await new Promise((r) => setTimeout(r, 20));
    expect((await system.rest('GET', `/users/${user.id}`)).json.status).toBe(0);
    await expect(management.send(new GetConnectionCommand({ ConnectionId: connectionId }))).rejects.toBeInstanceOf(GoneException);
  });
});

describe('integration timeout', () => {
  test('a $connect that outlasts the integration timeout refuses the upgrade with 504, as API Gateway does', async () => {
    const { createServer } = await import('node:http');
    const { WebSocketGateway } = await import('../local/ws-gateway');
    const { default: WebSocket } = await import('ws');
    let finished = false;
    const gateway = new WebSocketGateway({
      routes: {
        $connect: async () => {
          await new Promise((r) => setTimeout(r, 600));
          finished = true;
          return { statusCode: 200 };
        },
        $disconnect: async () => ({ statusCode: 200 }),
        $default: async () => ({ statusCode: 200 }),
      },
      limits: { connectTimeoutMs: 150 },
    });
    const server = createServer();
    gateway.attach(server);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
    const { port } = server.address() as { port: number };
    const status = await new Promise<number>((resolve, reject) => {
      const socket = new WebSocket(`ws://127.0.0.1:${port}/`);
      socket.once('unexpected-response', (_request, response) => resolve(response.statusCode ?? 0));
      socket.once('open', () => reject(new Error('the upgrade was accepted')));
      socket.once('error', reject);
    });
    expect([status, finished]).toEqual([504, false]);
    expect(gateway.connections.size).toBe(0);
    await new Promise((r) => setTimeout(r, 600));
    await gateway.close();
    await new Promise((resolve) => server.close(resolve));
  });
});

describe('function concurrency (each route as a Lambda function of its own)', () => {
  /** A gateway whose `$connect` waits for `release`; records how many ran at once and which connections ran. */
  async function gatedGateway(options: { concurrency: number; connectTimeoutMs?: number }) {
    const { createServer } = await import('node:http');
    const { WebSocketGateway } = await import('../local/ws-gateway');
    const started: string[] = [];
    let running = 0;
    let mostAtOnce = 0;
    const gates: Array<() => void> = [];
    const messages: string[] = [];
    const gateway = new WebSocketGateway({
      routes: {
        $connect: async (event) => {
          started.push(event.queryStringParameters?.name ?? '?');
          mostAtOnce = Math.max(mostAtOnce, ++running);
          await new Promise<void>((resolve) => gates.push(resolve));
          running--;
          return { statusCode: 200 };
        },
        $disconnect: async () => ({ statusCode: 200 }),
        $default: async (event) => {
          messages.push(event.body ?? '');
          return { statusCode: 200 };
        },
      },
      concurrency: options.concurrency,
      limits: options.connectTimeoutMs ? { connectTimeoutMs: options.connectTimeoutMs } : {},
    });
    const server = createServer();
    gateway.attach(server);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
    const { port } = server.address() as { port: number };
    const stop = async () => {
      while (gates.length > 0) gates.shift()!();
      await gateway.close();
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    };
    const connectFunction = () => gateway.invocations.$connect ?? { running: 0, queued: 0 };
    return { gateway, port, started, gates, messages, mostAtOnce: () => mostAtOnce, connectFunction, stop };
  }

  /** Resolves with 'open' or the refused upgrade's status. */
  async function upgrade(port: number, name: string): Promise<{ outcome: 'open' | number; socket: import('ws').WebSocket }> {
    const { default: WebSocket } = await import('ws');
    const socket = new WebSocket(`ws://127.0.0.1:${port}/?name=${name}`);
    return new Promise((resolve, reject) => {
      socket.once('unexpected-response', (_request, response) => resolve({ outcome: response.statusCode ?? 0, socket }));
      socket.once('open', () => resolve({ outcome: 'open', socket }));
      socket.once('error', reject);
    });
  }

  const until = async (condition: () => boolean) => {
    while (!condition()) await new Promise((r) => setTimeout(r, 5));
  };

  test('a storm of upgrades runs at most `concurrency` $connects at once, the others in the order they came; all open', async () => {
    const g = await gatedGateway({ concurrency: 3 });
    try {
      const names = Array.from({ length: 12 }, (_, i) => `c${i}`);
      const upgrades = [];
      // One after the other reaches the gateway, so the order they came in is known.
      for (const name of names) {
        upgrades.push(upgrade(g.port, name));
        await until(() => g.started.length + g.connectFunction().queued >= upgrades.length);
      }
      await until(() => g.started.length === 3);
      expect(g.connectFunction()).toEqual({ running: 3, queued: 9 });
      while (g.started.length < names.length || g.gates.length > 0) {
        await until(() => g.gates.length > 0);
        g.gates.shift()!();
      }
      const results = await Promise.all(upgrades);
      expect(results.map((r) => r.outcome)).toEqual(names.map(() => 'open'));
      expect(g.started).toEqual(names);
      expect(g.mostAtOnce()).toBe(3);
      for (const { socket } of results) socket.terminate();
    } finally {
      await g.stop();
    }
  });

  test('a $connect still waiting when its client leaves never runs, and its turn passes on', async () => {
    // A timeout far beyond the test's: the wait can only end because the client left.
    const g = await gatedGateway({ concurrency: 1, connectTimeoutMs: 120_000 });
    try {
      const holder = upgrade(g.port, 'holder');
      await until(() => g.started.length === 1);
      const { default: WebSocket } = await import('ws');
      const leaver = new WebSocket(`ws://127.0.0.1:${g.port}/?name=leaver`);
      leaver.on('error', () => undefined);
      await until(() => g.connectFunction().queued === 1);
      leaver.terminate();
      await until(() => g.connectFunction().queued === 0);
      const next = upgrade(g.port, 'next');
      await until(() => g.connectFunction().queued === 1);
      g.gates.shift()!();
      expect((await holder).outcome).toBe('open');
      await until(() => g.gates.length === 1);
      g.gates.shift()!();
      expect((await next).outcome).toBe('open');
      expect(g.started).toEqual(['holder', 'next']);
      (await holder).socket.terminate();
      (await next).socket.terminate();
    } finally {
      await g.stop();
    }
  });

  test('frames a client sends right behind its upgrade request, while its $connect waits, reach the routes in order', async () => {
    const g = await gatedGateway({ concurrency: 1 });
    const { connect } = await import('node:net');
    const client = connect(g.port, '127.0.0.1');
    const connected = new Promise<void>((resolve) => client.once('connect', () => resolve()));
    try {
      const holder = upgrade(g.port, 'holder');
      await until(() => g.started.length === 1);
      const frame = (text: string) => {
        const payload = Buffer.from(text);
        const mask = Buffer.from([1, 2, 3, 4]);
        const masked = payload.map((byte, i) => byte ^ mask[i % 4]);
        return Buffer.concat([Buffer.from([0x81, 0x80 | payload.length]), mask, masked]);
      };
      await connected;
      client.write(
        'GET /?name=pipelined HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n' +
          'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n',
      );
      await until(() => g.connectFunction().queued === 1);
      client.write(Buffer.concat([frame('first'), frame('second')]));
      await new Promise((r) => setTimeout(r, 50));
      g.gates.shift()!();
      await until(() => g.gates.length === 1);
      g.gates.shift()!();
      await until(() => g.messages.length === 2);
      expect(g.messages).toEqual(['first', 'second']);
      (await holder).socket.terminate();
    } finally {
      client.destroy();
      await g.stop();
    }
  });

  test('a client that sends more than a message while its $connect waits is dropped, and its $connect never runs', async () => {
    const g = await gatedGateway({ concurrency: 1, connectTimeoutMs: 120_000 });
    const { connect } = await import('node:net');
    const client = connect(g.port, '127.0.0.1');
    const connected = new Promise<void>((resolve) => client.once('connect', () => resolve()));
    const closed = new Promise<void>((resolve) => client.once('close', () => resolve()));
    client.on('error', () => undefined);
    try {
      const holder = upgrade(g.port, 'holder');
      await until(() => g.started.length === 1);
      await connected;
      client.write(
        'GET /?name=flooder HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n' +
          'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n',
      );
      await until(() => g.connectFunction().queued === 1);
      client.write(Buffer.alloc(129 * 1024, 0x81));
      await closed;
      expect(g.connectFunction().queued).toBe(0);
      g.gates.shift()!();
      expect((await holder).outcome).toBe('open');
      expect(g.started).toEqual(['holder']);
      (await holder).socket.terminate();
    } finally {
      client.destroy();
      await g.stop();
    }
  });

  test('a $connect still waiting when the integration timeout passes never runs', async () => {
    const g = await gatedGateway({ concurrency: 1, connectTimeoutMs: 300 });
    try {
      const holder = upgrade(g.port, 'holder');
      await until(() => g.started.length === 1);
      // The holder keeps the only slot until released, so this one waits past its timeout whatever the timing.
      const timedOut = upgrade(g.port, 'timed-out');
      expect((await timedOut).outcome).toBe(504);
      // The holder's $connect outlasted the timeout too: refused, but it ran (API Gateway cannot stop a Lambda).
      g.gates.shift()!();
      expect((await holder).outcome).toBe(504);
      await until(() => g.connectFunction().running === 0);
      expect(g.connectFunction()).toEqual({ running: 0, queued: 0 });
      expect(g.started).toEqual(['holder']);
      const after = upgrade(g.port, 'after');
      await until(() => g.gates.length === 1);
      g.gates.shift()!();
      expect((await after).outcome).toBe('open');
      (await after).socket.terminate();
    } finally {
      await g.stop();
    }
  });
});
