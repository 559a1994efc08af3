import { execFileSync, spawnSync } from 'node:child_process';
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { VOICE_ADDRESS_PATHS, voiceAddressCommands } from '../../lib/media-node-lifecycle';

/**
 * The on-demand node's address script (lib/media-node-lifecycle.ts), run for real in a scratch folder: only
 * the instance metadata service (`curl`), Route 53 (`aws`) and `sleep` are stand-ins on PATH, and the
 * environment file it writes is moved into the folder. Everything else is the text the first boot installs.
 */
const RECORD = 'voice.chat.example.com';
const ZONE = 'Z0123456789EXAMPLE';

/** The voice wake's custom domain (mediaStartOn=voice): where the record is parked while the node is stopped. */
const WAKE = { dnsName: 'd-abcdef1234.execute-api.us-east-1.amazonaws.com', hostedZoneId: 'Z1UJRXOUMOOFQ8' };

let folder: string;
let script: string;

/** Writes the address script of these first-boot commands into the folder. */
function install(commands: string[]): void {
  const text = commands.join('\n');
  const body = new RegExp(`cat > ${VOICE_ADDRESS_PATHS.script} <<'ZAVODCHAT_EOF'\\n([\\s\\S]*?)\\nZAVODCHAT_EOF`).exec(text)?.[1];
  if (!body) throw new Error('the address script is not in the first-boot commands');
  script = join(folder, 'voice-address.sh');
  writeFileSync(script, body.replaceAll(VOICE_ADDRESS_PATHS.environmentFile, join(folder, 'address.env')));
  chmodSync(script, 0o755);
}

beforeEach(() => {
  folder = mkdtempSync(join(tmpdir(), 'zavodchat-address-'));
  install(voiceAddressCommands(ZONE, RECORD));
  const stub = (name: string, text: string) => {
    writeFileSync(join(folder, name), `#!/bin/bash\n${text}\n`);
    chmodSync(join(folder, name), 0o755);
  };
  // IMDSv2: a token for the PUT, then the public address for a request that carries it.
  stub('curl', `case "$*" in *api/token*) echo token-1 ;; *"X-aws-ec2-metadata-token: token-1"*public-ipv4*) echo 203.0.113.9 ;; *) exit 22 ;; esac`);
  stub('aws', `printf '%s\\n' "$@" >> "${folder}/aws-calls"; [ ! -e "${folder}/aws-fails" ]`);
  stub('sleep', 'exit 0');
});
afterEach(() => rmSync(folder, { recursive: true, force: true }));

const run = (action: string) => spawnSync('bash', [script, action], { env: { PATH: `${folder}:/usr/bin:/bin` }, encoding: 'utf8' });
const calls = () => readFileSync(join(folder, 'aws-calls'), 'utf8').split('\n');

test('is valid bash', () => {
  execFileSync('bash', ['-n', script]);
});

test('publish: the address of this boot goes into ANNOUNCED_ADDRESS and into the voice record (UPSERT, TTL 60)', () => {
  const result = run('publish');
  expect(result.status).toBe(0);
  expect(readFileSync(join(folder, 'address.env'), 'utf8')).toBe('ANNOUNCED_ADDRESS=203.0.113.9\n');
  const args = calls();
  expect(args.slice(0, 4)).toEqual(['route53', 'change-resource-record-sets', '--hosted-zone-id', ZONE]);
  expect(args[4]).toBe('--change-batch');
  expect(JSON.parse(args[5])).toEqual({
    Changes: [{ Action: 'UPSERT', ResourceRecordSet: { Name: RECORD, Type: 'A', TTL: 60, ResourceRecords: [{ Value: '203.0.113.9' }] } }],
  });
});

test('park: the record points at 127.0.0.1, the environment file is left alone', () => {
  expect(run('park').status).toBe(0);
  expect(JSON.parse(calls()[5]).Changes[0].ResourceRecordSet.ResourceRecords).toEqual([{ Value: '127.0.0.1' }]);
  expect(() => readFileSync(join(folder, 'address.env'))).toThrow();
});

describe('mediaStartOn=voice: parked at the voice wake', () => {
  beforeEach(() => install(voiceAddressCommands(ZONE, RECORD, WAKE)));

  test('is valid bash', () => {
    execFileSync('bash', ['-n', script]);
  });

  test('park: the record becomes an alias A record of the wake domain (UPSERT, the same one action)', () => {
    expect(run('park').status).toBe(0);
    const args = calls();
    expect(args.slice(0, 5)).toEqual(['route53', 'change-resource-record-sets', '--hosted-zone-id', ZONE, '--change-batch']);
    expect(JSON.parse(args[5])).toEqual({
      Changes: [
        {
          Action: 'UPSERT',
          ResourceRecordSet: { Name: RECORD, Type: 'A', AliasTarget: { HostedZoneId: WAKE.hostedZoneId, DNSName: WAKE.dnsName, EvaluateTargetHealth: false } },
        },
      ],
    });
    expect(() => readFileSync(join(folder, 'address.env'))).toThrow();
  });

  test('publish: still the address of this boot, TTL 60', () => {
    expect(run('publish').status).toBe(0);
    expect(JSON.parse(calls()[5]).Changes[0].ResourceRecordSet).toEqual({ Name: RECORD, Type: 'A', TTL: 60, ResourceRecords: [{ Value: '203.0.113.9' }] });
  });

  test('Route 53 refusing five times fails the park with the reason', () => {
    writeFileSync(join(folder, 'aws-fails'), '');
    const result = run('park');
    expect(result.status).toBe(1);
    expect(result.stderr).toContain(`could not point ${RECORD} at the voice wake`);
  });
});

test('Route 53 refusing five times fails the unit (so systemd retries it and the media service waits)', () => {
  writeFileSync(join(folder, 'aws-fails'), '');
  const result = run('publish');
  expect(result.status).toBe(1);
  expect(result.stderr).toContain(`could not point ${RECORD} at 203.0.113.9`);
  expect(calls().filter((line) => line === 'change-resource-record-sets')).toHaveLength(5);
});

test('no address from the metadata service: fails before touching DNS', () => {
  writeFileSync(join(folder, 'curl'), '#!/bin/bash\nexit 22\n');
  const result = run('publish');
  expect(result.status).not.toBe(0);
  expect(() => readFileSync(join(folder, 'aws-calls'))).toThrow();
});
