import { log } from '../lambdas/domain/log';
import { PortError, startLocalRuntime } from './runtime';

/** `npm start`: the whole system on this machine, until Ctrl-C. */
function port(name: string, fallback: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < 0 || value > 65535) {
    console.error(`${name} should be a port number, got '${raw}'`);
    process.exit(2);
  }
  return value;
}

async function main(): Promise<void> {
  // Node 20 is this project's runtime (mediasoup 3.19 caps it); the SDK's notice about Node 22 is noise here.
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
  const certFile = process.env.TLS_CERT;
  const keyFile = process.env.TLS_KEY;
  if (Boolean(certFile) !== Boolean(keyFile)) {
    console.error('set both TLS_CERT and TLS_KEY for HTTPS/WSS, or neither for plain HTTP/WS');
    process.exit(2);
  }
  const dataDir = process.env.DATA_DIR || 'data';
  const clientDir = process.env.CLIENT_BUILD_DIR || undefined;
  const runtime = await startLocalRuntime({
    restPort: port('REST_PORT', 443),
    wsPort: port('WS_PORT', 444),
    vcPort: port('VC_PORT', 445),
    controlPort: port('MEDIA_CONTROL_PORT', 0),
    originPort: port('ORIGIN_PORT', 446),
    workspacePort: port('WORKSPACE_PORT', 447),
    deskPort: port('DESK_PORT', 448),
    clientDir,
    dataDir,
    tls: certFile && keyFile ? { certFile, keyFile } : undefined,
    // Every setting of README "Configuration" comes from this process's environment.
    env: process.env,
    log: (line) => log().error(line),
  });
  console.log(`zavodchat-serverless is running (data in ${dataDir}/)`);
  console.log(`  REST         ${runtime.restUrl}`);
  console.log(`  main socket  ${runtime.wsUrl}`);
  // The cloud's layout on one port: a client built with the relative bases /api/ and /socket works here and there.
  console.log(`  one origin   ${runtime.originUrl}  (/api/ REST, /socket main socket, /voice voice, / ${clientDir ? `client from ${clientDir}` : 'no client: CLIENT_BUILD_DIR'})`);
  console.log(`  workspace    ${runtime.workspaceUrl}  (socket.io, path /socket.io/, transports ['websocket'])`);
  // The desk answers 404 until an OpenID issuer is set (README, "Trying the support desk").
  console.log(`  desk socket  ${runtime.deskUrl}?token=<access token>${runtime.context.settings.desk ? '' : '  (off: set DESK_OIDC_ISSUER and DESK_OIDC_AUDIENCE)'}`);
  console.log('url' in runtime.voice ? `  voice socket ${runtime.voice.url}` : `  voice socket off: ${runtime.voice.disabled}`);
  if (!certFile) {
    // The session cookie is Secure: browsers keep it over plain HTTP only for localhost and 127.0.0.1.
    console.log('Plain HTTP: open it as localhost (or 127.0.0.1) only; for any other host name set TLS_CERT and TLS_KEY.');
  }
  console.log('Press Ctrl-C to stop.');
  let stopping = false;
  const shutdown = () => {
    if (stopping) return;
    stopping = true;
    console.log('stopping...');
    runtime.stop().then(
      () => {
        console.log('stopped');
        process.exit(0);
      },
      (error: Error) => {
        console.error(`stopped with an error: ${error.message}`);
        process.exit(1);
      },
    );
  };
  process.on('SIGINT', shutdown);
  process.on('SIGTERM', shutdown);
}

main().catch((error) => {
  console.error(error instanceof PortError ? error.message : `failed to start: ${(error as Error).message}`);
  process.exit(1);
});
