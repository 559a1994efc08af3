import type { DynamoDbStore } from '../../aws/dynamodb-store';
import { LambdaAfterConnect } from '../../aws/lambda-after-connect';
import type { AfterConnect, ConnectionSender } from '../../domain/ports';
import type { Db } from '../../domain/db';
import type { FanoutContext } from '../../domain/fanout';
import { log } from '../../domain/log';
import { type AppContext, appContext } from '../../runtime';
import type { EngineSettings } from './engineio';
import type { WorkspaceFrameLimit } from './frame-limit';

/** API Gateway's frame limit: what the open packet announces as `maxPayload`. */
export const WORKSPACE_MAX_PAYLOAD = 32 * 1024;

/**
 * The defaults suit the cloud's heartbeat: a scheduled function pings every minute, so the client must
 * tolerate a gap of a minute plus the schedule's jitter (pingInterval + pingTimeout = 2 minutes).
 */
export const DEFAULT_WORKSPACE_SETTINGS: EngineSettings = { pingIntervalMs: 60_000, pingTimeoutMs: 60_000, maxPayload: WORKSPACE_MAX_PAYLOAD, authTimeoutMs: 30_000 };

function milliseconds(env: NodeJS.ProcessEnv, name: string, fallback: number): number {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < 50 || value > 600_000) throw new Error(`${name} must be a number of milliseconds between 50 and 600000`);
  return value;
}

/** WORKSPACE_PING_INTERVAL_MS, WORKSPACE_PING_TIMEOUT_MS and WORKSPACE_AUTH_TIMEOUT_MS (README, "Configuration"). */
export function workspaceSettingsFromEnv(env: NodeJS.ProcessEnv = process.env): EngineSettings {
  return {
    pingIntervalMs: milliseconds(env, 'WORKSPACE_PING_INTERVAL_MS', DEFAULT_WORKSPACE_SETTINGS.pingIntervalMs),
    pingTimeoutMs: milliseconds(env, 'WORKSPACE_PING_TIMEOUT_MS', DEFAULT_WORKSPACE_SETTINGS.pingTimeoutMs),
    maxPayload: WORKSPACE_MAX_PAYLOAD,
    authTimeoutMs: milliseconds(env, 'WORKSPACE_AUTH_TIMEOUT_MS', DEFAULT_WORKSPACE_SETTINGS.authTimeoutMs),
  };
}

/** What the open packet's delivery needs: which connection, and when its `$connect` stored it. */
export interface WorkspaceOpened {
  connectionId: string;
  connectedAt: number;
  /** The Engine.IO session id the open packet announces (read from the table when absent). */
  sid?: string;
}

/** The after-connect step of the workspace socket: AfterConnect (lambdas/domain/ports.ts) with this socket's payload. */
export type WorkspaceAfterConnect = AfterConnect<WorkspaceOpened>;

export interface WorkspaceContext {
  db: Db;
  /** Posts to this socket's connections: its own API (WORKSPACE_MANAGEMENT_ENDPOINT). */
  sender: ConnectionSender & { close(connectionId: string): Promise<void> };
  settings: EngineSettings;
  /** The main socket's frame budget, applied per workspace connection (frame-limit.ts). */
  frameLimit: WorkspaceFrameLimit;
  afterConnect: WorkspaceAfterConnect;
  /**
   * The fan-out and presence of the whole deployment (the main handlers' context), with `sender` above as the
   * sender of protocol `workspace`: binding a connection announces its user's status on both protocols.
   */
  fanout: FanoutContext;
}

/** The in-process after-connect (local runtime): a task of this process, awaited by the runtime's shutdown. */
class InProcessOpen implements WorkspaceAfterConnect {
  readonly pending = new Set<Promise<unknown>>();
  constructor(private readonly run: (opened: WorkspaceOpened) => Promise<unknown>) {}
  async schedule(opened: WorkspaceOpened): Promise<void> {
    const task = new Promise((resolve) => setImmediate(resolve))
      .then(() => this.run(opened))
      .catch((error) => log().error('workspace open packet', error))
      .finally(() => this.pending.delete(task));
    this.pending.add(task);
  }
}

let cached: { key: string; app: AppContext; context: WorkspaceContext } | undefined;

/**
 * The settings a process that hosts these handlers installed (the local runtime, which never writes
 * process.env); a Lambda has none and reads its environment.
 */
let installedEnv: NodeJS.ProcessEnv | undefined;
let installedSender: WorkspaceContext['sender'] | undefined;

/**
 * Makes `env` this socket's settings (and `sender`, when given, its Management API client) until the returned
 * function is called.
 */
export function installWorkspaceSettings(env: NodeJS.ProcessEnv, sender?: WorkspaceContext['sender']): () => void {
  installedEnv = env;
  installedSender = sender;
  cached = undefined;
  return () => {
    if (installedEnv !== env) return;
    installedEnv = undefined;
    installedSender = undefined;
    cached = undefined;
  };
}

/**
 * Built once per process from the handlers' context (appContext(): the composition root, lambdas/runtime.ts),
 * whose table client, fan-out, settings and sender of protocol `workspace` (WORKSPACE_MANAGEMENT_ENDPOINT, or
 * the local runtime's) it shares; only this socket's own settings come from the environment.
 * `deliverOpen` is the open packet's delivery (session.ts), passed in to keep this module free of it.
 */
export function workspaceContext(deliverOpen: (context: WorkspaceContext, opened: WorkspaceOpened) => Promise<unknown>): WorkspaceContext {
  const env = installedEnv ?? process.env;
  const app = appContext();
  const key = [env.WORKSPACE_PING_INTERVAL_MS, env.WORKSPACE_PING_TIMEOUT_MS, env.WORKSPACE_AUTH_TIMEOUT_MS, env.WORKSPACE_OPENED_FUNCTION].join('|');
  if (cached?.key !== key || cached.app !== app) {
    const sender = installedSender ?? app.senders.workspace;
    if (!sender) throw new Error('environment variable WORKSPACE_MANAGEMENT_ENDPOINT is not set');
    const { db } = app;
    const openedFunction = env.WORKSPACE_OPENED_FUNCTION;
    const context: WorkspaceContext = {
      db,
      sender,
      fanout: { ...app, senders: { ...app.senders, workspace: sender } },
      settings: workspaceSettingsFromEnv(env),
      frameLimit: { limit: app.settings.rateLimits.socketFrames, freeFrames: app.settings.rateLimits.socketFreeFrames },
      afterConnect: openedFunction
        ? // The same asynchronous invoke as the main socket's; the payload is this socket's (opened.ts reads it).
          new LambdaAfterConnect<WorkspaceOpened>(openedFunction, () => (db as DynamoDbStore).doc.config.credentials())
        : new InProcessOpen((opened) => deliverOpen(context, opened)),
    };
    cached = { key, app, context };
  }
  return cached.context;
}

/** Waits for open packets still being delivered in this process (the local runtime's shutdown). */
export async function settleWorkspaceOpen(): Promise<void> {
  const scheduler = cached?.context.afterConnect;
  if (scheduler instanceof InProcessOpen) await Promise.all([...scheduler.pending]);
}
