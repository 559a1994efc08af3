import type { IncomingMessage, Server, ServerResponse } from 'node:http';

type Listener = (request: IncomingMessage, response: ServerResponse) => unknown;

/**
 * A request listener whose failures, thrown or rejected, answer 500 and are logged instead of escaping: one
 * process serves REST, both sockets and the Management API, and Node ends it on an uncaught error.
 */
export function guarded(what: string, log: (line: string) => void, listener: Listener): Listener {
  const fail = (response: ServerResponse, error: unknown) => {
    log(`${what}: ${error instanceof Error ? error.message : String(error)}`);
    if (!response.headersSent) response.writeHead(500, { 'Content-Type': 'text/plain' }).end('Internal server error');
    else response.destroy();
  };
  return (request, response) => {
    try {
      const result = listener(request, response);
      if (result instanceof Promise) result.catch((error: unknown) => fail(response, error));
    } catch (error) {
      fail(response, error);
    }
  };
}

/** A listening server's later errors (EMFILE on accept, say) are logged: without a listener Node would exit. */
export function keepServing(server: Server, what: string, log: (line: string) => void): void {
  server.on('error', (error) => log(`${what}: ${error.message}`));
}
