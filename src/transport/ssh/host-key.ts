// The host key check of one connection, as OpenSSH does it with StrictHostKeyChecking=yes: offer the
// key types known_hosts holds for the host first, accept only a known key, refuse a revoked one, and
// say what to do in words that never teach deleting a real warning.
import { shellJoin, shellQuote } from '../shell.ts';
import { HostKeyError } from './errors.ts';
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

/**
 * The one line a refused host key fails with. `certAuthority`: a `@cert-authority` line that covers the
 * host — its certificates cannot be checked (ssh2 cannot negotiate certificate host keys), so the
 * message says so instead of leaving the user to wonder why a CA-trusted host is "unknown".
 */
export function hostKeyMessage(
  target: Omit<HostKeyTarget, 'knownHostsFiles'>,
  verdict: Exclude<HostKeyCheck, { status: 'trusted' }>,
  presentedType: string,
  certAuthority?: { file: string; line: number },
): string {
  const name = knownHostsName(target);
  switch (verdict.status) {
    case 'unknown':
      if (certAuthority) {
        return (
          `host key of ${name} is unknown: ${certAuthority.file} line ${certAuthority.line} trusts a certificate authority for it, but ` +
          `host certificates are not supported (the SSH library cannot negotiate them); check the host's plain key, then trust it with: ${keyscanCommand(target)}`
        );
      }
      return `host key of ${name} is unknown: check it, then trust it with: ${keyscanCommand(target)}`;
    case 'revoked':
      return `host key of ${name} (${presentedType}) is marked @revoked in known_hosts: refusing to connect`;
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
  private verdict: HostKeyCheck | undefined;
  private presentedType = 'unknown';

  constructor(private readonly target: HostKeyTarget, knownHostsFiles: KnownHostsFiles) {
    this.lookup = readKnownHosts(knownHostsFiles, target.knownHostsFiles, knownHostsName(target));
  }

  /** ssh2's `algorithms.serverHostKey`: the known types first, as OpenSSH's order_hostkeyalgs. */
  get algorithms(): string[] {
    return hostKeyAlgorithmsFor(this.lookup);
  }

  /** ssh2's `hostVerifier`: the raw key blob the server presented. */
  readonly verify = (blob: Buffer): boolean => {
    this.presentedType = blobType(blob) ?? 'unknown';
    this.verdict = checkHostKey(this.lookup, blob);
    return this.verdict.status === 'trusted';
  };

  /** The error to fail with when the presented key was refused; undefined when none was refused. */
  refusal(): HostKeyError | undefined {
    if (this.verdict === undefined || this.verdict.status === 'trusted') return undefined;
    return new HostKeyError(hostKeyMessage(this.target, this.verdict, this.presentedType, this.lookup.certAuthorities[0]));
  }
}
