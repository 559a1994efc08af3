import type { Recipient } from './connections';
import type { FilePresentation } from './files';

/**
 * What the domain needs from the world outside it, in one place. Adapters implement these: AWS ones in
 * lambdas/aws/, the others (a folder, memory, plain HTTP) in lambdas/adapters/; each process's composition
 * root (lambdas/runtime.ts, local/runtime.ts, media-node/main.ts) chooses them from its settings.
 * The table (`Db`) and the log are ports of their own (db.ts, log.ts).
 */

/** Sends one serialized event to one connection and manages connections (the Management API, or the local gateway's twin of it). */
export interface ConnectionSender {
  /** `gone` means the connection no longer exists (HTTP 410). */
  post(connectionId: string, payload: string): Promise<'sent' | 'gone'>;
  /** Closes a connection from the server's side (DeleteConnection); a connection already gone is no error. */
  close(connectionId: string): Promise<void>;
  /** Whether the connection still exists (GetConnection); true when that cannot be told. */
  exists(connectionId: string): Promise<boolean>;
}

/** Where files live: a folder locally, an S3 bucket on AWS. Keys look like `avatar/user/<name>`. */
export interface FileStore {
  put(key: string, bytes: Uint8Array, contentType: string): Promise<void>;
  delete(key: string): Promise<void>;
  /**
   * The bytes to send, or a URL to redirect the browser to (so large files never pass through Lambda) that
   * answers with `presentation`'s Content-Type and Content-Disposition.
   */
  serve(key: string, presentation: FilePresentation): Promise<{ bytes: Uint8Array; contentType: string } | { redirect: string } | undefined>;
}

/**
 * What REST asks of the media node hosting a user: end his voice connection (a voice kick, a DM call
 * declined, access to the channel lost: voice-access.ts), end a channel's, or apply an administrator
 * mute/deafen.
 */
export type ControlCommand =
  | { kind: 'kick'; userId: number; channelId?: number; reason: string }
  | { kind: 'close-channel'; channelId: number; reason: string }
  | { kind: 'admin-state'; userId: number; channelId?: number; mute?: boolean; deaf?: boolean };

/** Delivers a command to the node at `node` (its control URL); true when the node found something to do. */
export interface VoiceControl {
  send(node: string, command: ControlCommand): Promise<boolean>;
}

/**
 * The time the domain's decisions are made at (milliseconds since the epoch). Domain functions take `now`
 * as an argument; the entry points that pick it (`$connect`, the media node check, the voice sweeper, the
 * in-memory EC2 instance) read it from the context's clock, so a test can drive them.
 */
export interface Clock {
  now(): number;
}

export const systemClock: Clock = { now: () => Date.now() };

/** What the work after `$connect` needs: the connection, and when it was stored (its `$connect` began). */
export interface OpenedConnection extends Recipient {
  connectedAt: number;
}

/**
 * Runs `confirmConnectionOpen` for a connection once its `$connect` has returned. API Gateway accepts no post
 * to a connection before that, and a `$connect` handler cannot outlive its own answer, so the work is handed
 * to another invocation: an asynchronous Lambda invoke on AWS, a task of the same process locally.
 */
export interface AfterConnect<Payload = OpenedConnection> {
  schedule(connection: Payload): Promise<void>;
}

/** A user whose last connection went, as presence saw him then: `epoch` is his `presenceEpoch` at that moment. */
export interface PendingOffline {
  userId: number;
  epoch: number;
}

/**
 * The offline grace (PRESENCE_OFFLINE_GRACE_MS): runs presence's `goOfflineIfStillAway` for a user once the
 * grace has passed, so that a reconnect within it announces nothing. An SQS message with a delay on AWS, a
 * timer of the same process locally; the domain knows neither how long nor how.
 */
export interface OfflineGrace {
  schedule(pending: PendingOffline): Promise<void>;
}
