import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { guarded } from '../../local/guard';

/**
 * The local runtime's servers share one process: a listener that throws or rejects must answer 500 and log,
 * never reach Node's uncaught-error handling (which ends the process; under jest it fails the suite).
 */
describe('guarded request listeners', () => {
  let server: Server;
  const logged: string[] = [];
  beforeAll(async () => {
    server = createServer(
      guarded('test server', (line) => logged.push(line), (request, response) => {
        if (request.url === '/throw') decodeURIComponent('%E0%A4%A');
        if (request.url === '/reject') return Promise.reject(new Error('rejected later'));
        response.writeHead(200).end('fine');
        return undefined;
      }),
    );
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  });
  afterAll(() => new Promise((resolve) => server.close(resolve)));

  test('a synchronous throw and a rejection each answer 500 and are logged; the server keeps serving', async () => {
    const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    expect((await fetch(`${base}/throw`)).status).toBe(500);
    expect((await fetch(`${base}/reject`)).status).toBe(500);
    const ok = await fetch(`${base}/`);
    expect({ status: ok.status, text: await ok.text() }).toEqual({ status: 200, text: 'fine' });
    expect(logged).toEqual(['test server: URI malformed', 'test server: rejected later']);
  });
});
