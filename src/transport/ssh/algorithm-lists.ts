// HostKeyAlgorithms and CASignatureAlgorithms as OpenSSH 9.2 reads them: readconf.c checks each name
// (`sshkey_names_valid2`), fill_default_options assembles the list (kex.c `kex_assemble_names`):
// `+list` appends to the default, `-list` removes what its patterns match, `^list` puts names first,
// a plain list replaces the default; patterns expand to the known algorithms they match, duplicates
// dropped. `ssh -G` prints the result: test/transport/ssh-config.test.ts compares.
import { SshConfigError } from './ssh-config-syntax.ts';
import { matchPattern, matchPatternList } from './ssh-patterns.ts';

/** `ssh -Q HostKeyAlgorithms`: every key and signature algorithm name OpenSSH 9.2 knows, in its order. */
export const OPENSSH_HOST_KEY_ALGORITHMS: readonly string[] = [
  'ssh-ed25519', 'ssh-ed25519-cert-v01@openssh.com', 'sk-ssh-ed25519@openssh.com', 'sk-ssh-ed25519-cert-v01@openssh.com',
  'ecdsa-sha2-nistp256', 'ecdsa-sha2-nistp256-cert-v01@openssh.com', 'ecdsa-sha2-nistp384', 'ecdsa-sha2-nistp384-cert-v01@openssh.com',
  'ecdsa-sha2-nistp521', 'ecdsa-sha2-nistp521-cert-v01@openssh.com', 'sk-ecdsa-sha2-nistp256@openssh.com', 'sk-ecdsa-sha2-nistp256-cert-v01@openssh.com',
  'webauthn-sk-ecdsa-sha2-nistp256@openssh.com', 'ssh-dss', 'ssh-dss-cert-v01@openssh.com', 'ssh-rsa', 'ssh-rsa-cert-v01@openssh.com',
  'rsa-sha2-256', 'rsa-sha2-256-cert-v01@openssh.com', 'rsa-sha2-512', 'rsa-sha2-512-cert-v01@openssh.com',
];

/** KEX_DEFAULT_PK_ALG: what `ssh -G` prints as hostkeyalgorithms when none is configured. */
export const OPENSSH_DEFAULT_HOST_KEY_ALGORITHMS: readonly string[] = [
  'ssh-ed25519-cert-v01@openssh.com', 'ecdsa-sha2-nistp256-cert-v01@openssh.com', 'ecdsa-sha2-nistp384-cert-v01@openssh.com',
  'ecdsa-sha2-nistp521-cert-v01@openssh.com', 'sk-ssh-ed25519-cert-v01@openssh.com', 'sk-ecdsa-sha2-nistp256-cert-v01@openssh.com',
  'rsa-sha2-512-cert-v01@openssh.com', 'rsa-sha2-256-cert-v01@openssh.com', 'ssh-ed25519', 'ecdsa-sha2-nistp256', 'ecdsa-sha2-nistp384',
  'ecdsa-sha2-nistp521', 'sk-ssh-ed25519@openssh.com', 'sk-ecdsa-sha2-nistp256@openssh.com', 'rsa-sha2-512', 'rsa-sha2-256',
];

/** The signature algorithms a CA may sign certificates with (`ssh -Q sig`). */
export const OPENSSH_SIGNATURE_ALGORITHMS: readonly string[] = [
  'ssh-ed25519', 'sk-ssh-ed25519@openssh.com', 'ecdsa-sha2-nistp256', 'ecdsa-sha2-nistp384', 'ecdsa-sha2-nistp521',
  'sk-ecdsa-sha2-nistp256@openssh.com', 'webauthn-sk-ecdsa-sha2-nistp256@openssh.com', 'ssh-dss', 'ssh-rsa', 'rsa-sha2-256', 'rsa-sha2-512',
];

/** SSH_ALLOWED_CA_SIGALGS: CASignatureAlgorithms by default (no SHA-1 `ssh-rsa`, no DSA). */
export const OPENSSH_DEFAULT_CA_SIGNATURE_ALGORITHMS: readonly string[] = [
  'ssh-ed25519', 'ecdsa-sha2-nistp256', 'ecdsa-sha2-nistp384', 'ecdsa-sha2-nistp521', 'sk-ssh-ed25519@openssh.com',
  'sk-ecdsa-sha2-nistp256@openssh.com', 'rsa-sha2-512', 'rsa-sha2-256',
];

const hasWildcard = (name: string) => /[*?!]/.test(name);

/**
 * readconf.c's check of a HostKeyAlgorithms / CASignatureAlgorithms argument: unless it removes
 * (`-`), each name must be known, or a pattern some known name matches. Throws ssh's message.
 */
export function checkAlgorithmNames(argument: string, where: string): void {
  if (argument.startsWith('-')) return;
  const names = (argument.startsWith('+') || argument.startsWith('^') ? argument.slice(1) : argument).split(',');
  // sshkey_names_valid2 stops at the first empty name (`a,,b`, `a,`): what follows is not checked.
  const checked = names.includes('') ? names.slice(0, names.indexOf('')) : names;
  const valid = checked.every((name) =>
    OPENSSH_HOST_KEY_ALGORITHMS.includes(name) || (hasWildcard(name) && OPENSSH_HOST_KEY_ALGORITHMS.some((known) => matchPatternList(known, name, false) !== 'none')));
  if (!valid) throw new SshConfigError(`${where}: Bad key types '${argument}'.`);
}

/** kex.c `kex_names_cat`: `a` then the names of `b` not already there. */
function concatenate(a: readonly string[], b: readonly string[]): string[] {
  const out = [...a];
  for (const name of b) if (!out.includes(name)) out.push(name);
  return out;
}

/**
 * kex.c `kex_assemble_names`: the configured argument (undefined: not configured) against the
 * default and every known name. Throws when ssh would refuse it (a `!` pattern, nothing left).
 */
export function assembleAlgorithms(argument: string | undefined, defaults: readonly string[], all: readonly string[], keyword: string): string[] {
  if (argument === undefined || argument === '') return [...defaults];
  if (argument.startsWith('-')) {
    const patterns = argument.slice(1);
    return defaults.filter((name) => matchPatternList(name, patterns, false) !== 'matched');
  }
  const list = argument.startsWith('+') ? concatenate(defaults, argument.slice(1).split(','))
    : argument.startsWith('^') ? concatenate(argument.slice(1).split(','), defaults)
      : argument.split(',');
  let assembled: string[] = [];
  for (const pattern of list) {
    if (pattern.startsWith('!')) throw new SshConfigError(`${keyword}: invalid argument`);
    assembled = concatenate(assembled, all.filter((name) => matchPattern(name, pattern)));
  }
  if (assembled.length === 0) throw new SshConfigError(`${keyword}: invalid argument`);
  return assembled;
}
