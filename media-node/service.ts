import { sweepExpiredVoiceStates } from '../lambdas/domain/voice';
import { controlBaseUrl, pinnedControlAddress } from '../lambdas/adapters/http-voice-control';
import { type LogFields, log } from '../lambdas/domain/log';
import type { AppContext } from '../lambdas/runtime';
import type { MediaSettings } from './config';
import { startControlServer } from './control';
import { DynamoDbVoiceAdmission, DynamoDbVoicePresence } from './dynamodb-ports';
import { startMediaNode } from './node';

const SWEEP_MS = 5_000;

export interface VoiceServiceOptions {
  /** The table, the fan-out and the settings REST uses (its process's context: lambdas/runtime.ts). */
  context: AppContext;
  /** How the node runs (media-node/config.ts; VOICE_HEARTBEAT_MS and the others of docs/voice.md). */
  settings: MediaSettings;
  /** The key control commands are signed with (MEDIA_CONTROL_SECRET), shared with REST. */
  controlSecret: string;
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
  log?: (line: string, fields?: LogFields) => void;
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
 * announces the departure of users whose node stopped beating. Its process's composition root (local/runtime.ts,
 * media-node/main.ts) gives it the context and the settings.
 */
export async function startVoiceService(options: VoiceServiceOptions): Promise<VoiceService> {
  const { context } = options;
  if (!options.controlSecret) throw new Error('MEDIA_CONTROL_SECRET is not set: REST could not reach this node');
  // Checked before anything starts: an http:// control URL is a configuration error, not a downgrade.
  if (options.controlUrl) controlBaseUrl(options.controlUrl);
  let controlUrl = '';
  const node = await startMediaNode({
    port: options.port,
    host: options.host,
    tls: options.tls,
    admission: new DynamoDbVoiceAdmission(context),
    presence: new DynamoDbVoicePresence(context, () => controlUrl),
    settings: options.settings,
    // The same list as REST's CORS and the main socket's $connect (CORS_ORIGINS).
    allowedOrigins: context.settings.corsOrigins,
    log: options.log,
  });
  let control: Awaited<ReturnType<typeof startControlServer>>;
  try {
    // Always TLS, with the node's own certificate (not the voice socket's): REST pins it, so it needs no
    // domain and no CA, and a voice certificate renewal does not change it.
    control = await startControlServer({ node, secret: options.controlSecret, port: options.controlPort, host: options.controlHost ?? options.host });
  } catch (error) {
    await node.stop();
    throw error;
  }
  controlUrl = options.controlUrl ? pinnedControlAddress(options.controlUrl, control.fingerprint) : control.url;
  const sweeper = setInterval(() => {
    sweepExpiredVoiceStates(context, context.clock.now()).catch((error) => log().error('voice sweeper', error));
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
