import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import { request as httpsRequest } from 'node:https';
import { createServer } from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { connect as tlsConnect } from 'node:tls';
import { HttpVoiceControl } from '../../lambdas/adapters/http-voice-control';
import { REPOSITORY_ROOT } from '../../lib/lambda-functions';
import { buildMediaNodeBundle, MEDIA_NODE_BUNDLE_FILE } from '../../lib/media-node-bundle';
import { MEDIA_NODE_PATHS, MEDIA_SERVICE, mediaNodeUserData } from '../../lib/media-node-user-data';
import { describeMedia } from './support/mediasoup-check';
import { OFFLINE_AWS_ENVIRONMENT } from './support/offline-aws';

/**
 * The media node as the instance gets it: its bundle plus what `npm ci` of the bundle's lockfile installs
 * (mediasoup, linked here from the repository's node_modules, as the network is not ours to use), started
 * from an empty folder; then the real first-boot script in a scratch root, where only AWS (aws, cfn-signal)
 * and the OS's package manager, users and systemd are stand-ins that record their calls.
 */

const CANARY_SECRET = 'canary-control-secret-0d1e2f';

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

function selfSigned(dir: string, name: string): { cert: string; key: string } {
  const cert = path.join(dir, `${name}-cert.pem`);
  const key = path.join(dir, `${name}-key.pem`);
  execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '1', '-subj', `/CN=${name}`, '-keyout', key, '-out', cert], { stdio: 'ignore' });
  return { cert, key };
}

/** GET /health over TLS (any certificate): the status code, or the error. */
function health(port: number): Promise<number | string> {
  return new Promise((resolve) => {
    const request = httpsRequest({ host: '127.0.0.1', port, path: '/health', rejectUnauthorized: false, timeout: 2000, agent: false }, (response) => {
      response.resume();
      resolve(response.statusCode ?? 0);
    });
    request.on('error', (error) => resolve(error.message));
    request.on('timeout', () => request.destroy(new Error('timeout')));
    request.end();
  });
}

async function untilHealthy(port: number, child: ChildProcess, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if ((await health(port)) === 200) return;
    if (child.exitCode !== null) throw new Error(`the media node exited with ${child.exitCode}`);
    if (Date.now() > deadline) throw new Error('the media node did not become healthy');
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

/** SHA-256 fingerprint of the certificate a TLS server presents now. */
function presentedFingerprint(port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = tlsConnect({ host: '127.0.0.1', port, rejectUnauthorized: false }, () => {
      resolve(socket.getPeerCertificate().fingerprint256);
      socket.end();
    });
    socket.on('error', reject);
  });
}

function fingerprintOf(certFile: string): string {
  const der = Buffer.from(
    fs
      .readFileSync(certFile, 'utf8')
      .replace(/-----(BEGIN|END) CERTIFICATE-----/g, '')
      .replace(/\s+/g, ''),
    'base64',
  );
  return createHash('sha256').update(der).digest('hex').toUpperCase().match(/../g)!.join(':');
}

function exited(child: ChildProcess): Promise<number | null> {
  return child.exitCode !== null ? Promise.resolve(child.exitCode) : new Promise((resolve) => child.once('exit', (code) => resolve(code)));
}

const mediasoupPackage = fs.realpathSync(path.join(REPOSITORY_ROOT, 'node_modules', 'mediasoup'));
const workerEnvironment = process.env.MEDIASOUP_WORKER_BIN ? { MEDIASOUP_WORKER_BIN: process.env.MEDIASOUP_WORKER_BIN } : {};
const offlineAws = OFFLINE_AWS_ENVIRONMENT;

let work: string;
let bundleDir: string;
const children: ChildProcess[] = [];
const pids: number[] = [];

beforeAll(() => {
  work = fs.mkdtempSync(path.join(os.tmpdir(), 'zavodchat-media-boot-'));
  bundleDir = path.join(work, 'bundle');
  fs.mkdirSync(bundleDir);
  buildMediaNodeBundle(bundleDir, REPOSITORY_ROOT);
}, 60_000);

afterAll(async () => {
  for (const child of children) if (child.exitCode === null) child.kill('SIGKILL');
  for (const pid of pids) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
  fs.rmSync(work, { recursive: true, force: true });
});

describeMedia('media node bundle, started from an empty folder', {}, () => {
  let app: string;
  beforeAll(() => {
    // Exactly what the instance has after `npm ci --omit=dev`: the bundle, its manifest, and mediasoup.
    app = fs.mkdtempSync(path.join(work, 'app-'));
    for (const name of fs.readdirSync(bundleDir)) fs.copyFileSync(path.join(bundleDir, name), path.join(app, name));
    fs.mkdirSync(path.join(app, 'node_modules'));
    fs.symlinkSync(mediasoupPackage, path.join(app, 'node_modules', 'mediasoup'));
  });

  async function start(extra: Record<string, string> = {}) {
    const port = await freePort();
    const tls = selfSigned(app, `first-${port}`);
    const child = spawn(process.execPath, [MEDIA_NODE_BUNDLE_FILE], {
      cwd: app,
      env: {
        PATH: process.env.PATH,
        ...workerEnvironment,
        ...offlineAws,
        VC_PORT: String(port),
        VC_HOST: '127.0.0.1',
        MEDIA_CONTROL_PORT: '0',
        MEDIA_CONTROL_SECRET: 'test-secret',
        RTC_MIN_PORT: '0',
        MEDIA_WORKERS: '1',
        TLS_CERT: tls.cert,
        TLS_KEY: tls.key,
        ...extra,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    children.push(child);
    let output = '';
    child.stdout!.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.stderr!.on('data', (chunk: Buffer) => (output += chunk.toString()));
    return { child, port, tls, output: () => output };
  }

  test('answers GET /health; new TLS connections get a renewed certificate after SIGHUP', async () => {
    const started = Date.now();
    const node = await start();
    await untilHealthy(node.port, node.child, 20_000);
    const coldStartMs = Date.now() - started;
    // Recorded for docs/deploy.md: process start to a healthy voice socket (one worker).
    console.log(`media node cold start from its bundle: ${coldStartMs} ms`);
    // Its log is JSON lines (docs/pipeline.md): the start record names the voice socket.
    expect(node.output()).toMatch(/"message":"media node started".*"voiceSocket":"wss:\/\/127\.0\.0\.1:\d+"/);

    expect(await presentedFingerprint(node.port)).toBe(fingerprintOf(node.tls.cert));
    const renewed = selfSigned(app, 'renewed');
    fs.copyFileSync(renewed.cert, node.tls.cert);
    fs.copyFileSync(renewed.key, node.tls.key);
    node.child.kill('SIGHUP');
    const deadline = Date.now() + 5000;
    while ((await presentedFingerprint(node.port)) !== fingerprintOf(renewed.cert)) {
      if (Date.now() > deadline) throw new Error(`the certificate was not reloaded: ${node.output()}`);
      await new Promise((resolve) => setTimeout(resolve, 25));
    }
    expect(node.child.exitCode).toBeNull();
    expect(await health(node.port)).toBe(200);

    node.child.kill('SIGTERM');
    expect(await exited(node.child)).toBe(0);
  }, 30_000);

  test('refuses a plain http:// control URL at start: the control endpoint is TLS only', async () => {
    const node = await start({ MEDIA_CONTROL_URL: 'http://127.0.0.1:446' });
    expect(await exited(node.child)).toBe(1);
    expect(node.output()).toMatch(/"message":"media node failed to start".*"message":"MEDIA_CONTROL_URL must be https:\/\/<host>\[:<port>\] \(the control endpoint always serves TLS\), got 'http:\/\/127\.0\.0\.1:446'"/);
  }, 30_000);

  test('fails loudly, at once, when the mediasoup worker is missing', async () => {
    const node = await start({ MEDIASOUP_WORKER_BIN: path.join(work, 'no-such-worker') });
    expect(await exited(node.child)).toBe(1);
    expect(node.output()).toMatch(/"message":"media node failed to start[^"]*".*(ENOENT|no-such-worker)/);
  }, 30_000);
});

const STUBS: Record<string, string> = {
  // AWS: the bundle from "S3" and the secrets from "Secrets Manager" (a stored certificate: none).
  aws: `echo "aws $*" >> "$ZC_STUB_LOG"
case "$1 $2" in
  "s3 cp") cp "$ZC_STUB_BUNDLE_ZIP" "\${@: -1}" ;;
  "secretsmanager get-secret-value") if [[ "$*" == *SecretBinary* ]]; then echo None; else echo "$ZC_STUB_SECRET"; fi ;;
  *) echo "unexpected aws call: $*" >&2; exit 1 ;;
esac`,
  'cfn-signal': 'printf "%q " "$@" >> "$ZC_STUB_SIGNALS"; echo >> "$ZC_STUB_SIGNALS"',
  // npm ci from "the registry": what it would install, checked against the lockfile it was given.
  npm: `echo "npm $*" >> "$ZC_STUB_LOG"
[ "$1" = ci ] && grep -q '"node_modules/mediasoup"' package-lock.json || exit 1
mkdir -p node_modules && ln -s "$ZC_STUB_MEDIASOUP" node_modules/mediasoup`,
  // The OS: packages, the service user and ownership are the instance's business.
  dnf: 'echo "dnf $*" >> "$ZC_STUB_LOG"',
  useradd: 'echo "useradd $*" >> "$ZC_STUB_LOG"',
  chown: 'echo "chown $*" >> "$ZC_STUB_LOG"',
  chgrp: 'echo "chgrp $*" >> "$ZC_STUB_LOG"',
  // The journal of the one service: its output.
  journalctl: 'echo "journalctl $*" >> "$ZC_STUB_LOG"; tail -n 3 "$ZC_STUB_SERVICE_LOG"',
  // systemd: runs a unit's ExecStart with its EnvironmentFile and WorkingDirectory in the background and,
  // as Restart=always does, again whenever it exits, counting restarts for "show NRestarts".
  systemctl: `echo "systemctl $*" >> "$ZC_STUB_LOG"
run() {
  local unit="$ZC_STUB_UNITS/$1.service"
  local environment directory command
  environment=$(sed -n 's/^EnvironmentFile=//p' "$unit")
  directory=$(sed -n 's/^WorkingDirectory=//p' "$unit")
  command=$(sed -n 's/^ExecStart=//p' "$unit")
  echo 0 > "$ZC_STUB_RESTARTS"
  (
    for restarts in $(seq 1 50); do
      ( cd "$directory" && set -a && . "$environment" && set +a && exec $command ) >> "$ZC_STUB_SERVICE_LOG" 2>&1 &
      echo $! >> "$ZC_STUB_PIDS"
      wait $! || true
      echo "$restarts" > "$ZC_STUB_RESTARTS"
      sleep 0.2
    done
  ) > /dev/null 2>&1 &
  echo $! >> "$ZC_STUB_PIDS"
}
case "$1" in
  enable) if [ "$2" = --now ]; then run "$3"; fi ;;
  show) cat "$ZC_STUB_RESTARTS" 2>/dev/null || echo 0 ;;
esac
exit 0`,
};

describeMedia('first-boot script in a scratch root', {}, () => {
  let zip: string;
  beforeAll(() => {
    zip = path.join(work, 'bundle.zip');
    execFileSync('zip', ['-q', '-r', zip, '.'], { cwd: bundleDir });
  });

  async function boot(name: string, extra: Record<string, string> = {}) {
    const root = path.join(work, name);
    const stubs = path.join(root, 'stubs');
    fs.mkdirSync(stubs, { recursive: true });
    for (const [command, body] of Object.entries(STUBS)) fs.writeFileSync(path.join(stubs, command), `#!/bin/bash\n${body}\n`, { mode: 0o755 });
    const paths = Object.fromEntries(Object.entries(MEDIA_NODE_PATHS).map(([key, value]) => [key, path.join(root, value)]));
    const voicePort = await freePort();
    const controlPort = await freePort();
    const script = mediaNodeUserData({
      bundleUrl: 's3://bucket/bundle.zip',
      region: 'us-east-1',
      announcedAddress: '127.0.0.1',
      maxWorkers: 1,
      controlSecretArn: 'arn:aws:secretsmanager:us-east-1:123456789012:secret:control',
      voicePort,
      environment: { ...offlineAws, RTC_MIN_PORT: '0', MEDIA_CONTROL_PORT: String(controlPort), MEDIA_CONTROL_URL: `https://127.0.0.1:${controlPort}` },
      tls: { kind: 'self-signed' },
      signal: { stackName: 'Boot', logicalId: 'MediaInstance' },
      healthTimeoutSeconds: 60,
    }).render();
    // The only edit: the path variables of the first lines point into the scratch root.
    let rooted = script;
    for (const [key, value] of Object.entries(MEDIA_NODE_PATHS)) {
      const line = `\n${key}=${value}\n`;
      expect(rooted).toContain(line);
      rooted = rooted.replace(line, `\n${key}=${paths[key]}\n`);
    }
    fs.writeFileSync(path.join(root, 'user-data.sh'), rooted);
    const files = {
      log: path.join(root, 'calls.log'),
      signals: path.join(root, 'signals.log'),
      service: path.join(root, 'service.log'),
      pids: path.join(root, 'pids'),
      restarts: path.join(root, 'restarts'),
    };
    const child = spawn('bash', [path.join(root, 'user-data.sh')], {
      env: {
        PATH: `${stubs}:${path.dirname(process.execPath)}:/usr/bin:/bin`,
        HOME: root,
        ...workerEnvironment,
        ...extra,
        ZC_STUB_LOG: files.log,
        ZC_STUB_SIGNALS: files.signals,
        ZC_STUB_SERVICE_LOG: files.service,
        ZC_STUB_PIDS: files.pids,
        ZC_STUB_RESTARTS: files.restarts,
        ZC_STUB_UNITS: paths.ZC_UNITS,
        ZC_STUB_BUNDLE_ZIP: zip,
        ZC_STUB_SECRET: CANARY_SECRET,
        ZC_STUB_MEDIASOUP: mediasoupPackage,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    children.push(child);
    let console = '';
    child.stdout!.on('data', (chunk: Buffer) => (console += chunk.toString()));
    child.stderr!.on('data', (chunk: Buffer) => (console += chunk.toString()));
    const code = await exited(child);
    const read = (file: string) => (fs.existsSync(file) ? fs.readFileSync(file, 'utf8') : '');
    for (const pid of read(files.pids).split('\n').filter(Boolean)) pids.push(Number(pid));
    return { code, console, paths, voicePort, calls: read(files.log), signals: read(files.signals).trim().split('\n').filter(Boolean), service: () => read(files.service) };
  }

  test('installs the bundle, starts the node, waits for its health and signals success; the secret stays out of the log', async () => {
    const result = await boot('healthy');
    expect({ code: result.code, console: result.console }).toEqual({ code: 0, console: expect.stringContaining('zavodchat: media node healthy') });
    expect(result.signals).toHaveLength(1);
    expect(result.signals[0]).toMatch(/--stack Boot --resource MediaInstance --region us-east-1 --exit-code 0 /);
    expect(await health(result.voicePort)).toBe(200);
    expect(result.calls).toContain(`systemctl enable --now ${MEDIA_SERVICE}`);
    expect(result.calls).toMatch(/npm ci --omit=dev/);

    // The "cloud-init log" (everything the script printed) and its commands never carry the secret ...
    expect(result.console).not.toContain(CANARY_SECRET);
    expect(result.calls).not.toContain(CANARY_SECRET);
    expect(result.service()).not.toContain(CANARY_SECRET);
    // ... which only the environment file holds, unreadable to others.
    const environmentFile = path.join(result.paths.ZC_ETC, 'media-node.env');
    expect(fs.readFileSync(environmentFile, 'utf8')).toContain(`\nMEDIA_CONTROL_SECRET=${CANARY_SECRET}\n`);
    expect(fs.statSync(environmentFile).mode & 0o777).toBe(0o640);
    expect(fs.statSync(path.join(result.paths.ZC_ETC, 'tls', 'privkey.pem')).mode & 0o777).toBe(0o600);

    // REST's control path to the node the boot started: TLS to the certificate it announced, signed with the
    // secret the boot read. Nobody is in voice, so the kick finds no one (done: false) but is answered 200.
    const announced = /"control":"(https:\/\/127\.0\.0\.1:\d+#sha256=[0-9a-f]{64})"/.exec(result.service());
    expect(announced).not.toBeNull();
    expect(await new HttpVoiceControl(CANARY_SECRET).send(announced![1], { kind: 'kick', userId: 1, reason: 'Kicked' })).toBe(false);
    expect(result.service()).not.toContain(CANARY_SECRET);
  }, 90_000);

  test('a missing mediasoup worker fails the boot with a signal that says so, before starting anything', async () => {
    const result = await boot('no-worker', { MEDIASOUP_WORKER_BIN: '/nonexistent/mediasoup-worker' });
    expect(result.code).toBe(1);
    expect(result.signals).toHaveLength(1);
    expect(result.signals[0]).toMatch(/--exit-code 1 --reason .*mediasoup\\ worker\\ is\\ missing/);
    expect(result.calls).not.toContain('systemctl enable');
    expect(result.console).toContain('zavodchat: boot failed: the mediasoup worker is missing');
  }, 90_000);

  test('a node that cannot start (a worker that does not run) fails the boot after its third exit, with its own error', async () => {
    const result = await boot('crash-loop', { MEDIASOUP_WORKER_BIN: '/bin/false' });
    expect(result.code).toBe(1);
    expect(result.calls).toContain(`systemctl enable --now ${MEDIA_SERVICE}`);
    expect(result.signals).toHaveLength(1);
    expect(result.signals[0]).toMatch(/--exit-code 1 --reason .*media\\ node\\ exited\\ [3-9].*media\\ node\\ failed\\ to\\ start/);
    expect(result.console).not.toContain(CANARY_SECRET);
  }, 90_000);
});
