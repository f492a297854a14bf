import { createHash } from 'node:crypto';
import { SshConfigError } from './ssh-config-syntax.ts';

/** The values of ssh's `%` tokens for one connection (sshconnect.h DEFAULT_CLIENT_PERCENT_EXPAND_ARGS). */
export interface ConnectionTokens {
  /** %C: SHA-1 of %l%h%p%r, hex. */
  C: string;
  /** %L: the local host name up to its first dot. */
  L: string;
  /** %i: the local uid. */
  i: string;
  /** %k: HostKeyAlias (lowercased) or else the alias as typed. */
  k: string;
  /** %l: the local host name. */
  l: string;
  /** %n: the alias as typed. */
  n: string;
  /** %p: the port. */
  p: string;
  /** %d: the local home directory. */
  d: string;
  /** %h: the remote host name (after HostName, lowercased). */
  h: string;
  /** %r: the remote user. */
  r: string;
  /** %u: the local user. */
  u: string;
}

/** readconf.c `ssh_connection_hash`: the `%C` token. */
export function connectionHash(localHostname: string, host: string, port: number, user: string): string {
  return createHash('sha1').update(`${localHostname}${host}${port}${user}`).digest('hex');
}

/**
 * misc.c `percent_expand` (and `percent_dollar_expand` when `env` is given, for `${VAR}`):
 * `%%` is a percent sign; an unknown token, a trailing `%` or an unset variable is an error,
 * as it is fatal to ssh.
 */
export function expandTokens(text: string, tokens: Partial<Record<string, string>>, env?: Record<string, string | undefined>): string {
  let out = '';
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (env !== undefined && c === '$' && text[i + 1] === '{') {
      const end = text.indexOf('}', i + 2);
      const name = end < 0 ? '' : text.slice(i + 2, end);
      const value = name === '' ? undefined : env[name];
      if (value === undefined) throw new SshConfigError(`cannot expand "${text}": environment variable \${${name}} is unset or malformed`);
      out += value;
      i = end;
    } else if (c !== '%') {
      out += c;
    } else {
      const token = text[++i];
      const value = token === '%' ? '%' : token === undefined ? undefined : tokens[token];
      if (value === undefined) throw new SshConfigError(`cannot expand "${text}": unknown token %${token ?? ''}`);
      out += value;
    }
  }
  return out;
}

/**
 * misc.c `tilde_expand_filename` for the invoking user: `~` and `~/path` become the home
 * directory (ssh takes it from passwd, not $HOME). `~otheruser` is refused: it needs a passwd
 * lookup this pure code does not do.
 */
export function expandTilde(file: string, home: string): string {
  if (!file.startsWith('~')) return file;
  if (file !== '~' && !file.startsWith('~/')) throw new SshConfigError(`cannot expand "${file}": ~user paths are not supported`);
  const withSlash = home.endsWith('/') ? home : `${home}/`;
  return withSlash + file.slice(1).replace(/^\/+/, '');
}
