import { existsSync } from 'node:fs';
import os from 'node:os';
import { agentSocketFor, resolveSshConfig, SshConfigError, type ConfigFiles } from './ssh-config.ts';

/** Where one SSH alias really points, as OpenSSH would read it from `~/.ssh/config`. */
export interface SshSettings {
  alias: string;
  hostname: string;
  port: number;
  user: string;
  /** Existing key files, in the order ssh would try them. */
  identityFiles: string[];
  /** IdentitiesOnly: of the agent's keys, only those of `identityFiles` are offered. */
  identitiesOnly: boolean;
  /** The agent socket to try first (IdentityAgent, else `$SSH_AUTH_SOCK`); undefined for none. */
  agentSocket: string | undefined;
  /** User known_hosts files, then the global ones: where the host key is looked up. */
  knownHostsFiles: string[];
  /** Where a new host key line belongs: the first UserKnownHostsFile. */
  userKnownHostsFile: string;
  /** Looked up in known_hosts instead of `[hostname]:port` when set. */
  hostKeyAlias: string | undefined;
  /** ProxyJump hops as written (`[user@]host[:port]`, comma separated); undefined for a direct connection. */
  proxyJump: string | undefined;
  /** Seconds between keepalives (0: the transport's default); how many may go unanswered. */
  serverAliveInterval: number;
  serverAliveCountMax: number;
  /**
   * HostKeyAlgorithms when configured: the assembled list, and whether ssh still puts the types
   * known_hosts holds first (a `+` or `-` setting: ssh_kex2's use_known_hosts_order) or offers it as
   * written (a `^` or plain list). Undefined: not configured.
   */
  hostKeyAlgorithms: { list: string[]; orderByKnownHosts: boolean } | undefined;
  /** CASignatureAlgorithms: what a CA may sign a host certificate with. */
  caSignatureAlgorithms: string[];
  /** Both settings as written, for rsync's own ssh (which reads no other config). */
  algorithmSettings: { hostKeyAlgorithms?: string; caSignatureAlgorithms?: string };
}

export class SshSettingsError extends Error {
  override name = 'SshSettingsError';
}

export interface ResolveOptions {
  /** Whose `.ssh/config`, keys and known_hosts (`~`). */
  home: string;
  /** For `SSH_AUTH_SOCK` and `${VAR}` in the config. Default `process.env`. */
  env?: Record<string, string | undefined>;
  /** The invoking user (default User, `%u`, `Match localuser`). Default the process's user. */
  localUser?: string;
  /** The config files as read (see SshConfigSources.files). Default: read afresh. */
  configFiles?: ConfigFiles;
}

/**
 * Resolves an alias through `<home>/.ssh/config` (then `/etc/ssh/ssh_config`) with OpenSSH's own
 * semantics ({@link resolveSshConfig}). `localhost` and plain host names work without any entry.
 * A config ssh itself would refuse is one clear {@link SshSettingsError}.
 */
export function resolveSshHost(alias: string, options: ResolveOptions): SshSettings {
  const env = options.env ?? process.env;
  let config;
  try {
    config = resolveSshConfig(alias, { home: options.home, localUser: options.localUser ?? os.userInfo().username, env, files: options.configFiles });
  } catch (error) {
    if (error instanceof SshConfigError) throw new SshSettingsError(`cannot resolve SSH host ${alias}: ${error.message}`);
    throw error;
  }
  const setting = config.hostKeyAlgorithmsSetting;
  if (config.revokedHostKeys !== undefined && config.revokedHostKeys.toLowerCase() !== 'none') {
    // Trusting a host ssh would refuse is worse than not connecting: refuse, and say why.
    throw new SshSettingsError(`cannot connect to ${alias}: RevokedHostKeys (${config.revokedHostKeys}) is not supported: its revocations would not be checked; list revoked keys as @revoked lines in known_hosts instead`);
  }
  if (config.proxyCommand !== undefined) {
    // Connecting directly instead would reach another host than ssh does: refuse, and say what works.
    throw new SshSettingsError(`cannot connect to ${alias}: ProxyCommand is not supported (it would need an ssh child process); use ProxyJump`);
  }
  return {
    alias,
    hostname: config.hostname,
    port: config.port,
    user: config.user,
    identityFiles: config.identityFiles.filter((file) => existsSync(file)),
    identitiesOnly: config.identitiesOnly,
    agentSocket: agentSocketFor(config, env),
    knownHostsFiles: [...config.userKnownHostsFiles, ...config.globalKnownHostsFiles],
    userKnownHostsFile: config.userKnownHostsFiles[0] ?? `${options.home}/.ssh/known_hosts`,
    hostKeyAlias: config.hostKeyAlias,
    proxyJump: config.proxyJump,
    serverAliveInterval: config.serverAliveInterval,
    serverAliveCountMax: config.serverAliveCountMax,
    hostKeyAlgorithms: setting === undefined ? undefined : { list: config.hostKeyAlgorithms, orderByKnownHosts: setting.startsWith('+') || setting.startsWith('-') },
    caSignatureAlgorithms: config.caSignatureAlgorithms,
    algorithmSettings: {
      ...(setting === undefined ? {} : { hostKeyAlgorithms: setting }),
      ...(config.caSignatureAlgorithmsSetting === undefined ? {} : { caSignatureAlgorithms: config.caSignatureAlgorithmsSetting }),
    },
  };
}
