import { createHmac } from 'node:crypto';
import { FileCache } from '../file-cache.ts';
import { matchHostname } from './ssh-patterns.ts';
import { OPENSSH_DEFAULT_HOST_KEY_ALGORITHMS } from './algorithm-lists.ts';
import { CERT_SUFFIX, parseHostCertificate, weakRsaKey } from './host-certificate.ts';

/** A key blob as the plain public key: a certificate's certified key, any other blob as it is. */
function plainKeyOf(blob: Buffer): Buffer {
  if (!blobType(blob)?.endsWith(CERT_SUFFIX)) return blob;
  const cert = parseHostCertificate(blob);
  return cert instanceof Error ? blob : cert.publicBlob;
}

/** One key a known_hosts line holds for the host looked up. */
export interface KnownHostKey {
  /** The key type named on the line, e.g. `ssh-ed25519`. */
  type: string;
  /** The public key blob (the base64 field, decoded). */
  blob: Buffer;
  file: string;
  /** 1-based, as ssh and `ssh-keygen -F` number lines. */
  line: number;
}

/** What known_hosts files say about one host name. */
export interface KnownHostsLookup {
  /** Plain lines: keys trusted for the host. */
  keys: KnownHostKey[];
  /** `@revoked` lines: keys never trusted, whatever another line says. */
  revoked: Buffer[];
  /** `@cert-authority` lines: CAs whose host certificates are trusted (never plain host keys). */
  certAuthorities: KnownHostKey[];
}

/** A known_hosts file's name and text. */
export interface KnownHostsFile {
  file: string;
  text: string;
}

/**
 * The name ssh looks a host up by (sshconnect.c): HostKeyAlias when set, else `host` on port 22
 * and `[host]:port` otherwise; lowercased, as ssh lowercases host names.
 */
export function knownHostsName(host: { hostname: string; port: number; hostKeyAlias?: string }): string {
  if (host.hostKeyAlias !== undefined) return host.hostKeyAlias.toLowerCase();
  const hostname = host.hostname.toLowerCase();
  return host.port === 22 ? hostname : `[${hostname}]:${host.port}`;
}

/**
 * hostfile.c `match_maybe_hashed`: a `|1|salt|hash` field matches when HMAC-SHA1(salt, name) is
 * the hash; any other field is a pattern list (`a,b,*.example,!bad.example`) matched case-insensitively.
 */
export function knownHostsFieldMatches(field: string, name: string): boolean {
  if (!field.startsWith('|')) return matchHostname(name, field) === 'matched';
  const [, magic, salt, hash, ...extra] = field.split('|');
  if (magic !== '1' || salt === undefined || hash === undefined || extra.length > 0) return false;
  const expected = createHmac('sha1', Buffer.from(salt, 'base64')).update(name).digest('base64');
  return expected === hash;
}

type Marker = 'none' | 'revoked' | 'cert-authority';

/** hostfile.c `check_markers`: at most one marker, which must be a known one. */
function splitMarker(line: string): { marker: Marker; rest: string } | undefined {
  if (!line.startsWith('@')) return { marker: 'none', rest: line };
  const match = /^@(\S+)[ \t]+([^@].*)$/.exec(line);
  if (match?.[1] === 'revoked') return { marker: 'revoked', rest: match[2] };
  if (match?.[1] === 'cert-authority') return { marker: 'cert-authority', rest: match[2] };
  return undefined;
}

/** The type name an SSH public key blob starts with (a uint32 length and the name). */
export function blobType(blob: Buffer): string | undefined {
  if (blob.length < 4) return undefined;
  const length = blob.readUInt32BE(0);
  return length > 0 && 4 + length <= blob.length ? blob.subarray(4, 4 + length).toString('latin1') : undefined;
}

/** `type base64 [comment]`: a key whose blob really is of the named type, as `sshkey_read` insists. */
function parseKey(text: string): { type: string; blob: Buffer } | undefined {
  const [type, base64] = text.split(/[ \t]+/);
  if (type === undefined || base64 === undefined || !/^[A-Za-z0-9+/]+={0,2}$/.test(base64)) return undefined;
  const blob = Buffer.from(base64, 'base64');
  // sshkey_read refuses an RSA key under 1024 bits: such a line trusts (and revokes) nothing.
  return blobType(blob) === type && !weakRsaKey(blob) ? { type, blob } : undefined;
}

interface KnownHostsLine {
  marker: Marker;
  key: { type: string; blob: Buffer };
  line: number;
}

/** The valid lines of a known_hosts text whose host field matches `name` (others are skipped, as ssh does). */
function matchingLines(text: string, name: string): KnownHostsLine[] {
  const lines: KnownHostsLine[] = [];
  text.split('\n').forEach((raw, index) => {
    const trimmed = raw.replace(/^[ \t]+/, '').replace(/\r$/, '');
    if (trimmed === '' || trimmed.startsWith('#')) return;
    const marked = splitMarker(trimmed);
    if (marked === undefined) return;
    const [hosts, ...fields] = marked.rest.split(/[ \t]+/);
    if (!knownHostsFieldMatches(hosts, name)) return;
    const key = parseKey(fields.join(' '));
    if (key !== undefined) lines.push({ marker: marked.marker, key, line: index + 1 });
  });
  return lines;
}

function addLines(lookup: KnownHostsLookup, file: string, lines: KnownHostsLine[]): void {
  for (const { marker, key, line } of lines) {
    // ssh compares public keys (sshkey_equal_public): revoking a certificate revokes the key in it.
    if (marker === 'revoked') lookup.revoked.push(plainKeyOf(key.blob));
    else (marker === 'cert-authority' ? lookup.certAuthorities : lookup.keys).push({ ...key, file, line });
  }
}

/**
 * What the given known_hosts files (in order: user files, then global ones) hold for `name`
 * (see {@link knownHostsName}): trusted keys, revoked keys, and certificate authorities.
 */
export function lookUpKnownHosts(files: KnownHostsFile[], name: string): KnownHostsLookup {
  const lookup: KnownHostsLookup = { keys: [], revoked: [], certAuthorities: [] };
  for (const { file, text } of files) addLines(lookup, file, matchingLines(text, name));
  return lookup;
}

/** Names whose matching lines one file's entry remembers; past it they are forgotten and found again. */
const MATCHES_KEPT_PER_FILE = 4096;

/**
 * Each known_hosts file as read, with the lines found for each name looked up in it: a connection
 * re-reads nothing while the file is unchanged (one HMAC per hashed line and name, not per connection).
 * One per process (see ssh-files.ts).
 */
export type KnownHostsFiles = FileCache<{ text: string; matches: Map<string, KnownHostsLine[]> }>;

export function createKnownHostsFiles(): KnownHostsFiles {
  return new FileCache((content) => ({ text: content.toString('utf8'), matches: new Map<string, KnownHostsLine[]>() }));
}

/** {@link lookUpKnownHosts} over files on disk (re-read when changed); a missing file holds nothing. */
export function readKnownHosts(knownHostsFiles: KnownHostsFiles, files: string[], name: string): KnownHostsLookup {
  const lookup: KnownHostsLookup = { keys: [], revoked: [], certAuthorities: [] };
  for (const file of files) {
    const read = knownHostsFiles.get(file);
    if (read === undefined) continue;
    let lines = read.matches.get(name);
    if (lines === undefined) {
      if (read.matches.size >= MATCHES_KEPT_PER_FILE) read.matches.clear();
      lines = matchingLines(read.text, name);
      read.matches.set(name, lines);
    }
    addLines(lookup, file, lines);
  }
  return lookup;
}

/** ssh2 1.17's default server host key algorithms (with Ed25519 support), in its order of preference. */
const SSH2_DEFAULT_HOST_KEY_ALGORITHMS: readonly string[] = [
  'ssh-ed25519',
  'ecdsa-sha2-nistp256',
  'ecdsa-sha2-nistp384',
  'ecdsa-sha2-nistp521',
  'rsa-sha2-512',
  'rsa-sha2-256',
  'ssh-rsa',
];

/** The signature algorithms a key type can verify: an RSA key signs with SHA-2 as well as SHA-1. */
function algorithmsForKeyType(type: string): string[] {
  return type === 'ssh-rsa' ? ['rsa-sha2-512', 'rsa-sha2-256', 'ssh-rsa'] : [type];
}

/**
 * The certificate host key algorithms ssh2 can do (once scripts/patch-ssh2.js has run: `npm ci` runs
 * it), in OpenSSH's default order, of which they are the part without security keys.
 */
export const CERT_HOST_KEY_ALGORITHMS: readonly string[] = OPENSSH_DEFAULT_HOST_KEY_ALGORITHMS.filter(
  (algorithm) => algorithm.endsWith(CERT_SUFFIX) && !algorithm.startsWith('sk-'), // ssh2 has no security keys
);

/** Every host key algorithm ssh2 (patched: scripts/patch-ssh2.js) can negotiate. */
export const SSH2_HOST_KEY_ALGORITHMS: readonly string[] = [...CERT_HOST_KEY_ALGORITHMS, ...SSH2_DEFAULT_HOST_KEY_ALGORITHMS];

/**
 * The host key algorithms to offer, as OpenSSH's `order_hostkeyalgs` does: of the candidates,
 * certificates first when a `@cert-authority` line covers the host, and the algorithms whose key
 * types known_hosts holds for it, then the rest, each part in the candidates' order. Without it a
 * server with an Ed25519 key would present that one, and a host known only by its RSA key (or its
 * CA) would look changed (or unknown). The candidates by default: ssh2's algorithms, certificates
 * first as in OpenSSH's default list (a host known by nothing is asked for its certificate, which a
 * CA line for its bare name may vouch for).
 */
export function hostKeyAlgorithmsFor(lookup: Pick<KnownHostsLookup, 'keys'> & Partial<Pick<KnownHostsLookup, 'certAuthorities'>>, candidates?: readonly string[]): string[] {
  const authority = (lookup.certAuthorities?.length ?? 0) > 0;
  const offered = candidates ?? SSH2_HOST_KEY_ALGORITHMS;
  const known = new Set(lookup.keys.flatMap((key) => algorithmsForKeyType(key.type)));
  const preferred = (algorithm: string) => (algorithm.endsWith(CERT_SUFFIX) ? authority : known.has(algorithm));
  return [...offered.filter(preferred), ...offered.filter((algorithm) => !preferred(algorithm))];
}

/** The verdict on a presented host key. */
export type HostKeyCheck =
  | { status: 'trusted'; entry: KnownHostKey }
  | { status: 'revoked' }
  /** The host is known with other keys: `entry` is the one ssh names as "Offending key". */
  | { status: 'changed'; entry: KnownHostKey }
  | { status: 'unknown' };

/**
 * hostfile.c `check_key_in_hostkeys` for a plain (non-certificate) host key: revoked wins over
 * everything; then a known equal key trusts it; any other known key (of any type) means changed.
 */
export function checkHostKey(lookup: KnownHostsLookup, presentedBlob: Buffer): HostKeyCheck {
  if (lookup.revoked.some((blob) => blob.equals(presentedBlob))) return { status: 'revoked' };
  const trusted = lookup.keys.find((key) => key.blob.equals(presentedBlob));
  if (trusted !== undefined) return { status: 'trusted', entry: trusted };
  const offending = lookup.keys.at(-1);
  return offending === undefined ? { status: 'unknown' } : { status: 'changed', entry: offending };
}
