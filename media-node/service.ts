import { randomBytes } from 'node:crypto';
import { sweepExpiredVoiceStates } from '../lambdas/domain/voice';
import { type LogFields, log } from '../lambdas/domain/log';
import { appContext } from '../lambdas/runtime';
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
  /** Control endpoint port (MEDIA_CONTROL_PORT) and the URL REST reaches it at (MEDIA_CONTROL_URL). */
  controlPort: number;
  /** Where the control endpoint listens: `host` unless set (the local runtime: loopback, REST is in-process). */
  controlHost?: string;
  controlUrl?: string;
  settings?: Partial<MediaSettings>;
  log?: (line: string, fields?: LogFields) => void;
}

export interface VoiceService {
  url: string;
  controlUrl: string;
  /** The address and port the control endpoint is bound to. */
  controlAddress: { address: string; port: number };
  rtcPorts(): number[];
  /** A renewed certificate for the voice socket (and the control endpoint when it is HTTPS), without ending calls. */
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
  process.env.MEDIA_CONTROL_SECRET ||= randomBytes(32).toString('hex');
  const context = appContext();
  let controlUrl = options.controlUrl ?? '';
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
    control = await startControlServer({ node, secret: process.env.MEDIA_CONTROL_SECRET, port: options.controlPort, host: options.controlHost ?? options.host,
      // HTTPS only where REST can verify the certificate (a custom domain); otherwise HMAC alone protects it.
      tls: options.controlUrl?.startsWith('https:') ? options.tls : undefined });
  } catch (error) {
    await node.stop();
    throw error;
  }
  controlUrl ||= control.url;
  const sweeper = setInterval(() => {
    sweepExpiredVoiceStates(context).catch((error) => log().error('voice sweeper', error));
  }, SWEEP_MS);
  sweeper.unref();
  return {
    url: node.url,
    controlUrl,
    controlAddress: control.address,
    rtcPorts: () => node.rtcPorts(),
    reloadTls(tls) {
      node.setTls(tls);
      control.setTls(tls);
    },
    async stop() {
      clearInterval(sweeper);
      await control.stop();
      await node.stop();
    },
  };
}
