import type { Recipient } from './connections';

/** What the work after `$connect` needs: the connection, and when it was stored (its `$connect` began). */
export interface OpenedConnection extends Recipient {
  connectedAt: number;
}

/**
 * Runs `confirmConnectionOpen` for a connection once its `$connect` has returned. API Gateway accepts no post
 * to a connection before that, and a `$connect` handler cannot outlive its own answer, so the work is handed
 * to another invocation: an asynchronous Lambda invoke on AWS, a task of the same process locally.
 */
export interface AfterConnect {
  schedule(connection: OpenedConnection): Promise<void>;
}
