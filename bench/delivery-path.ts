import { Agent, createServer, request, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { ApiGatewayManagementApiClient, GoneException, PostToConnectionCommand } from '@aws-sdk/client-apigatewaymanagementapi';
import { ManagementApiSender } from '../lambdas/aws/management-api-sender';
import { deliver } from '../lambdas/domain/fanout';
import type { ConnectionSender } from '../lambdas/domain/ports';
import { WebSocketGateway } from '../local/ws-gateway';
import { ClientFleet } from './support/clients';
import { formatTable, median, section } from './support/report';

/**
 * Where a fan-out's time goes, per recipient: the same `deliver()` (lambdas/domain/fanout.ts) to the same
 * gateway connections through (1) the AWS SDK Management API client, (2) the ManagementApiSender the Lambdas
 * use (signed keep-alive POST), (3) a plain unsigned keep-alive HTTP POST to the same Management API, (4) an
 * in-process send on the gateway's socket. One process, so the
 * figures are CPU cost per post, with no DynamoDB involved.
 */

export interface DeliveryPathRow {
  path: string;
  msPerPost: number;
  /** Relative to the in-process send. */
  ratioToInProcess: number;
}

/** The reference: a post through the SDK client's whole middleware stack, as the Lambdas did before. */
function sdkSender(endpoint: string): Pick<ConnectionSender, 'post'> {
  const client = new ApiGatewayManagementApiClient({ endpoint, maxAttempts: 2 });
  return {
    post: async (connectionId, payload) => {
      try {
        await client.send(new PostToConnectionCommand({ ConnectionId: connectionId, Data: Buffer.from(payload) }));
        return 'sent';
      } catch (error) {
        if (error instanceof GoneException) return 'gone';
        throw error;
      }
    },
  };
}

function listen(server: Server): Promise<number> {
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve((server.address() as AddressInfo).port)));
}

export async function runDeliveryPathBench(recipients = Number(process.env.BENCH_DELIVERY_RECIPIENTS ?? 500), rounds = 5): Promise<DeliveryPathRow[]> {
  section(`delivery path: cost per post of deliver() to ${recipients} gateway connections, median of ${rounds} rounds`);
  process.env.AWS_REGION ??= 'us-east-1';
  process.env.AWS_ACCESS_KEY_ID ??= 'local';
  process.env.AWS_SECRET_ACCESS_KEY ??= 'local';
  const ok = async () => ({ statusCode: 200 });
  const gateway = new WebSocketGateway({ routes: { $connect: ok, $disconnect: ok, $default: ok } });
  const management = createServer((req, res) => gateway.handleManagementRequest(req, res));
  const sockets = createServer();
  gateway.attach(sockets);
  let fleet: ClientFleet | undefined;
  const agent = new Agent({ keepAlive: true, maxSockets: 64 });
  try {
    const endpoint = `http://127.0.0.1:${await listen(management)}/local`;
    const wsPort = await listen(sockets);
    fleet = await ClientFleet.open(Array.from({ length: recipients }, () => `ws://127.0.0.1:${wsPort}/`), () => undefined);
    const targets = [...gateway.connections.keys()].map((connectionId) => ({ userId: 1, connectionId }));
    const payload = JSON.stringify({ name: 'message_created', data: { id: 1, author_id: 1, text: 'x'.repeat(120), attachments: [], mentions: [] } });

    const paths: Array<[string, Pick<ConnectionSender, 'post'>]> = [
      ['AWS SDK client, PostToConnectionCommand (the sender before 2026-11-26)', sdkSender(endpoint)],
      ['ManagementApiSender: own SigV4, keep-alive agent of 64 sockets', new ManagementApiSender(endpoint)],
      [
        'plain unsigned HTTP POST, keep-alive agent of 64 sockets',
        {
          post: (connectionId, body) =>
            new Promise((resolve, reject) => {
              const req = request(`${endpoint}/@connections/${encodeURIComponent(connectionId)}`, { method: 'POST', agent }, (res) => {
                res.resume();
                res.on('end', () => resolve(res.statusCode === 410 ? 'gone' : 'sent'));
              });
              req.on('error', reject);
              req.end(body);
            }),
        },
      ],
      [
        'in-process send on the gateway socket',
        {
          post: (connectionId, body) =>
            new Promise((resolve) => {
              const connection = gateway.connections.get(connectionId);
              if (!connection) return resolve('gone');
              connection.socket.send(body, (error) => resolve(error ? 'gone' : 'sent'));
            }),
        },
      ],
    ];
    const times = new Map<string, number[]>(paths.map(([name]) => [name, []]));
    for (let round = 0; round <= rounds; round++) {
      for (const [name, sender] of paths) {
        const started = performance.now();
        const { sent } = await deliver(sender, payload, targets);
        if (sent !== targets.length) throw new Error(`${name}: ${sent} of ${targets.length} sent`);
        // Round 0 warms up (JIT, sockets) and is not counted.
        if (round > 0) times.get(name)!.push((performance.now() - started) / targets.length);
      }
    }
    const inProcess = median(times.get(paths[paths.length - 1][0])!);
    const rows = paths.map(([name]) => ({ path: name, msPerPost: median(times.get(name)!), ratioToInProcess: median(times.get(name)!) / inProcess }));
    console.log(formatTable(['path', 'ms per post', 'vs in-process'], rows.map((r) => [r.path, r.msPerPost.toFixed(3), `${r.ratioToInProcess.toFixed(0)}×`])));
    return rows;
  } finally {
    await fleet?.close();
    agent.destroy();
    await gateway.close();
    await new Promise<void>((r) => (management.closeAllConnections(), management.close(() => r())));
    await new Promise<void>((r) => (sockets.closeAllConnections(), sockets.close(() => r())));
  }
}

if (require.main === module) {
  runDeliveryPathBench().then(
    () => process.exit(0),
    (error) => {
      console.error(error);
      process.exit(1);
    },
  );
}
