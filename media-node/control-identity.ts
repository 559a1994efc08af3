import { createHash, generateKeyPairSync, randomBytes, sign } from 'node:crypto';

/**
 * The control endpoint's TLS identity: a self-signed certificate and its key, made in memory when the node
 * starts and never written anywhere. REST does not trust it through a CA: the node publishes the
 * certificate's SHA-256 in every voice state it writes (its control address, `#sha256=<hex>`), and REST
 * sends a command only to a peer presenting exactly that certificate (lambdas/domain/voice-control.ts).
 * A new process is a new identity; the states of the old one die with its calls.
 */
export interface ControlIdentity {
  /** PEM certificate (ECDSA P-256, self-signed). */
  cert: string;
  /** PEM PKCS#8 private key. */
  key: string;
  /** Lower-case hex SHA-256 of the certificate's DER: what REST pins. */
  fingerprint: string;
}

/*
 * node:crypto parses certificates but cannot make one. The alternatives were a runtime dependency bundled
 * into the node (@peculiar/x509 and its ASN.1 stack) or `openssl` at first boot (a key file on disk, and
 * not on every developer machine). The certificate below is X.509 v1 with no extensions, the smallest form
 * TLS accepts: the peer checks its hash, nothing else. Tests parse it with Node's X509Certificate and use it
 * in real TLS handshakes (test/unit/control-tls.test.ts).
 */

/** A DER element: tag, definite length, content. */
function der(tag: number, content: Buffer): Buffer {
  const length = content.length;
  const header =
    length < 0x80 ? [tag, length] : length < 0x100 ? [tag, 0x81, length] : [tag, 0x82, length >> 8, length & 0xff];
  return Buffer.concat([Buffer.from(header), content]);
}

const sequence = (...items: Buffer[]): Buffer => der(0x30, Buffer.concat(items));

function objectId(dotted: string): Buffer {
  const [first, second, ...rest] = dotted.split('.').map(Number);
  const bytes = [first * 40 + second];
  for (const arc of rest) {
    const groups = [arc & 0x7f];
    for (let value = arc >>> 7; value > 0; value >>>= 7) groups.unshift((value & 0x7f) | 0x80);
    bytes.push(...groups);
  }
  return der(0x06, Buffer.from(bytes));
}

/** UTCTime until 2049, GeneralizedTime after (RFC 5280, 4.1.2.5). */
function time(date: Date): Buffer {
  const iso = date.toISOString().replace(/[-:T]/g, '').replace(/\.\d{3}/, '');
  const year = date.getUTCFullYear();
  return year < 2050 ? der(0x17, Buffer.from(iso.slice(2), 'ascii')) : der(0x18, Buffer.from(iso, 'ascii'));
}

const ECDSA_WITH_SHA256 = sequence(objectId('1.2.840.10045.4.3.2'));
const COMMON_NAME = '2.5.4.3';
const VALIDITY_YEARS = 10;

export function createControlIdentity(now: Date = new Date()): ControlIdentity {
  const { publicKey, privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const name = sequence(der(0x31, sequence(objectId(COMMON_NAME), der(0x0c, Buffer.from('zavodchat media node control', 'utf8')))));
  // A positive serial of 16 random bytes whose first byte is neither 0 nor above 0x7f (DER, minimal form).
  const serial = randomBytes(16);
  serial[0] = (serial[0] & 0x3f) | 0x40;
  const notBefore = new Date(now.getTime() - 60 * 60 * 1000);
  const notAfter = new Date(now.getTime());
  notAfter.setUTCFullYear(notAfter.getUTCFullYear() + VALIDITY_YEARS);
  const tbs = sequence(
    der(0x02, serial),
    ECDSA_WITH_SHA256,
    name,
    sequence(time(notBefore), time(notAfter)),
    name,
    publicKey.export({ type: 'spki', format: 'der' }),
  );
  // node:crypto's ECDSA signature is the DER ECDSA-Sig-Value X.509 wants.
  const signature = sign('sha256', tbs, privateKey);
  const certificate = sequence(tbs, ECDSA_WITH_SHA256, der(0x03, Buffer.concat([Buffer.from([0]), signature])));
  const base64 = certificate.toString('base64').replace(/.{64}/g, '$&\n');
  return {
    cert: `-----BEGIN CERTIFICATE-----\n${base64}${base64.endsWith('\n') ? '' : '\n'}-----END CERTIFICATE-----\n`,
    key: privateKey.export({ type: 'pkcs8', format: 'pem' }) as string,
    fingerprint: createHash('sha256').update(certificate).digest('hex'),
  };
}
