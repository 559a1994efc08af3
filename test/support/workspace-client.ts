import { io, type Socket } from 'socket.io-client';
import type { TestSystem, TestUser } from './system';

/** A socket.io client of the workspace socket (seed 003) recording every event it receives. */
export interface WorkspaceClient {
  socket: Socket;
  events: Array<{ name: string; data: unknown }>;
  /** The next event named `name` not yet consumed (consumes it and every event before it). */
  next(name: string, timeoutMs?: number): Promise<{ data: any; before: Array<{ name: string; data: unknown }> }>;
}

/** Connects the real socket.io-client to the runtime's workspace socket; `workspaceId` given: authenticates as `user`. */
export async function workspaceClient(system: TestSystem, user: TestUser, workspaceId: number, clients: Socket[] = []): Promise<WorkspaceClient> {
  const socket = io(system.runtime.workspaceUrl!, { transports: ['websocket'], reconnection: false, timeout: 5000 });
  clients.push(socket);
  const events: Array<{ name: string; data: unknown }> = [];
  let wake: (() => void) | undefined;
  socket.onAny((name: string, data: unknown) => {
    events.push({ name, data });
    wake?.();
  });
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', () => resolve());
    socket.once('connect_error', reject);
  });
  const client: WorkspaceClient = {
    socket,
    events,
    async next(name, timeoutMs = 5000) {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const index = events.findIndex((e) => e.name === name);
        if (index >= 0) {
          const before = events.splice(0, index + 1);
          return { data: before.pop()!.data, before };
        }
        const left = deadline - Date.now();
        if (left <= 0) throw new Error(`no '${name}' within ${timeoutMs} ms; got ${JSON.stringify(events)}`);
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, left);
          wake = () => {
            clearTimeout(timer);
            resolve();
          };
        });
      }
    },
  };
  socket.emit('auth', { token: user.token, workspaceId: String(workspaceId) });
  const success = await client.next('auth-success');
  if ((success.data as { userId?: string }).userId !== String(user.id)) throw new Error(`auth-success for the wrong user: ${JSON.stringify(success.data)}`);
  return client;
}
