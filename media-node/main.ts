import { readFileSync } from 'node:fs';
import { JsonLinesLogger, log, parseLogLevel, useLogger } from '../lambdas/domain/log';
import { createAppContext } from '../lambdas/runtime';
import { runtimeSettingsFromEnv } from '../lambdas/settings';
import { ConfigError, mediaSettingsFromEnv, portFromEnv } from './config';
import { startVoiceService } from './service';

/**
 * The media node on its own, until SIGINT/SIGTERM: on EC2 as `node main.js`, the esbuild bundle of this file
 * (lib/media-node-bundle.ts); in a checkout as `npx tsx media-node/main.ts`.
 * It needs the Lambdas' environment (TABLE_NAME, WS_MANAGEMENT_ENDPOINT, MEDIA_CONTROL_SECRET) and its own
 * (VC_PORT, MEDIA_CONTROL_PORT, MEDIA_CONTROL_URL, RTC_*, ...): docs/voice.md. The node process's
 * composition root: the only place it reads its environment.
 */
async function main(): Promise<void> {
  useLogger(new JsonLinesLogger({ service: 'zavodchat-media-node', level: parseLogLevel(process.env.LOG_LEVEL) }));
  const certFile = process.env.TLS_CERT;
  const keyFile = process.env.TLS_KEY;
  if (Boolean(certFile) !== Boolean(keyFile)) throw new ConfigError('set both TLS_CERT and TLS_KEY for WSS, or neither for WS');
  const controlSecret = process.env.MEDIA_CONTROL_SECRET;
  if (!controlSecret) throw new ConfigError('MEDIA_CONTROL_SECRET is not set');
  const settings = mediaSettingsFromEnv(process.env);
  const context = createAppContext(runtimeSettingsFromEnv(process.env));
  const service = await startVoiceService({
    context,
    settings,
    controlSecret,
    port: portFromEnv(process.env, 'VC_PORT', 445),
    host: process.env.VC_HOST || '0.0.0.0',
    tls: certFile && keyFile ? { cert: readFileSync(certFile), key: readFileSync(keyFile) } : undefined,
    controlPort: portFromEnv(process.env, 'MEDIA_CONTROL_PORT', 446),
    controlUrl: process.env.MEDIA_CONTROL_URL || undefined,
    log: (line, fields) => log().error(line, undefined, fields),
  });
  log().info('media node started', { voiceSocket: service.url, control: service.controlUrl, rtcPorts: service.rtcPorts() });
  let stopping = false;
  const shutdown = () => {
    if (stopping) return;
    stopping = true;
    service.stop().then(
      () => process.exit(0),
      () => process.exit(1),
    );
  };
  // systemctl reload (after a certificate renewal): new connections get the new certificate, calls stay up.
  process.on('SIGHUP', () => {
    if (!certFile || !keyFile) return;
    try {
      service.reloadTls({ cert: readFileSync(certFile), key: readFileSync(keyFile) });
      log().info('media node: reloaded the TLS certificate', { certFile });
    } catch (error) {
      log().error('media node: could not reload the TLS certificate, keeping the old one', error);
    }
  });
  process.on('SIGINT', shutdown);
  process.on('SIGTERM', shutdown);
}

main().catch((error: Error & { code?: string }) => {
  const hint = error.code === 'EACCES' ? ' (ports below 1024 need root: set VC_PORT)' : error.code === 'EADDRINUSE' ? ' (set VC_PORT / MEDIA_CONTROL_PORT)' : '';
  log().error(`media node failed to start${hint}`, error);
  process.exit(1);
});
