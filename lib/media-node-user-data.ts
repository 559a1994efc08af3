import * as ec2 from 'aws-cdk-lib/aws-ec2';
import { MEDIA_NODE_BUNDLE_FILE } from './media-node-bundle';

/**
 * How the media node gets the certificate of its wss voice socket (browsers refuse plain ws from an https
 * page). With a custom domain: Let's Encrypt for voice.<parent>, by DNS-01 through Route 53 when the stack
 * knows the hosted zone, by HTTP-01 (port 80) otherwise; kept in a Secrets Manager secret so a replaced
 * instance reuses it. Without a domain: a self-signed certificate for the Elastic IP (testing only).
 */
export type VoiceTls =
  | { kind: 'self-signed' }
  | {
      kind: 'letsencrypt';
      host: string;
      /** Secret holding a tar.gz of certbot's configuration directory (account, certificates, renewal). */
      certificateSecretArn: string;
      challenge: { kind: 'dns-route53'; hostedZoneId: string } | { kind: 'http' };
    };

export interface MediaNodeUserDataProps {
  /** s3:// URL of the zipped bundle (lib/media-node-bundle.ts). */
  bundleUrl: string;
  region: string;
  /** The Elastic IP: announced in ICE candidates, and the self-signed certificate's subject. */
  announcedAddress: string;
  /** mediasoup workers are one per vCPU, at most this many (each needs its own UDP and TCP port). */
  maxWorkers: number;
  /** Secrets Manager secret with the control HMAC key, written to the environment file at boot. */
  controlSecretArn: string;
  /** Port of the voice socket; its `GET /health` decides the boot's success. */
  voicePort: number;
  environment: Record<string, string>;
  tls: VoiceTls;
  /** The CloudFormation resource whose CreationPolicy waits for this boot's signal. */
  signal: { stackName: string; logicalId: string };
  /** How long the node may take from its start to a healthy voice socket before the boot fails. */
  healthTimeoutSeconds: number;
  /** Commands run before the certificate is obtained (the on-demand node publishes its DNS record here). */
  beforeTls?: string[];
}

/**
 * Where things live on the instance. The script names them only through these shell variables (set in
 * its first lines), so a test can run it in a scratch root.
 */
export const MEDIA_NODE_PATHS = {
  ZC_HOME: '/opt/zavodchat',
  ZC_ETC: '/etc/zavodchat',
  ZC_UNITS: '/etc/systemd/system',
  ZC_LETSENCRYPT: '/etc/letsencrypt',
} as const;

export const MEDIA_SERVICE = 'zavodchat-media';
export const CERTIFICATE_SERVICE = 'zavodchat-certificate';

/** Amazon Linux 2023 ships Node.js 22 as its own package: no NodeSource, no download from nodejs.org. */
const NODE_MAJOR = 22;

/** A shell word for a literal that may contain CloudFormation tokens (rendered later, never quotes). */
const quote = (value: string): string => `'${value.replace(/'/g, `'\\''`)}'`;

/** A file written verbatim. */
function file(path: string, lines: string[]): string[] {
  return [`cat > ${path} <<'ZAVODCHAT_EOF'`, ...lines, 'ZAVODCHAT_EOF'];
}

/** A systemd unit: the $ZC_* paths are filled in as it is written (write other `$` as `\\$`). */
function unit(path: string, lines: string[]): string[] {
  return [`cat > ${path} <<ZAVODCHAT_EOF`, ...lines, 'ZAVODCHAT_EOF'];
}

/** A helper script: verbatim body after the path variables of this boot, so it runs the same later. */
function script(path: string, lines: string[]): string[] {
  const names = Object.keys(MEDIA_NODE_PATHS).join(' ');
  return [`{ echo '#!/bin/bash'; declare -p ${names}; cat <<'ZAVODCHAT_EOF'`, ...lines, 'ZAVODCHAT_EOF', `} > ${path}`, `chmod 0755 ${path}`];
}

/** The Let's Encrypt part: hooks, the retrying obtain-or-renew service, its daily timer, and the restore. */
function letsEncryptCommands(tls: Extract<VoiceTls, { kind: 'letsencrypt' }>, region: string): string[] {
  const challenge =
    tls.challenge.kind === 'dns-route53'
      ? '--manual --preferred-challenges dns --manual-auth-hook "$ZC_HOME/acme-dns-route53.sh UPSERT" --manual-cleanup-hook "$ZC_HOME/acme-dns-route53.sh DELETE"'
      : '--standalone --preferred-challenges http';
  const dnsHook =
    tls.challenge.kind === 'dns-route53'
      ? [
          ...script('"$ZC_HOME/acme-dns-route53.sh"', [
            "# certbot's manual hook: writes (UPSERT) or removes (DELETE) _acme-challenge.<host> TXT in the stack's hosted",
            '# zone and waits until Route 53 has it on all its name servers. The instance role may change only that record.',
            'set -euo pipefail',
            'action=$1',
            'batch=$(printf \'{"Changes":[{"Action":"%s","ResourceRecordSet":{"Name":"_acme-challenge.%s.","Type":"TXT","TTL":30,"ResourceRecords":[{"Value":"\\\\"%s\\\\""}]}}]}\' "$action" "$CERTBOT_DOMAIN" "$CERTBOT_VALIDATION")',
            `change=$(aws route53 change-resource-record-sets --hosted-zone-id ${quote(tls.challenge.hostedZoneId)} --change-batch "$batch" --query ChangeInfo.Id --output text)`,
            'if [ "$action" = UPSERT ]; then aws route53 wait resource-record-sets-changed --id "$change"; fi',
          ]),
        ]
      : [];
  const secret = quote(tls.certificateSecretArn);
  return [
    'zc_step "restoring the voice certificate"',
    'install -d -m 0700 "$ZC_LETSENCRYPT"',
    // SecretBinary is None until a first certificate was saved (the secret is created with a random string).
    `stored=$(aws secretsmanager get-secret-value --region ${quote(region)} --secret-id ${secret} --query SecretBinary --output text)`,
    'if [ -n "$stored" ] && [ "$stored" != None ]; then printf \'%s\' "$stored" | base64 -d | tar -xz -C "$ZC_LETSENCRYPT"; echo "zavodchat: restored the saved certificates"; fi',
    'unset stored',
    ...dnsHook,
    ...script(
      '"$ZC_HOME/certificate-installed.sh"',
      [
        '# certbot deploy hook: hand the new certificate to the node, then save certbot\'s directory so a',
        '# replacement instance reuses it (Let\'s Encrypt allows 5 duplicate certificates a week).',
        'set -euo pipefail',
        `lineage=\${RENEWED_LINEAGE:-$ZC_LETSENCRYPT/live/${tls.host}}`,
        'install -m 0644 "$lineage/fullchain.pem" "$ZC_ETC/tls/fullchain.pem"',
        'install -m 0600 "$lineage/privkey.pem" "$ZC_ETC/tls/privkey.pem"',
        'chown zavodchat "$ZC_ETC/tls/fullchain.pem" "$ZC_ETC/tls/privkey.pem"',
        'archive=$(mktemp)',
        'tar -cz -C "$ZC_LETSENCRYPT" . > "$archive"',
        `aws secretsmanager put-secret-value --region ${quote(region)} --secret-id ${secret} --secret-binary "fileb://$archive" --query VersionId --output text`,
        'rm -f "$archive"',
        // The node reloads its certificate on SIGHUP: calls in progress stay up.
        `systemctl reload ${MEDIA_SERVICE} || true`,
      ],
    ),
    ...script(
      '"$ZC_HOME/certificate.sh"',
      [
        '# Obtains the certificate, or renews it when it is within 30 days of expiry (--keep-until-expiring).',
        'set -euo pipefail',
        'export PATH=/opt/certbot/bin:/opt/aws/bin:$PATH',
        "# certbot is not packaged for Amazon Linux 2023; its documented install there is pip in a venv.",
        '[ -x /opt/certbot/bin/certbot ] || { python3 -m venv /opt/certbot && /opt/certbot/bin/pip install --quiet certbot; }',
        `certbot certonly --non-interactive --agree-tos --register-unsafely-without-email --keep-until-expiring --config-dir "$ZC_LETSENCRYPT" --cert-name ${tls.host} -d ${tls.host} ${challenge} --deploy-hook "$ZC_HOME/certificate-installed.sh"`,
      ],
    ),
    ...unit(
      `"$ZC_UNITS/${CERTIFICATE_SERVICE}.service"`,
      [
        '[Unit]',
        "Description=Obtain or renew the voice socket certificate (Let's Encrypt), retried until it succeeds",
        'Wants=network-online.target',
        'After=network-online.target',
        'StartLimitIntervalSec=0',
        '[Service]',
        'Type=oneshot',
        'ExecStart=$ZC_HOME/certificate.sh',
        '# A DNS record still propagating or a rate limit: try again later, for as long as it takes.',
        'Restart=on-failure',
        'RestartSec=15min',
      ],
    ),
    ...file(`"$ZC_UNITS/${CERTIFICATE_SERVICE}.timer"`, [
      '[Unit]',
      'Description=Renew the voice socket certificate when due (checked daily)',
      '[Timer]',
      'OnCalendar=daily',
      'RandomizedDelaySec=3h',
      'Persistent=true',
      '[Install]',
      'WantedBy=timers.target',
    ]),
    // Serve at once: the restored certificate, or a self-signed one for the host until Let's Encrypt answers.
    `if [ -s "$ZC_LETSENCRYPT/live/${tls.host}/fullchain.pem" ]; then`,
    `  install -m 0644 "$ZC_LETSENCRYPT/live/${tls.host}/fullchain.pem" "$ZC_ETC/tls/fullchain.pem"`,
    `  install -m 0600 "$ZC_LETSENCRYPT/live/${tls.host}/privkey.pem" "$ZC_ETC/tls/privkey.pem"`,
    'else',
    `  openssl req -x509 -newkey rsa:2048 -nodes -days 30 -subj "/CN=${tls.host}" -addext "subjectAltName=DNS:${tls.host}" -keyout "$ZC_ETC/tls/privkey.pem" -out "$ZC_ETC/tls/fullchain.pem" 2>/dev/null`,
    'fi',
  ];
}

/**
 * First-boot script of the media node (Amazon Linux 2023). In order: packages (Node.js 22 from the
 * distribution, cfn-signal), the bundle from S3, `npm ci` of mediasoup alone, a check that its worker
 * exists, the environment file (with the control secret, never echoed: no `set -x` anywhere), the
 * certificate, the service, and then a wait for `GET /health` on the voice socket. Only a healthy node
 * signals success to CloudFormation; any failure signals failure with the step that failed, so
 * `cdk deploy` fails instead of reporting a node that never came up.
 */
export function mediaNodeUserData(props: MediaNodeUserDataProps): ec2.UserData {
  const environment: Record<string, string> = {
    ...props.environment,
    VC_PORT: String(props.voicePort),
    ANNOUNCED_ADDRESS: props.announcedAddress,
    // WebRTC sockets must listen on the instance's interface; clients reach it at the announced address.
    RTC_LISTEN_IP: '0.0.0.0',
    NODE_ENV: 'production',
  };
  const region = quote(props.region);
  const packages = [`nodejs${NODE_MAJOR}`, `nodejs${NODE_MAJOR}-npm`, 'unzip', 'tar', 'openssl', 'aws-cfn-bootstrap',
    // mediasoup's install builds its worker from source where its prebuilt download does not fit the host.
    'make', 'gcc-c++', 'python3-pip'];
  const userData = ec2.UserData.forLinux();
  userData.addCommands(
    '# ZavodChat media node, first boot. Never `set -x`: this log is readable in the console and cloud-init output.',
    'set -euo pipefail',
    ...Object.entries(MEDIA_NODE_PATHS).map(([name, value]) => `${name}=${value}`),
    'export PATH="$ZC_HOME/bin:/opt/aws/bin:$PATH"',
    `zc_signal() { cfn-signal --stack ${quote(props.signal.stackName)} --resource ${quote(props.signal.logicalId)} --region ${region} --exit-code "$1" --reason "$2" || echo "zavodchat: cfn-signal failed" >&2; }`,
    'zc_fail() { trap - ERR; echo "zavodchat: boot failed: $1" >&2; zc_signal 1 "$1"; exit 1; }',
    'zc_step() { ZC_STEP=$1; echo "zavodchat: $1"; }',
    'trap \'zc_fail "$ZC_STEP failed (exit $?); the boot log is in /var/log/cloud-init-output.log"\' ERR',

    'zc_step "installing packages"',
    `dnf install -y ${packages.join(' ')}`,
    'install -d -m 0755 "$ZC_HOME/bin" "$ZC_ETC" "$ZC_ETC/tls" "$ZC_UNITS"',
    // The distribution installs versioned binaries (node-22); plain names go first on PATH.
    `ln -sf "$(command -v node-${NODE_MAJOR} || command -v node)" "$ZC_HOME/bin/node"`,
    `ln -sf "$(command -v npm-${NODE_MAJOR} || command -v npm)" "$ZC_HOME/bin/npm"`,
    'id zavodchat >/dev/null 2>&1 || useradd --system --home-dir "$ZC_HOME" --shell /sbin/nologin zavodchat',

    'zc_step "downloading the media node bundle"',
    `aws s3 cp --only-show-errors --region ${region} ${quote(props.bundleUrl)} "$ZC_HOME/bundle.zip"`,
    'rm -rf "$ZC_HOME/app"',
    'unzip -q "$ZC_HOME/bundle.zip" -d "$ZC_HOME/app"',
    'zc_step "installing mediasoup (npm ci of the bundle\'s own lockfile)"',
    '(cd "$ZC_HOME/app" && npm ci --omit=dev --no-audit --no-fund)',
    'zc_step "checking the mediasoup worker"',
    // mediasoup's own override (MEDIASOUP_WORKER_BIN) is honoured, as mediasoup itself does.
    'worker=${MEDIASOUP_WORKER_BIN:-$ZC_HOME/app/node_modules/mediasoup/worker/out/Release/mediasoup-worker}',
    'if [ ! -x "$worker" ]; then zc_fail "the mediasoup worker is missing ($worker): its install could neither download a prebuilt worker nor build one; see /var/log/cloud-init-output.log"; fi',
    'chown -R zavodchat "$ZC_HOME/app"',

    'zc_step "writing the environment file"',
    // Created unreadable to others before anything is written into it.
    'umask 027',
    `printf '%s\\n' ${Object.entries(environment).map(([name, value]) => quote(`${name}=${value}`)).join(' ')} > "$ZC_ETC/media-node.env"`,
    'printf \'TLS_CERT=%s\\nTLS_KEY=%s\\n\' "$ZC_ETC/tls/fullchain.pem" "$ZC_ETC/tls/privkey.pem" >> "$ZC_ETC/media-node.env"',
    `echo "MEDIA_WORKERS=$(( $(nproc) < ${props.maxWorkers} ? $(nproc) : ${props.maxWorkers} ))" >> "$ZC_ETC/media-node.env"`,
    'zc_step "reading the control secret"',
    // Read with the instance role, straight into the file: it is in no template, user data, log or process list.
    `secret=$(aws secretsmanager get-secret-value --region ${region} --secret-id ${quote(props.controlSecretArn)} --query SecretString --output text)`,
    'printf \'MEDIA_CONTROL_SECRET=%s\\n\' "$secret" >> "$ZC_ETC/media-node.env"',
    'unset secret',
    'chgrp zavodchat "$ZC_ETC/media-node.env"',
    'chmod 0640 "$ZC_ETC/media-node.env"',
    'umask 022',

    ...(props.beforeTls ?? []),
    ...(props.tls.kind === 'self-signed'
      ? [
          'zc_step "creating the self-signed certificate"',
          `openssl req -x509 -newkey rsa:2048 -nodes -days 825 -subj "/CN=${props.announcedAddress}" -addext "subjectAltName=IP:${props.announcedAddress}" -keyout "$ZC_ETC/tls/privkey.pem" -out "$ZC_ETC/tls/fullchain.pem" 2>/dev/null`,
        ]
      : letsEncryptCommands(props.tls, props.region)),
    'chown zavodchat "$ZC_ETC/tls/privkey.pem" "$ZC_ETC/tls/fullchain.pem"',
    'chmod 0600 "$ZC_ETC/tls/privkey.pem"',

    'zc_step "starting the media node"',
    ...unit(
      `"$ZC_UNITS/${MEDIA_SERVICE}.service"`,
      [
        '[Unit]',
        'Description=ZavodChat media node (voice socket and mediasoup)',
        'After=network-online.target',
        'Wants=network-online.target',
        '[Service]',
        'User=zavodchat',
        'WorkingDirectory=$ZC_HOME/app',
        'EnvironmentFile=$ZC_ETC/media-node.env',
        `ExecStart=$ZC_HOME/bin/node $ZC_HOME/app/${MEDIA_NODE_BUNDLE_FILE}`,
        '# SIGHUP: reload the TLS certificate (after a renewal) without ending calls.',
        'ExecReload=/bin/kill -HUP \\$MAINPID',
        '# SIGTERM: close every call announcing the departures, then exit.',
        'TimeoutStopSec=30',
        '# The voice port may be below 1024.',
        'AmbientCapabilities=CAP_NET_BIND_SERVICE',
        'LimitNOFILE=65536',
        'Restart=always',
        'RestartSec=5',
        '[Install]',
        'WantedBy=multi-user.target',
      ],
    ),
    'systemctl daemon-reload',
    `systemctl enable --now ${MEDIA_SERVICE}`,
    ...(props.tls.kind === 'letsencrypt'
      ? [`systemctl enable ${CERTIFICATE_SERVICE}.timer`, `systemctl start --no-block ${CERTIFICATE_SERVICE}.service ${CERTIFICATE_SERVICE}.timer`]
      : []),

    'zc_step "waiting for the voice socket\'s health endpoint"',
    `deadline=$(( SECONDS + ${props.healthTimeoutSeconds} ))`,
    `until curl -fsS -k --max-time 5 -o /dev/null https://127.0.0.1:${props.voicePort}/health; do`,
    `  restarts=$(systemctl show --property NRestarts --value ${MEDIA_SERVICE} || echo 0)`,
    `  if [ "\${restarts:-0}" -ge 3 ]; then zc_fail "the media node exited $restarts times: $(journalctl -u ${MEDIA_SERVICE} -n 3 --no-pager -o cat | tr '\\n' ' ' | cut -c1-400)"; fi`,
    `  if [ "$SECONDS" -ge "$deadline" ]; then zc_fail "the media node did not answer https://127.0.0.1:${props.voicePort}/health within ${props.healthTimeoutSeconds} s (journalctl -u ${MEDIA_SERVICE})"; fi`,
    '  sleep 2',
    'done',
    'trap - ERR',
    'zc_signal 0 "media node healthy"',
    'echo "zavodchat: media node healthy"',
  );
  return userData;
}
