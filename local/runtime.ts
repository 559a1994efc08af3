import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync } from 'node:fs';
import { createServer as createHttpServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { handler as restHandler } from '../lambdas/rest/handler';
import { handler as connectHandler } from '../lambdas/socket/connect';
import { handler as defaultHandler } from '../lambdas/socket/default';
import { handler as disconnectHandler } from '../lambdas/socket/disconnect';
import { handler as pingHandler } from '../lambdas/socket/ping';
import { ManagementApiSender } from '../lambdas/aws/management-api-sender';
import { type AppContext, createAppContext, settleAfterConnect } from '../lambdas/runtime';
import { installAppContext } from '../lambdas/scope';
import { runtimeSettingsFromEnv, type SettingsSource } from '../lambdas/settings';
import { mediaSettingsFromEnv } from '../media-node/config';
import { JsonLinesLogger, parseLogLevel, useLogger } from '../lambdas/domain/log';
import { handler as workspaceConnectHandler } from '../lambdas/socket-workspace/connect';
import { handler as workspaceDefaultHandler } from '../lambdas/socket-workspace/default';
import { handler as workspaceDisconnectHandler } from '../lambdas/socket-workspace/disconnect';
import { handler as workspaceHeartbeatHandler } from '../lambdas/socket-workspace/heartbeat';
import { installWorkspaceSettings, settleWorkspaceOpen, workspaceSettingsFromEnv } from '../lambdas/protocols/workspace/context';
import { handler as deskConnectHandler } from '../lambdas/socket-desk/connect';
import { handler as deskDefaultHandler } from '../lambdas/socket-desk/default';
import { handler as deskDisconnectHandler } from '../lambdas/socket-desk/disconnect';
import { type DynamoDbLocal, ensureTable, installationAccessKey, type LocalDbAccess, randomAccessKeyId, startDynamoDbLocal } from './dynamodb';
import { guarded, keepServing } from './guard';
import { type HttpApiHandler, serveHttpApi } from './http-api';
import { attachOrigin } from './origin';
import { type GatewayLimits, WebSocketGateway } from './ws-gateway';

export interface LocalRuntimeOptions {
  host?: string;
  restPort?: number;
  wsPort?: number;
  /** Voice socket port; voice is off when `false` (e.g. tests that do not need it). */
  vcPort?: number | false;
  /**
   * One port with the cloud's single-origin layout (`/api/*`, `/socket`, `/voice`, `/`: local/origin.ts);
   * off when unset or `false`. `npm start` turns it on (ORIGIN_PORT).
   */
  originPort?: number | false;
  /**
   * The workspace socket (socket.io clients of seed 003, docs/workspace-protocol.md) on its own gateway;
   * off when unset or `false`. `npm start` turns it on (WORKSPACE_PORT).
   */
  workspacePort?: number | false;
  /**
   * The support desk's socket (seed 004, docs/desk.md "Socket") at `/connect/` on its own gateway; off when
   * unset or `false`. `npm start` turns it on (DESK_PORT).
   */
  deskPort?: number | false;
  /** A web client build served at `/` of the origin port. */
  clientDir?: string;
  /** The media node's signed control endpoint (REST -> node); 0 picks a free port. */
  controlPort?: number;
  /** Persistent DynamoDB Local data folder; in memory when unset. */
  dataDir?: string;
  /** Where uploaded files go; `<dataDir>/files`, or a fresh temporary folder without a data folder. */
  filesDir?: string;
  /** Use an already running DynamoDB (Local); started here when unset. */
  dynamoDbEndpoint?: string;
  /**
   * The access key id for DynamoDB Local, i.e. which of its databases is ours: the installation's (kept in
   * the data folder) or a random one when the runtime starts its own; `local` for a given endpoint unless set.
   */
  dynamoDbAccessKeyId?: string;
  tableName?: string;
  tls?: { certFile: string; keyFile: string };
  gatewayLimits?: Partial<GatewayLimits>;
  /**
   * Settings, named as the environment variables of README "Configuration" (e.g. `RATE_LIMIT_REST: '5/2'`,
   * `RATE_LIMITS: 'off'`, `VOICE_HEARTBEAT_MS`); checked before anything starts. The runtime reads nothing
   * from its process's environment and writes nothing to it: `npm start` passes its environment here
   * (local/main.ts); a runtime started after another stopped has its own settings, nothing left over.
   */
  env?: SettingsSource;
  log?: (line: string) => void;
}

export interface LocalRuntime {
  restUrl: string;
  wsUrl: string;
  /** The single origin (`/api/`, `/socket`, `/voice`, `/`), when `originPort` was given. */
  originUrl?: string;
  /** The workspace socket's URL as socket.io-client takes it (the path is socket.io's default `/socket.io/`). */
  workspaceUrl?: string;
  /** Its gateway, when it runs. */
  workspaceGateway?: WebSocketGateway;
  /** The desk socket's URL, its path included (`ws://host:port/connect/`): add `?token=<access token>`. */
  deskUrl?: string;
  /** Its gateway, when it runs. */
  deskGateway?: WebSocketGateway;
  /** The voice socket (and the media node's control endpoint), or why voice is off (no mediasoup worker, say). */
  voice: { url: string; control: { address: string; port: number } } | { disabled: string };
  managementEndpoint: string;
  dynamoDbEndpoint: string;
  /** The access key id (and region) the runtime's clients use with DynamoDB Local. */
  dynamoDbAccess: LocalDbAccess;
  tableName: string;
  gateway: WebSocketGateway;
  /** The context the runtime's handlers run in (its table, sender, settings, in-memory media node...). */
  context: AppContext;
  stop(): Promise<void>;
}

/** A port that cannot be bound, with the one-line hint `npm start` prints instead of a stack trace. */
export class PortError extends Error {
  constructor(what: string, port: number, variable: string, code: string | undefined) {
    const why = code === 'EACCES' ? 'needs privileges (ports below 1024 need root)' : code === 'EADDRINUSE' ? 'is already in use' : `cannot be bound (${code})`;
    super(`${what} port ${port} ${why}: set ${variable} to another port, e.g. ${variable}=${port < 1024 ? port + 8000 : port + 1}`);
    this.name = 'PortError';
  }
}

function listen(server: Server, port: number, host: string, what: string, variable: string, log: (line: string) => void): Promise<number> {
  return new Promise((resolve, reject) => {
    const refused = (error: NodeJS.ErrnoException) => reject(new PortError(what, port, variable, error.code));
    server.once('error', refused);
    server.listen(port, host, () => {
      server.off('error', refused);
      keepServing(server, what, log);
      resolve((server.address() as AddressInfo).port);
    });
  });
}

function closeServer(server: Server): Promise<void> {
  return new Promise((resolve) => {
    server.close(() => resolve());
    server.closeAllConnections?.();
  });
}

/** The local gateway's Management API accepts any signature: these keys only let the client sign. */
const LOCAL_CREDENTIALS = { accessKeyId: 'local', secretAccessKey: 'local' };

/**
 * Runs the whole system on one machine: DynamoDB Local, the REST Lambda behind an HTTP-API-compatible
 * server, and the main-socket Lambdas behind an API-Gateway-compatible WebSocket gateway with its
 * Management API. The handlers are the very modules deployed to Lambda; this is the process's composition
 * root: it builds their context from `options.env` and installs it for them (one runtime per process at a time).
 */
export async function startLocalRuntime(options: LocalRuntimeOptions = {}): Promise<LocalRuntime> {
  const env = options.env ?? {};
  const tableName = options.tableName ?? 'zavodchat';
  // Checked before DynamoDB Local or any port starts. The values the runtime owns (the table, the Management
  // API's endpoint, the listening ports, the origin) are filled in below as they become known.
  const settings = runtimeSettingsFromEnv({
    // Here one process runs every invocation at once, and the SDK's timers also count the wait for a free
    // socket: a burst of thousands of $disconnects would time out in the queue with the AWS limits (1.5 s,
    // 5 s), made for one invocation per Lambda instance. A stopped DynamoDB Local is refused at once anyway.
    DYNAMODB_CONNECT_TIMEOUT_MS: '30000',
    DYNAMODB_REQUEST_TIMEOUT_MS: '60000',
    ...env,
    TABLE_NAME: tableName,
    WS_MANAGEMENT_ENDPOINT: 'http://127.0.0.1/local',
    FILES_DIR: options.filesDir ?? (options.dataDir ? join(options.dataDir, 'files') : mkdtempSync(join(tmpdir(), 'zavodchat-files-'))),
    // REST and the media node share the control key in this process: any fresh one will do.
    MEDIA_CONTROL_SECRET: env.MEDIA_CONTROL_SECRET || randomBytes(32).toString('hex'),
  });
  // On one machine any free UDP/TCP ports do; a fixed range only matters behind a firewall (RTC_MIN_PORT).
  const mediaSettings = options.vcPort === false ? undefined : { ...mediaSettingsFromEnv(env), ...(env.RTC_MIN_PORT ? {} : { rtcBasePort: 0 }) };
  const host = options.host ?? '0.0.0.0';
  const log = options.log ?? (() => undefined);
  // One process serves every handler (and the media node): one logger for all of it.
  useLogger(new JsonLinesLogger({ service: 'zavodchat-local', level: parseLogLevel(options.env?.LOG_LEVEL ?? process.env.LOG_LEVEL) }));
  const started: Array<() => Promise<void>> = [];
  const stop = async () => {
    for (const step of started.reverse()) await step().catch(() => undefined);
  };
  try {
    const region = settings.region ?? 'us-east-1';
    // DynamoDB Local listens on every interface and checks no secret; a key id nobody else knows makes its
    // database unreadable from outside (docs/security.md, "Local database").
    const accessKeyId =
      options.dynamoDbAccessKeyId ??
      (options.dataDir ? installationAccessKey(options.dataDir, region) : options.dynamoDbEndpoint ? 'local' : randomAccessKeyId());
    const dynamoDbAccess: LocalDbAccess = { accessKeyId, region };
    let dynamo: DynamoDbLocal | undefined;
    const dynamoDbEndpoint = options.dynamoDbEndpoint ?? (dynamo = await startDynamoDbLocal({ dataDir: options.dataDir })).endpoint;
    if (dynamo) started.push(() => dynamo!.stop());
    await ensureTable(dynamoDbEndpoint, tableName, dynamoDbAccess);
    settings.table = { ...settings.table, endpoint: dynamoDbEndpoint, localAccessKeyId: accessKeyId };

    // The Management API listens on loopback only: on AWS it needs IAM credentials, here nobody else may reach it.
    // Only handlers post to it, and they run once the gateway below takes clients.
    const management = createHttpServer(guarded('Management API', log, (request, response) => gateway.handleManagementRequest(request, response)));
    const managementPort = await listen(management, 0, '127.0.0.1', 'Management API', 'MANAGEMENT_PORT', log);
    started.push(() => closeServer(management));
    const managementEndpoint = `http://127.0.0.1:${managementPort}/local`;
    settings.managementEndpoint = managementEndpoint;
    const context = createAppContext({ ...settings, region }, { sender: new ManagementApiSender(managementEndpoint, { region, credentials: async () => LOCAL_CREDENTIALS }) });
    // The handlers below are the Lambdas' modules: they find this context instead of building one from the environment.
    const uninstall = installAppContext(context);
    started.push(async () => uninstall());
    const gateway = new WebSocketGateway({
      routes: { $connect: connectHandler, $disconnect: disconnectHandler, $default: defaultHandler, ping: pingHandler },
      limits: options.gatewayLimits,
      log,
    });

    const tls = options.tls ? { cert: readFileSync(options.tls.certFile), key: readFileSync(options.tls.keyFile) } : undefined;
    const makeServer = (listener?: (request: IncomingMessage, response: ServerResponse) => void) =>
      tls ? createHttpsServer(tls, listener) : createHttpServer(listener);

    const wsServer = makeServer();
    gateway.attach(wsServer);
    const wsPort = await listen(wsServer, options.wsPort ?? 444, host, 'Main socket', 'WS_PORT', log);
    started.push(async () => {
      await gateway.close();
      // Work after $connect still talks to the table, which stops after this.
      await settleAfterConnect(context);
      await closeServer(wsServer);
    });
    // The port the main socket really listens on is what clients are told (`GET /params`).
    settings.app.params.ws_port = wsPort;

    let workspaceUrl: string | undefined;
    let workspaceGateway: WebSocketGateway | undefined;
    if (options.workspacePort !== undefined && options.workspacePort !== false) {
      // Its own API as on AWS: its own connections and Management API, and no route but the three (socket.io
      // frames are not JSON objects: each reaches $default).
      const gateway = new WebSocketGateway({
        routes: { $connect: workspaceConnectHandler, $disconnect: workspaceDisconnectHandler, $default: workspaceDefaultHandler },
        limits: options.gatewayLimits,
        log,
      });
      workspaceGateway = gateway;
      const workspaceManagement = createHttpServer(guarded('Workspace Management API', log, (request, response) => gateway.handleManagementRequest(request, response)));
      const workspaceManagementPort = await listen(workspaceManagement, 0, '127.0.0.1', 'Workspace Management API', 'WORKSPACE_PORT', log);
      started.push(() => closeServer(workspaceManagement));
      const workspaceEndpoint = `http://127.0.0.1:${workspaceManagementPort}/local`;
      const workspaceSender = new ManagementApiSender(workspaceEndpoint, { region, credentials: async () => LOCAL_CREDENTIALS });
      const uninstallWorkspace = installWorkspaceSettings({ ...env, WORKSPACE_MANAGEMENT_ENDPOINT: workspaceEndpoint }, workspaceSender);
      // Every handler's fan-out reaches workspace connections through their own gateway's Management API.
      context.senders.workspace = workspaceSender;
      started.push(async () => {
        uninstallWorkspace();
        delete context.senders.workspace;
      });
      const server = makeServer();
      gateway.attach(server);
      const port = await listen(server, options.workspacePort, host, 'Workspace socket', 'WORKSPACE_PORT', log);
      // The scheduled function of the cloud (every minute there) as a timer: one round per ping interval,
      // never two at once.
      let beating = false;
      const heartbeat = setInterval(() => {
        if (beating) return;
        beating = true;
        void workspaceHeartbeatHandler().finally(() => {
          beating = false;
        });
      }, workspaceSettingsFromEnv(env).pingIntervalMs);
      started.push(async () => {
        clearInterval(heartbeat);
        await gateway.close();
        await settleWorkspaceOpen();
        await closeServer(server);
      });
      workspaceUrl = `ws${tls ? 's' : ''}://${host === '0.0.0.0' ? 'localhost' : host}:${port}`;
    }

    let deskUrl: string | undefined;
    let deskGateway: WebSocketGateway | undefined;
    if (options.deskPort !== undefined && options.deskPort !== false) {
      // Its own API as on AWS (its connection ids mean nothing to the others), with the three routes.
      const gateway = new WebSocketGateway({
        routes: { $connect: deskConnectHandler, $disconnect: deskDisconnectHandler, $default: deskDefaultHandler },
        limits: options.gatewayLimits,
        log,
      });
      deskGateway = gateway;
      const deskManagement = createHttpServer(guarded('Desk Management API', log, (request, response) => gateway.handleManagementRequest(request, response)));
      const deskManagementPort = await listen(deskManagement, 0, '127.0.0.1', 'Desk Management API', 'DESK_PORT', log);
      started.push(() => closeServer(deskManagement));
      // Every handler's fan-out reaches desk connections through their own gateway's Management API.
      context.senders.desk = new ManagementApiSender(`http://127.0.0.1:${deskManagementPort}/local`, { region, credentials: async () => LOCAL_CREDENTIALS });
      started.push(async () => {
        delete context.senders.desk;
      });
      const server = makeServer((_request, response) => {
        response.writeHead(426, { 'content-type': 'text/plain' }).end('Upgrade Required');
      });
      // Seed 004's path only, as the cloud's custom-domain mapping serves it: any other is not the desk socket.
      server.on('upgrade', (request: IncomingMessage, socket, head) => {
        const path = (request.url ?? '/').split('?')[0];
        if (path === '/connect/' || path === '/connect') return gateway.handleUpgrade(request, socket, head);
        socket.end('HTTP/1.1 404 Not Found\r\nConnection: close\r\nContent-Type: text/plain\r\nContent-Length: 9\r\n\r\nNot Found');
      });
      const port = await listen(server, options.deskPort, host, 'Desk socket', 'DESK_PORT', log);
      started.push(async () => {
        await gateway.close();
        await closeServer(server);
      });
      deskUrl = `ws${tls ? 's' : ''}://${host === '0.0.0.0' ? 'localhost' : host}:${port}/connect/`;
    }

    const serveRest = guarded('rest', log, (request, response) => serveHttpApi(restHandler as unknown as HttpApiHandler, request, response));
    const restServer = makeServer(serveRest);
    const restPort = await listen(restServer, options.restPort ?? 443, host, 'REST', 'REST_PORT', log);
    started.push(() => closeServer(restServer));

    const scheme = tls ? 's' : '';
    const shownHost = host === '0.0.0.0' ? 'localhost' : host;

    let voicePort: number | undefined;
    let originUrl: string | undefined;
    if (options.originPort !== undefined && options.originPort !== false) {
      const originServer = makeServer();
      attachOrigin(originServer, {
        serveRest,
        gateway,
        voice: () => (voicePort === undefined ? undefined : { host: host === '0.0.0.0' ? '127.0.0.1' : host, port: voicePort, tls: Boolean(tls) }),
        clientDir: options.clientDir,
        log,
      });
      const originPort = await listen(originServer, options.originPort, host, 'Origin', 'ORIGIN_PORT', log);
      started.push(() => closeServer(originServer));
      originUrl = `http${scheme}://${shownHost}:${originPort}`;
      // Pages of the origin are allowed origins of REST and the sockets.
      const own = [originUrl, `http${scheme}://localhost:${originPort}`, `http${scheme}://127.0.0.1:${originPort}`];
      settings.app.corsOrigins = [...new Set([...settings.app.corsOrigins, ...own])];
    }

    let voice: LocalRuntime['voice'] = { disabled: 'not requested' };
    if (mediaSettings && options.vcPort !== false) {
      try {
        // Loaded only when wanted: mediasoup is an optional dependency.
        const { startVoiceService } = await import('../media-node/service');
        const service = await startVoiceService({
          context,
          settings: mediaSettings,
          controlSecret: 'secret' in settings.mediaControl ? settings.mediaControl.secret : '',
          port: options.vcPort ?? 445,
          host,
          tls,
          controlPort: options.controlPort ?? 0,
          // REST runs in this process: nobody else needs the control endpoint (signed, but why expose it).
          controlHost: '127.0.0.1',
          log,
        });
        started.push(() => service.stop());
        voice = { url: service.url, control: service.controlAddress };
        voicePort = Number(new URL(service.url).port);
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code === 'EADDRINUSE' || (error as NodeJS.ErrnoException).code === 'EACCES') {
          throw new PortError('Voice socket', options.vcPort || 445, 'VC_PORT', (error as NodeJS.ErrnoException).code);
        }
        voice = { disabled: `${(error as Error).message} (voice needs a mediasoup worker: see README, "Voice and the mediasoup worker")` };
      }
    }

    // Every URL with the same host name: the session cookie belongs to one host, and a voice URL on
    // 127.0.0.1 next to REST on localhost would not get the cookie REST set.
    if ('url' in voice) voice = { ...voice, url: `ws${scheme}://${shownHost}:${new URL(voice.url).port}` };
    return {
      restUrl: `http${scheme}://${shownHost}:${restPort}`,
      wsUrl: `ws${scheme}://${shownHost}:${wsPort}`,
      originUrl,
      workspaceUrl,
      workspaceGateway,
      deskUrl,
      deskGateway,
      voice,
      managementEndpoint,
      dynamoDbEndpoint,
      dynamoDbAccess,
      tableName,
      gateway,
      context,
      stop,
    };
  } catch (error) {
    await stop();
    throw error;
  }
}
