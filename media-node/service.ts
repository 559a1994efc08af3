import { randomBytes } from 'node:crypto';
import { sweepExpiredVoiceStates } from '../lambdas/domain/voice';
import { controlBaseUrl, pinnedControlAddress } from '../lambdas/domain/voice-control';
import { appContext, logError } from '../lambdas/runtime';
import { type MediaSettings, mediaSettingsFromEnv } from './config';
import { startControlServer } from './control';
import { DynamoDbVoiceAdmission, DynamoDbVoicePresence } from './dynamodb-ports';
import { startMediaNode } from './node';

/** The heartbeat must beat well inside the voice state's 30 s lifetime. */
const HEARTBEAT_MS = 10_000;
const SWEEP_MS = 5_000;

export interface VoiceServiceOptions {
  port: number;
  host?: string;
  tls?: { cert: string | Buffer; key: string | Buffer };
  /** Control endpoint port (MEDIA_CONTROL_PORT). */
  controlPort: number;
  /** Where the control endpoint listens: `host` unless set (the local runtime: loopback, REST is in-process). */
  controlHost?: string;
  /**
   * The URL REST reaches the control endpoint at, `https://<host>[:<port>]` (MEDIA_CONTROL_URL); the
   * bound address when unset. The node adds its certificate's pin (`#sha256=...`) to it.
   */
  controlUrl?: string;
  settings?: Partial<MediaSettings>;
  log?: (line: string) => void;
}

export interface VoiceService {
  url: string;
  /** The pinned control address stored in this node's voice states: `https://<host>:<port>#sha256=<hex>`. */
  controlUrl: string;
  /** The address and port the control endpoint is bound to. */
  controlAddress: { address: string; port: number };
  rtcPorts(): number[];
  /** A renewed certificate for the voice socket, without ending calls (the control endpoint keeps its own). */
  reloadTls(tls: { cert: string | Buffer; key: string | Buffer }): void;
  stop(): Promise<void>;
}

/**
 * The media node as the system runs it (locally in-process, on EC2 alone): the voice socket with the
 * DynamoDB-backed admission and presence, the signed control endpoint REST uses, and the sweeper that
 * announces the departure of users whose node stopped beating. Configuration comes from the same
 * environment as the Lambdas' (TABLE_NAME, WS_MANAGEMENT_ENDPOINT, MEDIA_CONTROL_SECRET).
 */
export async function startVoiceService(options: VoiceServiceOptions): Promise<VoiceService> {
  // Checked before anything starts: an http:// control URL is a configuration error, not a downgrade.
  if (options.controlUrl) controlBaseUrl(options.controlUrl);
  process.env.MEDIA_CONTROL_SECRET ||= randomBytes(32).toString('hex');
  const context = appContext();
  let controlUrl = '';
  const node = await startMediaNode({
    port: options.port,
    host: options.host,
    tls: options.tls,
    admission: new DynamoDbVoiceAdmission(context),
    presence: new DynamoDbVoicePresence(context, () => controlUrl),
    settings: { ...mediaSettingsFromEnv(), ...options.settings, heartbeatMs: HEARTBEAT_MS },
    // The same list as REST's CORS and the main socket's $connect (CORS_ORIGINS).
    allowedOrigins: context.settings.corsOrigins,
    log: options.log,
  });
  let control: Awaited<ReturnType<typeof startControlServer>>;
  try {
    // Always TLS, with the node's own certificate (not the voice socket's): REST pins it, so it needs no
    // domain and no CA, and a voice certificate renewal does not change it.
    control = await startControlServer({ node, secret: process.env.MEDIA_CONTROL_SECRET, port: options.controlPort, host: options.controlHost ?? options.host });
  } catch (error) {
    await node.stop();
    throw error;
  }
  controlUrl = options.controlUrl ? pinnedControlAddress(options.controlUrl, control.fingerprint) : control.url;
  const sweeper = setInterval(() => {
    sweepExpiredVoiceStates(context).catch((error) => logError('voice sweeper', error));
  }, SWEEP_MS);
  sweeper.unref();
  return {
    url: node.url,
    controlUrl,
    controlAddress: control.address,
    rtcPorts: () => node.rtcPorts(),
    reloadTls(tls) {
      node.setTls(tls);
    },
    async stop() {
      clearInterval(sweeper);
      await control.stop();
      await node.stop();
    },
  };
}
