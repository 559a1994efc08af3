import * as ec2 from 'aws-cdk-lib/aws-ec2';

/**
 * How the media node gets the certificate of its wss voice socket (browsers refuse plain ws from an https
 * page). With a custom domain: Let's Encrypt for voice.<parent>, renewed by a systemd timer. Without one:
 * a self-signed certificate for the Elastic IP, which each browser must accept once (testing only).
 */
export type VoiceTls = { kind: 'letsencrypt'; host: string } | { kind: 'self-signed' };

export interface MediaNodeUserDataProps {
  /** s3:// URL of the zipped repository subset. */
  sourceUrl: string;
  region: string;
  /** The Elastic IP: announced in ICE candidates, and the self-signed certificate's subject. */
  announcedAddress: string;
  /** mediasoup workers are one per vCPU, at most this many (each needs its own UDP and TCP port). */
  maxWorkers: number;
  /** Secrets Manager secret with the control HMAC key, appended to the environment file at boot. */
  controlSecretArn: string;
  environment: Record<string, string>;
  tls: VoiceTls;
  /** Commands run before the certificate is obtained (the on-demand node publishes its DNS record here). */
  beforeTls?: string[];
}

export const MEDIA_NODE_PATHS = {
  app: '/opt/zavodchat/app',
  bin: '/opt/zavodchat/bin',
  environmentFile: '/etc/zavodchat/media-node.env',
  tlsCertificate: '/etc/zavodchat/tls/fullchain.pem',
  tlsKey: '/etc/zavodchat/tls/privkey.pem',
  service: 'zavodchat-media',
} as const;

/** Amazon Linux 2023 ships Node.js 22 as its own package: no NodeSource, no download from nodejs.org. */
const NODE_MAJOR = 22;

const P = MEDIA_NODE_PATHS;

function file(path: string, lines: string[]): string[] {
  return [`cat > ${path} <<'ZAVODCHAT_EOF'`, ...lines, 'ZAVODCHAT_EOF'];
}

/** Copies the certificate where the unprivileged service can read it, then restarts the service. */
const INSTALL_CERTIFICATE = (source: string): string[] => [
  `install -m 0644 -o zavodchat ${source}/fullchain.pem ${P.tlsCertificate}`,
  `install -m 0600 -o zavodchat ${source}/privkey.pem ${P.tlsKey}`,
  `systemctl try-restart ${P.service}`,
];

function tlsCommands(tls: VoiceTls, address: string): string[] {
  if (tls.kind === 'self-signed') {
    return [
      `openssl req -x509 -newkey rsa:2048 -nodes -days 825 -subj "/CN=${address}" -addext "subjectAltName=IP:${address}" -keyout ${P.tlsKey} -out ${P.tlsCertificate}`,
      `chown zavodchat ${P.tlsKey} ${P.tlsCertificate}`,
      `chmod 0600 ${P.tlsKey}`,
    ];
  }
  const hook = '/opt/zavodchat/install-certificate.sh';
  return [
    // certbot is not packaged for Amazon Linux 2023; its documented install there is pip in a venv.
    'python3 -m venv /opt/certbot',
    '/opt/certbot/bin/pip install --quiet certbot',
    ...file(hook, ['#!/bin/bash', 'set -euo pipefail', ...INSTALL_CERTIFICATE('"$RENEWED_LINEAGE"')]),
    `chmod 0755 ${hook}`,
    // The Elastic IP and the DNS record may still be settling: retry for up to 30 minutes.
    'for attempt in $(seq 1 60); do',
    `  if /opt/certbot/bin/certbot certonly --standalone --non-interactive --agree-tos --register-unsafely-without-email -d ${tls.host} --deploy-hook ${hook}; then break; fi`,
    '  sleep 30',
    'done',
    `test -s ${P.tlsCertificate}`,
    ...file('/etc/systemd/system/zavodchat-certbot-renew.service', [
      '[Unit]',
      'Description=Renew the voice socket certificate',
      '[Service]',
      'Type=oneshot',
      '# The deploy hook saved in the renewal config copies the new certificate and restarts the media node.',
      'ExecStart=/opt/certbot/bin/certbot renew --quiet',
    ]),
    ...file('/etc/systemd/system/zavodchat-certbot-renew.timer', [
      '[Unit]',
      'Description=Renew the voice socket certificate daily',
      '[Timer]',
      'OnCalendar=daily',
      'RandomizedDelaySec=3h',
      'Persistent=true',
      '[Install]',
      'WantedBy=timers.target',
    ]),
    'systemctl daemon-reload',
    'systemctl enable --now zavodchat-certbot-renew.timer',
  ];
}

/**
 * First-boot script of the media node (Amazon Linux 2023): Node.js from the distribution, the source from
 * the S3 asset, `npm ci` (mediasoup's install fetches its prebuilt worker or builds it, hence the compiler),
 * the certificate, then media-node/main.ts under systemd as an unprivileged user, the way `npm start`
 * runs the local runtime (tsx).
 */
export function mediaNodeUserData(props: MediaNodeUserDataProps): ec2.UserData {
  const environment = {
    ...props.environment,
    ANNOUNCED_ADDRESS: props.announcedAddress,
    // WebRTC sockets must listen on the instance's interface; clients reach it at the announced address.
    RTC_LISTEN_IP: '0.0.0.0',
    TLS_CERT: P.tlsCertificate,
    TLS_KEY: P.tlsKey,
    NODE_ENV: 'production',
  };
  const userData = ec2.UserData.forLinux();
  userData.addCommands(
    'set -euxo pipefail',
    `dnf install -y nodejs${NODE_MAJOR} nodejs${NODE_MAJOR}-npm unzip make gcc-c++ python3-pip openssl`,
    // The distribution installs versioned binaries (node-22); put plain names first on PATH for npm scripts.
    `install -d ${P.bin} ${P.app} /etc/zavodchat/tls`,
    `ln -sf "$(command -v node-${NODE_MAJOR} || command -v node)" ${P.bin}/node`,
    `ln -sf "$(command -v npm-${NODE_MAJOR} || command -v npm)" ${P.bin}/npm`,
    `export PATH=${P.bin}:$PATH`,
    'useradd --system --home-dir /opt/zavodchat --shell /sbin/nologin zavodchat',
    `aws s3 cp --region ${props.region} ${props.sourceUrl} /opt/zavodchat/source.zip`,
    `unzip -q -o /opt/zavodchat/source.zip -d ${P.app}`,
    `cd ${P.app}`,
    'npm ci --no-audit --no-fund',
    `chown -R zavodchat ${P.app}`,
    ...file(
      P.environmentFile,
      Object.entries(environment).map(([name, value]) => `${name}=${value}`),
    ),
    `echo "MEDIA_WORKERS=$(( $(nproc) < ${props.maxWorkers} ? $(nproc) : ${props.maxWorkers} ))" >> ${P.environmentFile}`,
    // The secret is read with the instance role at boot, so it never appears in user data or templates.
    `echo "MEDIA_CONTROL_SECRET=$(aws secretsmanager get-secret-value --region ${props.region} --secret-id ${props.controlSecretArn} --query SecretString --output text)" >> ${P.environmentFile}`,
    `chmod 0640 ${P.environmentFile}`,
    `chgrp zavodchat ${P.environmentFile}`,
    ...file(`/etc/systemd/system/${P.service}.service`, [
      '[Unit]',
      'Description=ZavodChat media node (voice socket and mediasoup)',
      'After=network-online.target',
      'Wants=network-online.target',
      '[Service]',
      'User=zavodchat',
      `WorkingDirectory=${P.app}`,
      `EnvironmentFile=${P.environmentFile}`,
      `Environment=PATH=${P.bin}:/usr/bin:/bin`,
      `ExecStart=${P.app}/node_modules/.bin/tsx media-node/main.ts`,
      '# The voice port is below 1024.',
      'AmbientCapabilities=CAP_NET_BIND_SERVICE',
      'LimitNOFILE=65536',
      'Restart=always',
      'RestartSec=5',
      '[Install]',
      'WantedBy=multi-user.target',
    ]),
    ...(props.beforeTls ?? []),
    ...tlsCommands(props.tls, props.announcedAddress),
    'systemctl daemon-reload',
    `systemctl enable --now ${P.service}`,
  );
  return userData;
}
