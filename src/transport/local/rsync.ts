// rsync from this machine to a host, as argv (no shell), with an ssh that agrees with the run's own
// SSH connection. Pure builders.

/** What rsync's ssh must agree on with the run's connection. */
export interface RsyncSshSettings {
  port: number;
  /** The key that authenticated the run's connection. */
  identityFile: string;
  knownHostsFiles: string[];
  connectTimeoutMs: number;
}

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
 * The `-e` of rsync: plain ssh with exactly the connection's port, key and known_hosts files, never
 * prompting, checking the host key strictly, and reading no ssh config of its own.
 */
export function rsyncShell(settings: RsyncSshSettings): string {
  return [
    'ssh -F /dev/null',
    `-p ${settings.port}`,
    `-i ${rsyncWord(settings.identityFile)}`,
    '-o IdentitiesOnly=yes',
    `-o ${rsyncWord(`UserKnownHostsFile=${settings.knownHostsFiles.join(' ')}`)}`,
    '-o GlobalKnownHostsFile=/dev/null',
    '-o StrictHostKeyChecking=yes',
    '-o BatchMode=yes',
    `-o ConnectTimeout=${Math.ceil(settings.connectTimeoutMs / 1000)}`,
  ].join(' ');
}

/**
 * Copies one file to `address:destination`. --protect-args: the remote path is one word, spaces and
 * all, never read by a remote shell.
 */
export function rsyncFile(file: string, address: string, destination: string, shell: string): string[] {
  return ['rsync', '--protect-args', '--times', '--perms', '--compress', '-e', shell, file, `${address}:${destination}`];
}
