// OpenSSH host certificates (PROTOCOL.certkeys), checked as ssh checks them against `@cert-authority`
// lines (sshconnect.c `check_host_key` / `check_host_cert`, sshkey.c `sshkey_cert_check_authority`):
// signed by a CA that known_hosts trusts for the host and does not revoke, a host certificate, valid
// now, naming the host among its principals, with no critical option. ssh2 hands the whole certificate
// to the host verifier once it has checked the key exchange with the key inside (scripts/patch-ssh2.js).
import { createPublicKey, verify } from 'node:crypto';
import { OPENSSH_DEFAULT_CA_SIGNATURE_ALGORITHMS } from './algorithm-lists.ts';
import type { KnownHostKey, KnownHostsLookup } from './known-hosts.ts';

export const CERT_SUFFIX = '-cert-v01@openssh.com';

/** SSH2_CERT_TYPE_HOST. */
const HOST_CERT = 2;

export interface HostCertificate {
  /** The certificate's type, e.g. `ssh-ed25519-cert-v01@openssh.com`. */
  type: string;
  /** The certified key as a plain public key blob (`ssh-ed25519` …): what @revoked lines name. */
  publicBlob: Buffer;
  serial: bigint;
  certType: number;
  keyId: string;
  principals: string[];
  /** Seconds since the epoch; validBefore 2^64-1 is "forever". */
  validAfter: bigint;
  validBefore: bigint;
  criticalOptions: string[];
  /** The CA's public key blob. */
  signatureKey: Buffer;
  /** The signed bytes: everything before the signature field. */
  signed: Buffer;
  signature: Buffer;
}

/** Reads SSH wire fields (RFC 4251 §5) from a buffer; every read past the end throws. */
class WireReader {
  private offset = 0;

  constructor(private readonly buffer: Buffer) {}

  get position(): number {
    return this.offset;
  }

  get done(): boolean {
    return this.offset === this.buffer.length;
  }

  string(): Buffer {
    const length = this.uint32();
    if (this.offset + length > this.buffer.length) throw new Error('truncated');
    const value = this.buffer.subarray(this.offset, this.offset + length);
    this.offset += length;
    return value;
  }

  uint32(): number {
    if (this.offset + 4 > this.buffer.length) throw new Error('truncated');
    const value = this.buffer.readUInt32BE(this.offset);
    this.offset += 4;
    return value;
  }

  uint64(): bigint {
    if (this.offset + 8 > this.buffer.length) throw new Error('truncated');
    const value = this.buffer.readBigUInt64BE(this.offset);
    this.offset += 8;
    return value;
  }
}

/** An SSH string field. */
function wireString(value: Buffer | string): Buffer {
  const bytes = typeof value === 'string' ? Buffer.from(value, 'latin1') : value;
  const length = Buffer.alloc(4);
  length.writeUInt32BE(bytes.length);
  return Buffer.concat([length, bytes]);
}

/** A list of strings packed in one string field (principals; option and extension names with their data). */
function stringList(field: Buffer, withData: boolean): string[] {
  const reader = new WireReader(field);
  const names: string[] = [];
  while (!reader.done) {
    names.push(reader.string().toString('utf8'));
    if (withData) reader.string();
  }
  return names;
}

/** The plain key type inside a certificate type, and how many key fields follow the nonce. */
const CERTIFIED_KEYS: Record<string, { plain: string; fields: number }> = {
  [`ssh-ed25519${CERT_SUFFIX}`]: { plain: 'ssh-ed25519', fields: 1 },
  [`ssh-rsa${CERT_SUFFIX}`]: { plain: 'ssh-rsa', fields: 2 },
  [`ecdsa-sha2-nistp256${CERT_SUFFIX}`]: { plain: 'ecdsa-sha2-nistp256', fields: 2 },
  [`ecdsa-sha2-nistp384${CERT_SUFFIX}`]: { plain: 'ecdsa-sha2-nistp384', fields: 2 },
  [`ecdsa-sha2-nistp521${CERT_SUFFIX}`]: { plain: 'ecdsa-sha2-nistp521', fields: 2 },
};

/** Parses an OpenSSH certificate blob; an Error says why it is not one this client reads. */
export function parseHostCertificate(blob: Buffer): HostCertificate | Error {
  try {
    const reader = new WireReader(blob);
    const type = reader.string().toString('latin1');
    const certified = CERTIFIED_KEYS[type];
    if (certified === undefined) return new Error(`unsupported certificate type ${type}`);
    reader.string(); // nonce
    const keyFields = Array.from({ length: certified.fields }, () => reader.string());
    const publicBlob = Buffer.concat([wireString(certified.plain), ...keyFields.map(wireString)]);
    const serial = reader.uint64();
    const certType = reader.uint32();
    const keyId = reader.string().toString('utf8');
    const principals = stringList(reader.string(), false);
    const validAfter = reader.uint64();
    const validBefore = reader.uint64();
    const criticalOptions = stringList(reader.string(), true);
    stringList(reader.string(), true); // extensions: none is defined for host certificates
    reader.string(); // reserved
    const signatureKey = reader.string();
    const signedLength = reader.position;
    const signature = reader.string();
    if (!reader.done) return new Error('trailing data after the certificate');
    return { type, publicBlob, serial, certType, keyId, principals, validAfter, validBefore, criticalOptions, signatureKey, signed: blob.subarray(0, signedLength), signature };
  } catch {
    return new Error('malformed certificate');
  }
}

/** Converts an SSH public key blob into a Node key (SPKI DER built by hand only for what Node cannot read as JWK). */
function nodePublicKey(blob: Buffer) {
  const reader = new WireReader(blob);
  const type = reader.string().toString('latin1');
  const b64url = (value: Buffer) => value.toString('base64url');
  /** An mpint without its sign byte. */
  const unsigned = (value: Buffer) => (value[0] === 0 ? value.subarray(1) : value);
  switch (type) {
    case 'ssh-ed25519':
      return createPublicKey({ key: { kty: 'OKP', crv: 'Ed25519', x: b64url(reader.string()) }, format: 'jwk' });
    case 'ssh-rsa': {
      const e = unsigned(reader.string());
      const n = unsigned(reader.string());
      return createPublicKey({ key: { kty: 'RSA', e: b64url(e), n: b64url(n) }, format: 'jwk' });
    }
    case 'ecdsa-sha2-nistp256':
    case 'ecdsa-sha2-nistp384':
    case 'ecdsa-sha2-nistp521': {
      reader.string(); // the curve's name again
      const point = reader.string();
      const size = (point.length - 1) / 2;
      const crv = { 'ecdsa-sha2-nistp256': 'P-256', 'ecdsa-sha2-nistp384': 'P-384', 'ecdsa-sha2-nistp521': 'P-521' }[type];
      if (point[0] !== 4) throw new Error('compressed EC point');
      return createPublicKey({ key: { kty: 'EC', crv, x: b64url(point.subarray(1, 1 + size)), y: b64url(point.subarray(1 + size)) }, format: 'jwk' });
    }
    default:
      throw new Error(`unsupported CA key type ${type}`);
  }
}

/** The hash of an SSH signature type (null: the key's own, Ed25519). */
const SIGNATURE_HASHES: Record<string, string | null> = {
  'ssh-ed25519': null,
  'ssh-rsa': 'sha1',
  'rsa-sha2-512': 'sha512',
  'rsa-sha2-256': 'sha256',
  'ecdsa-sha2-nistp256': 'sha256',
  'ecdsa-sha2-nistp384': 'sha384',
  'ecdsa-sha2-nistp521': 'sha512',
};

/** SSH_RSA_MINIMUM_MODULUS_SIZE: OpenSSH refuses smaller RSA keys (a host key, a CA, a known_hosts line). */
export const RSA_MINIMUM_BITS = 1024;

/** The size of an `ssh-rsa` public key blob's modulus in bits; undefined for another key type. */
export function rsaKeyBits(blob: Buffer): number | undefined {
  try {
    if (new WireReader(blob).string().toString('latin1') !== 'ssh-rsa') return undefined;
    return nodePublicKey(blob).asymmetricKeyDetails?.modulusLength ?? 0;
  } catch {
    return 0;
  }
}

/** Whether an SSH public key blob is an RSA key shorter than OpenSSH accepts. */
export function weakRsaKey(blob: Buffer): boolean {
  const bits = rsaKeyBits(blob);
  return bits !== undefined && bits < RSA_MINIMUM_BITS;
}

/**
 * Whether the CA's signature over the certificate holds, made with an algorithm among `allowed`
 * (CASignatureAlgorithms: OpenSSH's default leaves SHA-1 `ssh-rsa` out) by a key of a size OpenSSH accepts.
 */
export function certificateSignatureValid(cert: HostCertificate, allowed: readonly string[] = OPENSSH_DEFAULT_CA_SIGNATURE_ALGORITHMS): boolean {
  try {
    const reader = new WireReader(cert.signature);
    const type = reader.string().toString('latin1');
    const value = reader.string();
    if (!reader.done) return false;
    if (!(type in SIGNATURE_HASHES) || !allowed.includes(type)) return false;
    const caType = new WireReader(cert.signatureKey).string().toString('latin1');
    if (caType !== (type.startsWith('rsa-sha2-') || type === 'ssh-rsa' ? 'ssh-rsa' : type)) return false;
    const key = nodePublicKey(cert.signatureKey);
    if (key.asymmetricKeyType === 'rsa' && (key.asymmetricKeyDetails?.modulusLength ?? 0) < RSA_MINIMUM_BITS) return false;
    if (type.startsWith('ecdsa-')) {
      // (mpint r, mpint s) → DER, which is what Node verifies by default.
      const rs = new WireReader(value);
      const integer = (mpint: Buffer) => Buffer.concat([Buffer.from([0x02, mpint.length]), mpint]);
      const body = Buffer.concat([integer(rs.string()), integer(rs.string())]);
      if (!rs.done) return false;
      const der = Buffer.concat([body.length < 128 ? Buffer.from([0x30, body.length]) : Buffer.from([0x30, 0x81, body.length]), body]);
      return verify(SIGNATURE_HASHES[type], cert.signed, key, der);
    }
    return verify(SIGNATURE_HASHES[type], cert.signed, key, value);
  } catch {
    return false;
  }
}

/** The verdict on a presented certificate: trusted through a CA line, or why not. */
export type CertificateCheck =
  | { status: 'trusted'; entry: KnownHostKey }
  | { status: 'revoked'; what: 'certificate key' | 'certificate authority' }
  /** No @cert-authority line for the host holds the CA that signed it: ssh then checks the plain key. */
  | { status: 'no-authority' }
  | { status: 'invalid'; reason: string; entry: KnownHostKey };

/**
 * Checks a host certificate for `principal` (HostKeyAlias, else the host name without the port, as
 * ssh's check_host_cert) at `now` (seconds), its CA's signature made with one of `signatureAlgorithms`.
 * The lookup's revoked keys are plain keys (a revoked certificate stands for the key in it). The
 * certified key's own size is the caller's to check first (host-key.ts: any presented RSA key).
 */
export function checkHostCertificate(lookup: KnownHostsLookup, cert: HostCertificate, options: { principal: string; now: bigint; signatureAlgorithms: readonly string[] }): CertificateCheck {
  const { principal, now } = options;
  if (lookup.revoked.some((blob) => blob.equals(cert.publicBlob))) return { status: 'revoked', what: 'certificate key' };
  if (lookup.revoked.some((blob) => blob.equals(cert.signatureKey))) return { status: 'revoked', what: 'certificate authority' };
  const entry = lookup.certAuthorities.find((ca) => ca.blob.equals(cert.signatureKey));
  if (entry === undefined) return { status: 'no-authority' };
  const invalid = (reason: string): CertificateCheck => ({ status: 'invalid', reason, entry });
  if (!certificateSignatureValid(cert, options.signatureAlgorithms)) return invalid('its signature does not verify with an allowed algorithm (CASignatureAlgorithms) and key size');
  if (cert.certType !== HOST_CERT) return invalid('it is not a host certificate');
  if (now < cert.validAfter) return invalid('it is not yet valid');
  if (now >= cert.validBefore) return invalid('it has expired');
  if (cert.principals.length > 0 && !cert.principals.includes(principal)) {
    return invalid(`its principals (${cert.principals.join(', ')}) do not include ${principal}`);
  }
  if (cert.criticalOptions.length > 0) return invalid(`it has unsupported critical options (${cert.criticalOptions.join(', ')})`);
  return { status: 'trusted', entry };
}
