import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { MEDIA_NODE_PATHS, mediaNodeUserData } from '../../lib/media-node-user-data';

/**
 * The Let's Encrypt parts of the first-boot script, run for real in a scratch root: the pieces are cut out
 * of the rendered user data as they are (the hook files it writes, the restore step) and only `aws`,
 * `chown` and `systemctl` are stand-ins that record their arguments.
 */

const HOST = 'voice.chat.example.com';
const ZONE = 'Z0123456789EXAMPLE';
const STORE = 'arn:aws:secretsmanager:us-east-1:123456789012:secret:store';

const script = mediaNodeUserData({
  bundleUrl: 's3://bucket/bundle.zip',
  region: 'us-east-1',
  announcedAddress: '192.0.2.1',
  maxWorkers: 2,
  controlSecretArn: 'arn:aws:secretsmanager:us-east-1:123456789012:secret:control',
  voicePort: 443,
  environment: {},
  tls: { kind: 'letsencrypt', host: HOST, certificateSecretArn: STORE, challenge: { kind: 'dns-route53', hostedZoneId: ZONE } },
  signal: { stackName: 'S', logicalId: 'I' },
  healthTimeoutSeconds: 60,
}).render();

/** The lines of the script through the first one starting with `last`, from the nearest before it starting with `first`. */
function section(first: string, last: string): string {
  const lines = script.split('\n');
  const to = lines.findIndex((line) => line.startsWith(last));
  let from = to;
  while (from >= 0 && !lines[from].startsWith(first)) from--;
  if (from < 0 || to < 0) throw new Error(`no section ${first} .. ${last} in the user data`);
  return lines.slice(from, to + 1).join('\n');
}

const STUBS: Record<string, string> = {
  // Each call: its arguments, NUL-separated, in calls/<n>; answers what the real CLI would print.
  aws: `n=$(ls "$STUB_CALLS" | wc -l); printf '%s\\0' "$@" > "$STUB_CALLS/$(printf %03d "$n")"
case "$1 $2" in
  "route53 change-resource-record-sets") echo /change/C0123 ;;
  "route53 wait") ;;
  "secretsmanager put-secret-value") for a in "$@"; do case "$a" in fileb://*) cp "\${a#fileb://}" "$STUB_SAVED" ;; esac; done; echo v1 ;;
  "secretsmanager get-secret-value") if [ -s "$STUB_SAVED" ]; then base64 -w0 "$STUB_SAVED"; else echo None; fi ;;
  *) exit 1 ;;
esac`,
  chown: 'exit 0',
  systemctl: 'printf \'%s\\0\' systemctl "$@" > "$STUB_CALLS/systemctl"',
};

let root: string;
let calls: string;
let saved: string;

beforeEach(() => {
  root = fs.mkdtempSync(path.join(os.tmpdir(), 'zavodchat-certificate-'));
  calls = path.join(root, 'calls');
  saved = path.join(root, 'saved.tgz');
  fs.mkdirSync(calls);
  fs.mkdirSync(path.join(root, 'stubs'));
  for (const [name, body] of Object.entries(STUBS)) fs.writeFileSync(path.join(root, 'stubs', name), `#!/bin/bash\n${body}\n`, { mode: 0o755 });
});

afterEach(() => fs.rmSync(root, { recursive: true, force: true }));

/** Runs shell text with the path variables pointing into the scratch root. */
function run(text: string, environment: Record<string, string> = {}): string {
  const paths = Object.entries(MEDIA_NODE_PATHS).map(([name, value]) => `${name}=${path.join(root, value)}`);
  for (const [, value] of Object.entries(MEDIA_NODE_PATHS)) fs.mkdirSync(path.join(root, value), { recursive: true });
  fs.mkdirSync(path.join(root, MEDIA_NODE_PATHS.ZC_ETC, 'tls'), { recursive: true });
  const file = path.join(root, `run-${Date.now()}.sh`);
  fs.writeFileSync(file, ['set -euo pipefail', 'zc_step() { :; }', ...paths, text].join('\n'));
  return execFileSync('bash', [file], {
    env: { PATH: `${path.join(root, 'stubs')}:/usr/bin:/bin`, STUB_CALLS: calls, STUB_SAVED: saved, ...environment },
    encoding: 'utf8',
  });
}

const recorded = () =>
  fs
    .readdirSync(calls)
    .sort()
    .map((name) => fs.readFileSync(path.join(calls, name), 'utf8').split('\0').slice(0, -1));

const home = () => path.join(root, MEDIA_NODE_PATHS.ZC_HOME);

test('the DNS-01 hook writes exactly the challenge TXT record in the zone and waits until Route 53 has it; cleanup removes it', () => {
  run(section(`{ echo '#!/bin/bash'`, 'chmod 0755 "$ZC_HOME/acme-dns-route53.sh"'));
  const hook = path.join(home(), 'acme-dns-route53.sh');
  const environment = { CERTBOT_DOMAIN: HOST, CERTBOT_VALIDATION: 'Xy-z_0123456789abcdef' };
  execFileSync(hook, ['UPSERT'], { env: { PATH: `${path.join(root, 'stubs')}:/usr/bin:/bin`, STUB_CALLS: calls, STUB_SAVED: saved, ...environment } });
  const [change, wait] = recorded();
  const batch = change[change.indexOf('--change-batch') + 1];
  expect(change.slice(0, 4)).toEqual(['route53', 'change-resource-record-sets', '--hosted-zone-id', ZONE]);
  expect(JSON.parse(batch)).toEqual({
    Changes: [
      {
        Action: 'UPSERT',
        ResourceRecordSet: { Name: `_acme-challenge.${HOST}.`, Type: 'TXT', TTL: 30, ResourceRecords: [{ Value: '"Xy-z_0123456789abcdef"' }] },
      },
    ],
  });
  expect(wait).toEqual(['route53', 'wait', 'resource-record-sets-changed', '--id', '/change/C0123']);

  fs.rmSync(calls, { recursive: true });
  fs.mkdirSync(calls);
  execFileSync(hook, ['DELETE'], { env: { PATH: `${path.join(root, 'stubs')}:/usr/bin:/bin`, STUB_CALLS: calls, STUB_SAVED: saved, ...environment } });
  const [removal, ...rest] = recorded();
  expect(JSON.parse(removal[removal.indexOf('--change-batch') + 1]).Changes[0].Action).toBe('DELETE');
  expect(rest).toEqual([]);
});

test('a new certificate is installed for the node, reloaded without a restart, saved; a replacement instance restores it', () => {
  const letsencrypt = path.join(root, MEDIA_NODE_PATHS.ZC_LETSENCRYPT);
  const lineage = path.join(letsencrypt, 'live', HOST);
  fs.mkdirSync(lineage, { recursive: true });
  fs.writeFileSync(path.join(lineage, 'fullchain.pem'), 'CERTIFICATE CHAIN\n');
  fs.writeFileSync(path.join(lineage, 'privkey.pem'), 'PRIVATE KEY\n');
  fs.mkdirSync(path.join(letsencrypt, 'renewal'));
  fs.writeFileSync(path.join(letsencrypt, 'renewal', `${HOST}.conf`), 'renewal settings\n');

  run(section(`{ echo '#!/bin/bash'`, 'chmod 0755 "$ZC_HOME/certificate-installed.sh"'));
  execFileSync(path.join(home(), 'certificate-installed.sh'), {
    env: { PATH: `${path.join(root, 'stubs')}:/usr/bin:/bin`, STUB_CALLS: calls, STUB_SAVED: saved, RENEWED_LINEAGE: lineage },
  });
  const tls = path.join(root, MEDIA_NODE_PATHS.ZC_ETC, 'tls');
  expect(fs.readFileSync(path.join(tls, 'fullchain.pem'), 'utf8')).toBe('CERTIFICATE CHAIN\n');
  expect(fs.statSync(path.join(tls, 'privkey.pem')).mode & 0o777).toBe(0o600);
  expect(fs.readFileSync(path.join(calls, 'systemctl'), 'utf8').split('\0').slice(0, -1)).toEqual(['systemctl', 'reload', 'zavodchat-media']);
  const [put] = recorded().filter((call) => call[1] === 'put-secret-value');
  expect(put.slice(0, 6)).toEqual(['secretsmanager', 'put-secret-value', '--region', 'us-east-1', '--secret-id', STORE]);
  expect(fs.statSync(saved).size).toBeGreaterThan(0);

  // A new instance: empty certbot directory, the restore step of the boot script.
  fs.rmSync(letsencrypt, { recursive: true });
  run(section('zc_step "restoring the voice certificate"', 'unset stored'));
  expect(fs.readFileSync(path.join(lineage, 'privkey.pem'), 'utf8')).toBe('PRIVATE KEY\n');
  expect(fs.readFileSync(path.join(letsencrypt, 'renewal', `${HOST}.conf`), 'utf8')).toBe('renewal settings\n');
});

test('nothing saved yet: the restore step leaves the directory empty and the boot serves a placeholder for the host', () => {
  run(section('zc_step "restoring the voice certificate"', 'unset stored'));
  expect(fs.readdirSync(path.join(root, MEDIA_NODE_PATHS.ZC_LETSENCRYPT))).toEqual([]);
  const placeholder = script.split('\n');
  const start = placeholder.indexOf(`if [ -s "$ZC_LETSENCRYPT/live/${HOST}/fullchain.pem" ]; then`);
  run(placeholder.slice(start, placeholder.indexOf('fi', start) + 1).join('\n'));
  const subject = execFileSync('openssl', ['x509', '-noout', '-subject', '-in', path.join(root, MEDIA_NODE_PATHS.ZC_ETC, 'tls', 'fullchain.pem')], { encoding: 'utf8' });
  expect(subject).toContain(HOST);
});
