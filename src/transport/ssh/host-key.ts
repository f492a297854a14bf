// The host key check of one connection, as OpenSSH does it with StrictHostKeyChecking=yes: offer the
// key types known_hosts holds for the host first, accept only a known key, refuse a revoked one, and
// say what to do in words that never teach deleting a real warning.
import { shellJoin, shellQuote } from '../shell.ts';
import { HostKeyError } from './errors.ts';
import { CERT_SUFFIX, checkHostCertificate, parseHostCertificate, RSA_MINIMUM_BITS, rsaKeyBits, type HostCertificate } from './host-certificate.ts';
import { OPENSSH_DEFAULT_CA_SIGNATURE_ALGORITHMS } from './algorithm-lists.ts';
import { blobType, checkHostKey, hostKeyAlgorithmsFor, knownHostsName, readKnownHosts, SSH2_HOST_KEY_ALGORITHMS, type HostKeyCheck, type KnownHostsFiles, type KnownHostsLookup } from './known-hosts.ts';

/** Where a host key is looked up. */
export interface HostKeyTarget {
  hostname: string;
  port: number;
  hostKeyAlias: string | undefined;
  /** User files, then global ones. */
  knownHostsFiles: string[];
  /** Where a new line belongs (the first UserKnownHostsFile). */
  userKnownHostsFile: string;
  /** The jump host this one is reached through, if any: ssh-keyscan must run there. */
  reachedVia?: string;
  /** HostKeyAlgorithms when configured (see SshSettings.hostKeyAlgorithms). */
  hostKeyAlgorithms?: { list: string[]; orderByKnownHosts: boolean };
  /** CASignatureAlgorithms (default OpenSSH's). */
  caSignatureAlgorithms?: readonly string[];
}


/** The command that adds the host's current keys to known_hosts, under the name they are looked up by. */
export function keyscanCommand(target: Omit<HostKeyTarget, 'knownHostsFiles'>): string {
  const keyscan = shellJoin(['ssh-keyscan', ...(target.port === 22 ? [] : ['-p', String(target.port)]), target.hostname]);
  // Behind a jump host the host may be reachable from there only: scan from there.
  const scan = target.reachedVia === undefined ? keyscan : shellJoin(['ssh', target.reachedVia, keyscan]);
  // ssh-keyscan names the keys `[host]:port`; with HostKeyAlias they must be filed under the alias.
  const rename = target.hostKeyAlias === undefined ? '' : ` | sed ${shellQuote(`s/^[^ ]*/${target.hostKeyAlias}/`)}`;
  return `${scan}${rename} >> ${shellQuote(target.userKnownHostsFile)}`;
}

/** A verdict on a presented key or certificate. */
export type HostKeyVerdict =
  | HostKeyCheck
  /** A certificate, key or CA on an @revoked line. */
  | { status: 'revoked'; what: 'certificate key' | 'certificate authority' }
  /** A certificate that cannot be read, or from a trusted CA (`entry`) but not valid for this host now. */
  | { status: 'bad-certificate'; reason: string; entry?: { file: string; line: number } }
  /** An RSA host key (or certified key) shorter than OpenSSH accepts. */
  | { status: 'weak-key'; bits: number };

/**
 * The one line a refused host key fails with. `certAuthority`: a `@cert-authority` line that covers the
 * host, named when the host presented a plain key it cannot vouch for.
 */
export function hostKeyMessage(
  target: Omit<HostKeyTarget, 'knownHostsFiles'>,
  verdict: Exclude<HostKeyVerdict, { status: 'trusted' }>,
  presentedType: string,
  certAuthority?: { file: string; line: number },
): string {
  const name = knownHostsName(target);
  switch (verdict.status) {
    case 'unknown':
      if (certAuthority) {
        const presented = presentedType.endsWith(CERT_SUFFIX) ? `a certificate (${presentedType}) signed by another CA` : `a plain ${presentedType} key`;
        return (
          `host key of ${name} is unknown: ${certAuthority.file} line ${certAuthority.line} trusts a certificate authority for it, but the host ` +
          `presented ${presented}; give the host a certificate from that CA (sshd's HostCertificate), or check its plain key, then trust it ` +
          `with: ${keyscanCommand(target)}`
        );
      }
      return `host key of ${name} is unknown: check it, then trust it with: ${keyscanCommand(target)}`;
    case 'revoked':
      if ('what' in verdict) return `host certificate of ${name} (${presentedType}): its ${verdict.what} is marked @revoked in known_hosts: refusing to connect`;
      return `host key of ${name} (${presentedType}) is marked @revoked in known_hosts: refusing to connect`;
    case 'weak-key':
      return `host key of ${name} is a ${verdict.bits}-bit RSA key: OpenSSH refuses RSA keys under ${RSA_MINIMUM_BITS} bits, and so does this client`;
    case 'bad-certificate': {
      const trusted = verdict.entry ? ` (its CA is trusted by ${verdict.entry.file} line ${verdict.entry.line})` : '';
      return `host certificate of ${name} (${presentedType}) is not valid: ${verdict.reason}${trusted}: refusing to connect`;
    }
    case 'changed':
      return (
        `host key of ${name} has CHANGED: it presented a ${presentedType} key that ${verdict.entry.file} line ${verdict.entry.line} ` +
        `does not hold (it holds a ${verdict.entry.type} key). This may be a man-in-the-middle attack: verify the new key out of band ` +
        `(e.g. ssh-keygen -lf on the host's console) before you change that line`
      );
  }
}

/** One connection's host key check: the algorithms to offer, the verifier, and what it saw. */
export class HostKeyCheckState {
  private readonly lookup: KnownHostsLookup;
  /**
   * On a port other than 22 (no HostKeyAlias), what known_hosts holds for the bare host name: ssh
   * looks there when nothing at all is known under `[host]:port` ("checking without port identifier").
   * Read only then (it stats every known_hosts file again), once.
   */
  private readonly withoutPort: () => KnownHostsLookup | undefined;
  private verdict: HostKeyVerdict | undefined;
  private presentedType = 'unknown';

  constructor(
    private readonly target: HostKeyTarget,
    knownHostsFiles: KnownHostsFiles,
    /** The clock certificates are checked against (ms since the epoch). */
    private readonly now: () => number = Date.now,
  ) {
    this.lookup = readKnownHosts(knownHostsFiles, target.knownHostsFiles, knownHostsName(target));
    const bare = target.hostKeyAlias === undefined && target.port !== 22;
    let read: KnownHostsLookup | undefined;
    this.withoutPort = () => (bare ? (read ??= readKnownHosts(knownHostsFiles, target.knownHostsFiles, target.hostname.toLowerCase())) : undefined);
  }

  /**
   * ssh2's `algorithms.serverHostKey`, as ssh_kex2 chooses them: the known types first (only those
   * under the name looked up: `[host]:port`), among HostKeyAlgorithms when it is configured (those
   * ssh2 has); a `^` or plain HostKeyAlgorithms list is offered as written.
   */
  get algorithms(): string[] {
    const configured = this.target.hostKeyAlgorithms;
    if (configured === undefined) return hostKeyAlgorithmsFor(this.lookup);
    const usable = configured.list.filter((algorithm) => SSH2_HOST_KEY_ALGORITHMS.includes(algorithm));
    if (usable.length === 0) {
      throw new HostKeyError(`HostKeyAlgorithms for ${knownHostsName(this.target)} (${configured.list.join(',') || 'none'}) leaves none this client supports (${SSH2_HOST_KEY_ALGORITHMS.join(',')})`);
    }
    return configured.orderByKnownHosts ? hostKeyAlgorithmsFor(this.lookup, usable) : usable;
  }

  /** ssh2's `hostVerifier`: the raw key blob (or certificate) the server presented. */
  readonly verify = (blob: Buffer): boolean => {
    this.presentedType = blobType(blob) ?? 'unknown';
    // A certificate is parsed once, for both lookups.
    const cert = this.presentedType.endsWith(CERT_SUFFIX) ? parseHostCertificate(blob) : undefined;
    this.verdict = cert instanceof Error ? { status: 'bad-certificate', reason: cert.message } : this.checkKey(blob, cert);
    return this.verdict.status === 'trusted';
  };

  private checkKey(blob: Buffer, cert: HostCertificate | undefined): HostKeyVerdict {
    const bits = rsaKeyBits(cert?.publicBlob ?? blob);
    if (bits !== undefined && bits < RSA_MINIMUM_BITS) return { status: 'weak-key', bits };
    const check = (lookup: KnownHostsLookup) => (cert ? this.checkCertificate(lookup, cert) : checkHostKey(lookup, blob));
    const verdict = check(this.lookup);
    const withoutPort = verdict.status === 'unknown' ? this.withoutPort() : undefined;
    if (withoutPort === undefined) return verdict;
    const again = check(withoutPort);
    return again.status === 'trusted' ? again : verdict;
  }

  /**
   * As ssh (sshconnect.c check_host_key): a revoked certificate, key or CA is refused; a certificate
   * from a CA known_hosts trusts for the host is checked as a certificate; one that fails that check,
   * or comes from another CA, is no better than its plain key, which is then looked up as any host key.
   */
  private checkCertificate(lookup: KnownHostsLookup, cert: HostCertificate): HostKeyVerdict {
    const principal = this.target.hostKeyAlias ?? this.target.hostname.toLowerCase();
    const check = checkHostCertificate(lookup, cert, {
      principal,
      now: BigInt(Math.floor(this.now() / 1000)),
      signatureAlgorithms: this.target.caSignatureAlgorithms ?? OPENSSH_DEFAULT_CA_SIGNATURE_ALGORITHMS,
    });
    if (check.status === 'trusted') return check;
    if (check.status === 'revoked') return { status: 'revoked', what: check.what };
    const plain = checkHostKey(lookup, cert.publicBlob);
    if (plain.status === 'trusted' || plain.status === 'revoked') return plain;
    if (check.status === 'invalid') return plain.status === 'changed' ? plain : { status: 'bad-certificate', reason: check.reason, entry: check.entry };
    return plain;
  }

  /** The error to fail with when the presented key was refused; undefined when none was refused. */
  refusal(): HostKeyError | undefined {
    if (this.verdict === undefined || this.verdict.status === 'trusted') return undefined;
    return new HostKeyError(hostKeyMessage(this.target, this.verdict, this.presentedType, this.lookup.certAuthorities[0] ?? this.withoutPort()?.certAuthorities[0]));
  }
}
