import { readFileSync } from 'node:fs';
import { ConfigError, mediaSettingsFromEnv, portFromEnv } from './config';
import { startMediaNode } from './node';
import { createVoicePorts } from './wiring';

/** `tsx media-node/main.ts`: the media node on its own, until SIGINT/SIGTERM. Settings: docs/voice.md. */
async function main(): Promise<void> {
  const certFile = process.env.TLS_CERT;
  const keyFile = process.env.TLS_KEY;
  if (Boolean(certFile) !== Boolean(keyFile)) throw new ConfigError('set both TLS_CERT and TLS_KEY for WSS, or neither for WS');
  const settings = mediaSettingsFromEnv();
  const ports = createVoicePorts();
  const node = await startMediaNode({
    port: portFromEnv(process.env, 'VC_PORT', 445),
    host: process.env.VC_HOST || '0.0.0.0',
    tls: certFile && keyFile ? { cert: readFileSync(certFile), key: readFileSync(keyFile) } : undefined,
    ...ports,
    settings,
  });
  console.log(`media node: voice socket ${node.url}, WebRTC UDP/TCP ports ${node.rtcPorts().join(', ')}`);
  console.log(`  ${ports.description}`);
  let stopping = false;
  const shutdown = () => {
    if (stopping) return;
    stopping = true;
    node.stop().then(
      () => process.exit(0),
      () => process.exit(1),
    );
  };
  process.on('SIGINT', shutdown);
  process.on('SIGTERM', shutdown);
}

main().catch((error: Error & { code?: string }) => {
  const hint = error.code === 'EACCES' ? ' (ports below 1024 need root: set VC_PORT)' : error.code === 'EADDRINUSE' ? ' (set VC_PORT)' : '';
  console.error(`media node failed to start: ${error.message}${hint}`);
  process.exit(1);
});
