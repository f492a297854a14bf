// rsync from this machine to a host, as argv (no shell), with an ssh that agrees with the run's own
// SSH connection: the same hops, keys, agent and known_hosts, written into an ssh config of its own.
// Pure builders.

/** One hop of the run's connection (jump hosts first, the host last) as rsync's ssh must repeat it. */
export interface RsyncHop {
  hostname: string;
  port: number;
  user: string;
  /** Looked up in known_hosts instead of `[hostname]:port` when set. */
  hostKeyAlias?: string;
  knownHostsFiles: string[];
  /** The key file that authenticated this hop… */
  identityFile?: string;
  /** …or the agent whose key did. */
  agentSocket?: string;
  /** HostKeyAlgorithms and CASignatureAlgorithms as the user's config wrote them, when it did. */
  hostKeyAlgorithms?: string;
  caSignatureAlgorithms?: string;
}

/** What rsync's ssh must agree on with the run's connection. */
export interface RsyncSshSettings {
  hops: RsyncHop[];
  connectTimeoutMs: number;
}

/** The Host rsync's destination names; its jump hosts are `deploy-jump-1`, `deploy-jump-2`, … */
export const RSYNC_SSH_HOST = 'deploy-target';

export class RsyncQuotingError extends Error {
  override name = 'RsyncQuotingError';
}

/** rsync splits `-e` on spaces, honouring quotes: one word per value, or an error for a value it cannot take. */
function rsyncWord(value: string): string {
  if (!/[\s'"\\]/.test(value)) return value;
  if (value.includes("'") && value.includes('"')) throw new RsyncQuotingError(`cannot pass ${value} to rsync's ssh: it has both kinds of quote`);
  return value.includes("'") ? `"${value}"` : `'${value}'`;
}

/**
 * One ssh config argument: double-quoted unless plain. `%` is doubled where ssh expands tokens
 * (`paths`); what ssh's config reader cannot take literally is refused with one clear line.
 */
function configWord(value: string, kind: 'path' | 'name'): string {
  // eslint-disable-next-line no-control-regex
  if (value === '' || /["\\\x00-\x1f\x7f]/.test(value) || value.includes('${') || (kind === 'name' && value.includes('%'))) {
    throw new RsyncQuotingError(`cannot pass ${JSON.stringify(value)} to rsync's ssh config`);
  }
  const escaped = kind === 'path' ? value.replace(/%/g, '%%') : value;
  return /^[A-Za-z0-9_.,:/@+=%-]+$/.test(escaped) ? escaped : `"${escaped}"`;
}

function hopAlias(index: number, hops: RsyncHop[]): string {
  return index === hops.length - 1 ? RSYNC_SSH_HOST : `deploy-jump-${index + 1}`;
}

/**
 * The ssh config rsync's ssh reads (`ssh -F <file>`, so no other config is read): one Host per hop
 * with exactly the run's host, port, user, key or agent and known_hosts, never prompting, checking
 * host keys strictly, each hop reached through the one before (ProxyJump: ssh passes `-F` on).
 */
export function rsyncSshConfig(settings: RsyncSshSettings): string {
  const timeout = Math.ceil(settings.connectTimeoutMs / 1000);
  const blocks = settings.hops.map((hop, index) => {
    const lines = [
      `Host ${hopAlias(index, settings.hops)}`,
      `  HostName ${configWord(hop.hostname, 'name')}`,
      `  Port ${hop.port}`,
      `  User ${configWord(hop.user, 'name')}`,
      ...(hop.agentSocket !== undefined
        ? ['  IdentityFile none', `  IdentityAgent ${configWord(hop.agentSocket, 'path')}`]
        : [`  IdentityFile ${configWord(hop.identityFile ?? 'none', 'path')}`, '  IdentitiesOnly yes', '  IdentityAgent none']),
      `  UserKnownHostsFile ${hop.knownHostsFiles.length ? hop.knownHostsFiles.map((file) => configWord(file, 'path')).join(' ') : 'none'}`,
      '  GlobalKnownHostsFile none',
      ...(hop.hostKeyAlias !== undefined ? [`  HostKeyAlias ${configWord(hop.hostKeyAlias, 'name')}`] : []),
      ...(hop.hostKeyAlgorithms !== undefined ? [`  HostKeyAlgorithms ${configWord(hop.hostKeyAlgorithms, 'name')}`] : []),
      ...(hop.caSignatureAlgorithms !== undefined ? [`  CASignatureAlgorithms ${configWord(hop.caSignatureAlgorithms, 'name')}`] : []),
      '  StrictHostKeyChecking yes',
      '  UpdateHostKeys no',
      '  BatchMode yes',
      `  ConnectTimeout ${timeout}`,
      `  ProxyJump ${index === 0 ? 'none' : hopAlias(index - 1, settings.hops)}`,
    ];
    return lines.join('\n') + '\n';
  });
  return `# Written by deploy_server for one rsync: the run's own SSH connection, hop by hop.\n${blocks.join('')}`;
}

/** The `-e` of rsync: ssh reading only the config {@link rsyncSshConfig} wrote. */
export function rsyncShell(configFile: string): string {
  return `ssh -F ${rsyncWord(configFile)}`;
}

/**
 * Copies one file to `RSYNC_SSH_HOST:destination`. --protect-args: the remote path is one word,
 * spaces and all, never read by a remote shell.
 */
export function rsyncFile(file: string, destination: string, shell: string): string[] {
  return ['rsync', '--protect-args', '--times', '--perms', '--compress', '-e', shell, file, `${RSYNC_SSH_HOST}:${destination}`];
}
