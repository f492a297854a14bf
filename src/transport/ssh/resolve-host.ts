import { existsSync, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import SSHConfig from 'ssh-config';

/** Where one SSH alias really points, as OpenSSH would read it from `~/.ssh/config`. */
export interface SshSettings {
  alias: string;
  hostname: string;
  port: number;
  user: string;
  /** Existing key files, in the order ssh would try them. */
  identityFiles: string[];
  knownHostsFiles: string[];
}

const DEFAULT_KEYS = ['id_ed25519', 'id_ecdsa', 'id_rsa'];

function expandHome(file: string, home: string): string {
  return file === '~' ? home : file.startsWith('~/') ? path.join(home, file.slice(2)) : file;
}

function list(value: string | string[] | undefined): string[] {
  if (value === undefined) return [];
  return (Array.isArray(value) ? value : [value]).flatMap((v) => v.split(/\s+/)).filter(Boolean);
}

/**
 * Resolves an alias through `<home>/.ssh/config` (Host blocks and `Host *` defaults, first value
 * wins) with the ssh-config library. `localhost` and plain host names work without any entry.
 */
export function resolveSshHost(alias: string, home: string): SshSettings {
  const sshDir = path.join(home, '.ssh');
  const configFile = path.join(sshDir, 'config');
  const text = existsSync(configFile) ? readFileSync(configFile, 'utf8') : '';
  // ignoreCase: OpenSSH keywords are case-insensitive; matchExec off: resolving must never run commands.
  const computed = SSHConfig.parse(text).compute(alias, { ignoreCase: true, matchExec: false } as never) as Record<string, string | string[] | undefined>;
  const first = (key: string) => list(computed[key])[0];
  const configuredKeys = list(computed.identityfile).map((file) => expandHome(file, home));
  const identityFiles = (configuredKeys.length ? configuredKeys : DEFAULT_KEYS.map((name) => path.join(sshDir, name))).filter((file) => existsSync(file));
  const knownHosts = list(computed.userknownhostsfile).map((file) => expandHome(file, home));
  return {
    alias,
    hostname: first('hostname') ?? alias,
    port: Number(first('port') ?? 22),
    user: first('user') ?? os.userInfo().username,
    identityFiles,
    knownHostsFiles: knownHosts.length ? knownHosts : [path.join(sshDir, 'known_hosts')],
  };
}
