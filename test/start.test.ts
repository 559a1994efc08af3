import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import WebSocket from 'ws';
import { freePort } from '../local/dynamodb';

const ROOT = join(__dirname, '..');

interface Started {
  child: ChildProcess;
  stdout: () => string;
  stderr: () => string;
  /** The exit code, or the signal when npm itself was ended by one (as Ctrl-C ends npm in a terminal). */
  exited: Promise<number | string | null>;
}

function npmStart(env: Record<string, string>): Started {
  // Its own process group, so "Ctrl-C" can reach every process of it as a terminal's would.
  const child = spawn('npm', ['start'], { cwd: ROOT, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (chunk) => (stdout += chunk));
  child.stderr!.on('data', (chunk) => (stderr += chunk));
  const exited = new Promise<number | string | null>((resolve) => child.on('exit', (code, signal) => resolve(code ?? signal)));
  return { child, stdout: () => stdout, stderr: () => stderr, exited };
}

async function until(condition: () => boolean, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

function pressCtrlC(started: Started): void {
  process.kill(-started.child.pid!, 'SIGINT');
}

/** Ctrl-C must leave nothing of the group running and the runtime must report a clean stop. */
async function expectCleanStop(started: Started, dataDir: string): Promise<void> {
  expect([0, 'SIGINT']).toContain(await started.exited);
  await until(() => started.stdout().includes('stopped'), 10_000, 'the stop message');
  await until(() => processesInGroup(started.child.pid!) === '', 10_000, 'every process of npm start to exit');
  expect(javaProcessesFor(dataDir)).toBe('');
}

function processesInGroup(groupId: number): string {
  try {
    return execFileSync('pgrep', ['-g', String(groupId)]).toString().trim();
  } catch {
    return '';
  }
}

function javaProcessesFor(dataDir: string): string {
  try {
    return execFileSync('pgrep', ['-f', dataDir]).toString().trim();
  } catch {
    return '';
  }
}

describe('npm start', () => {
  jest.setTimeout(90_000);

  test('brings the system up, prints the URLs, keeps data across restarts and stops cleanly on Ctrl-C', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'zavodchat-data-'));
    const [restPort, wsPort, vcPort, originPort, workspacePort, deskPort] = [await freePort(), await freePort(), await freePort(), await freePort(), await freePort(), await freePort()];
    const env = {
      REST_PORT: String(restPort),
      WS_PORT: String(wsPort),
      VC_PORT: String(vcPort),
      ORIGIN_PORT: String(originPort),
      WORKSPACE_PORT: String(workspacePort),
      DESK_PORT: String(deskPort),
      DATA_DIR: dataDir,
    };

    const first = npmStart(env);
    await until(() => first.stdout().includes('Press Ctrl-C'), 60_000, 'the start banner');
    expect(first.stdout()).toContain(`REST         http://localhost:${restPort}`);
    expect(first.stdout()).toContain(`main socket  ws://localhost:${wsPort}`);
    expect(first.stdout()).toContain(`one origin   http://localhost:${originPort}  (/api/ REST, /socket main socket`);
    expect(first.stdout()).toContain(`workspace    ws://localhost:${workspacePort}  (socket.io, path /socket.io/`);
    // No OpenID issuer set: the desk socket listens and says it is off.
    expect(first.stdout()).toContain(`desk socket  ws://localhost:${deskPort}/connect/?token=<access token>  (off: set DESK_OIDC_ISSUER and DESK_OIDC_AUDIENCE)`);
    const deskRefusal = await new Promise<string>((resolve, reject) => {
      const socket = new WebSocket(`ws://127.0.0.1:${deskPort}/connect/?token=x`);
      socket.once('open', () => reject(new Error('the desk upgrade was accepted')));
      socket.once('error', () => undefined);
      socket.once('unexpected-response', (_request, response) => {
        let body = '';
        response.on('data', (chunk: Buffer) => (body += chunk.toString()));
        response.on('end', () => resolve(`${response.statusCode} ${body}`));
      });
    });
    expect(deskRefusal).toBe('404 The support desk is not configured');
    // Voice needs a mediasoup worker; where CI provides one (REQUIRE_MEDIASOUP=1) it must be up.
    // The same host name as REST's: the cookie REST sets belongs to that one host.
    const voice = process.env.REQUIRE_MEDIASOUP === '1' ? `ws://localhost:${vcPort}` : `(ws://localhost:${vcPort}|off: )`;
    expect(first.stdout()).toMatch(new RegExp(`voice socket ${voice}`));
    // Plain HTTP: the Secure cookie is kept only for localhost/127.0.0.1, and the banner says so.
    expect(first.stdout()).toContain('Plain HTTP: open it as localhost (or 127.0.0.1) only; for any other host name set TLS_CERT and TLS_KEY.');
    const registered = await fetch(`http://127.0.0.1:${restPort}/register`, {
      method: 'POST',
      body: JSON.stringify({ username: 'persistent', displayname: 'P', password: 'password1' }),
      headers: { 'content-type': 'application/json' },
    });
    expect(registered.status).toBe(200);
    pressCtrlC(first);
    await expectCleanStop(first, dataDir);

    const second = npmStart(env);
    await until(() => second.stdout().includes('Press Ctrl-C'), 60_000, 'the second start banner');
    const login = await fetch(`http://127.0.0.1:${restPort}/auth`, {
      method: 'POST',
      body: JSON.stringify({ username: 'persistent', password: 'password1' }),
      headers: { 'content-type': 'application/json' },
    });
    expect(login.status).toBe(200);
    // The same REST through the one origin, under /api/.
    const params = await fetch(`http://127.0.0.1:${originPort}/api/params`);
    expect(params.status).toBe(200);
    pressCtrlC(second);
    await expectCleanStop(second, dataDir);
  });

  test('a port that is taken gives a one-line hint, not a stack trace', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'zavodchat-data-'));
    const blocker: Server = createServer();
    const restPort = await new Promise<number>((resolve) => blocker.listen(0, () => resolve((blocker.address() as { port: number }).port)));
    try {
      const started = npmStart({
        REST_PORT: String(restPort),
        WS_PORT: String(await freePort()),
        VC_PORT: String(await freePort()),
        ORIGIN_PORT: String(await freePort()),
        WORKSPACE_PORT: String(await freePort()),
        DESK_PORT: String(await freePort()),
        DATA_DIR: dataDir,
      });
      expect(await started.exited).toBe(1);
      expect(started.stderr()).toContain(`REST port ${restPort} is already in use: set REST_PORT to another port`);
      expect(started.stderr()).not.toMatch(/\n\s+at /);
      expect(javaProcessesFor(dataDir)).toBe('');
    } finally {
      blocker.close();
    }
  });
});
