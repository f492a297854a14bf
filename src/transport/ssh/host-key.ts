// The host key check of one connection, as OpenSSH does it with StrictHostKeyChecking=yes: offer the
// key types known_hosts holds for the host first, accept only a known key, refuse a revoked one, and
// say what to do in words that never teach deleting a real warning.
import { shellJoin, shellQuote } from '../shell.ts';
import { HostKeyError } from './errors.ts';
import { CERT_SUFFIX, checkHostCertificate, parseHostCertificate } from './host-certificate.ts';
import { blobType, checkHostKey, hostKeyAlgorithmsFor, knownHostsName, readKnownHosts, type HostKeyCheck, type KnownHostsFiles, type KnownHostsLookup } from './known-hosts.ts';

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
export type HostKeyVerdict = HostKeyCheck | { status: 'bad-certificate'; reason: string; entry: { file: string; line: number } };

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
        return (
          `host key of ${name} is unknown: ${certAuthority.file} line ${certAuthority.line} trusts a certificate authority for it, but the host ` +
          `presented a plain ${presentedType} key (no certificate, or one signed by another CA); give the host a certificate from that CA ` +
          `(sshd's HostCertificate), or check its plain key, then trust it with: ${keyscanCommand(target)}`
        );
      }
      return `host key of ${name} is unknown: check it, then trust it with: ${keyscanCommand(target)}`;
    case 'revoked':
      return `host key of ${name} (${presentedType}) is marked @revoked in known_hosts: refusing to connect`;
    case 'bad-certificate':
      return (
        `host certificate of ${name} (${presentedType}) is not valid: ${verdict.reason} (its CA is trusted by ${verdict.entry.file} line ` +
        `${verdict.entry.line}): refusing to connect`
      );
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
  private verdict: HostKeyVerdict | undefined;
  private presentedType = 'unknown';

  constructor(
    private readonly target: HostKeyTarget,
    knownHostsFiles: KnownHostsFiles,
    /** The clock certificates are checked against (ms since the epoch). */
    private readonly now: () => number = Date.now,
  ) {
    this.lookup = readKnownHosts(knownHostsFiles, target.knownHostsFiles, knownHostsName(target));
  }

  /** ssh2's `algorithms.serverHostKey`: the known types first, as OpenSSH's order_hostkeyalgs. */
  get algorithms(): string[] {
    return hostKeyAlgorithmsFor(this.lookup);
  }

  /** ssh2's `hostVerifier`: the raw key blob (or certificate) the server presented. */
  readonly verify = (blob: Buffer): boolean => {
    this.presentedType = blobType(blob) ?? 'unknown';
    this.verdict = this.presentedType.endsWith(CERT_SUFFIX) ? this.checkCertificate(blob) : checkHostKey(this.lookup, blob);
    return this.verdict.status === 'trusted';
  };

  /**
   * As ssh: a certificate from a CA known_hosts trusts for the host is checked as a certificate; one
   * from another CA is no better than its plain key, which is then looked up as any host key.
   */
  private checkCertificate(blob: Buffer): HostKeyVerdict {
    const cert = parseHostCertificate(blob);
    const anyAuthority = this.lookup.certAuthorities[0] ?? { file: 'known_hosts', line: 0 };
    if (cert instanceof Error) return { status: 'bad-certificate', reason: cert.message, entry: anyAuthority };
    const principal = this.target.hostKeyAlias ?? this.target.hostname.toLowerCase();
    const check = checkHostCertificate(this.lookup, cert, principal, BigInt(Math.floor(this.now() / 1000)));
    switch (check.status) {
      case 'trusted':
        return check;
      case 'revoked':
        return { status: 'revoked' };
      case 'invalid':
        return { status: 'bad-certificate', reason: check.reason, entry: this.lookup.certAuthorities.find((ca) => ca.blob.equals(cert.signatureKey)) ?? anyAuthority };
      case 'no-authority':
        this.presentedType = blobType(cert.publicBlob) ?? 'unknown';
        return checkHostKey(this.lookup, cert.publicBlob);
    }
  }

  /** The error to fail with when the presented key was refused; undefined when none was refused. */
  refusal(): HostKeyError | undefined {
    if (this.verdict === undefined || this.verdict.status === 'trusted') return undefined;
    return new HostKeyError(hostKeyMessage(this.target, this.verdict, this.presentedType, this.lookup.certAuthorities[0]));
  }
}
