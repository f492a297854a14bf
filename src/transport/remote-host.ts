import type { RsyncSshSettings } from './local/rsync.ts';
import type { ShellCommand } from './remote/shell-command.ts';

export interface ExecResult {
  code: number;
  stdout: string;
  stderr: string;
}

export interface ExecOptions {
  signal?: AbortSignal;
  /** Output as it comes, stdout and stderr interleaved. */
  onOutput?: (chunk: string) => void;
}

/** One SSH session to one host, shared by all steps of a run. */
export interface RemoteHost {
  /** The SSH user: `sudo -n` is needed for systemctl unless it is root. */
  readonly user: string;
  /** Runs a command; resolves with its exit code (non-zero is not an error here). */
  exec(command: ShellCommand, options?: ExecOptions): Promise<ExecResult>;
  /** GET http://127.0.0.1:<port><path> as seen from the host (tunnelled, no firewall opening needed). */
  httpGet(port: number, path: string, timeoutMs: number): Promise<{ status: number; body: string }>;
  /** What rsync's ssh needs to agree with this session: every hop with its address, key or agent, known_hosts. */
  rsyncSsh(connectTimeoutMs: number): RsyncSshSettings;
  /** What connecting left out (a passphrase-protected key skipped…), one line each: shown by sshCheck. */
  readonly notes: readonly string[];
  close(): Promise<void>;
}
