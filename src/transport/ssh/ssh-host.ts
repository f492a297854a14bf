import http from 'node:http';
import type { Duplex } from 'node:stream';
import { NodeSSH } from 'node-ssh';
import type { ShellCommand } from '../remote/shell-command.ts';
import type { RsyncSshSettings } from '../local/rsync.ts';
import type { ExecOptions, ExecResult, RemoteHost } from '../remote-host.ts';
import { knownHostsName, readKnownHosts } from './known-hosts.ts';
import { resolveSshHost, type SshSettings } from './resolve-host.ts';

export class SshConnectError extends Error {
  override name = 'SshConnectError';
}

export class HostKeyError extends SshConnectError {
  override name = 'HostKeyError';
}

export interface SshOptions {
  /** The home whose `.ssh/config`, keys and known_hosts are used. */
  home: string;
  connectTimeoutMs: number;
}

export interface HttpResult {
  status: number;
  body: string;
}

/** Marks the first line of stderr with the remote shell's pid, which is its process group (sshd setsid()s). */
const PGID_MARKER = '__deploy_server_pgid=';

/**
 * One SSH connection to one host (node-ssh), shared by every step of a run: commands, the health
 * check's HTTP requests (tunnelled), and the settings rsync's own ssh needs to agree with it.
 */
export class SshHost implements RemoteHost {
  /** Kills sent for cancelled commands: close() waits for them, or a cancel would die with the connection. */
  private readonly kills = new Set<Promise<unknown>>();
  /** Set when the connection drops (sshd gone, network cut): what is running then did not just fail. */
  private lost = false;

  private constructor(
    readonly settings: SshSettings,
    private readonly ssh: NodeSSH,
    /** The key that authenticated: rsync's ssh uses the same. */
    private readonly identityFile: string,
  ) {
    ssh.connection!.once('close', () => (this.lost = true));
  }

  get user(): string {
    return this.settings.user;
  }

  get rsyncAddress(): string {
    return `${this.settings.user}@${this.settings.hostname}`;
  }

  static async connect(alias: string, options: SshOptions): Promise<SshHost> {
    const settings = resolveSshHost(alias, options.home);
    const where = `${alias} (${settings.user}@${settings.hostname}:${settings.port})`;
    const trusted = readKnownHosts(settings.knownHostsFiles, knownHostsName(settings)).keys.map((key) => key.blob);
    if (settings.identityFiles.length === 0) {
      throw new SshConnectError(`cannot connect to ${where}: no private key found (IdentityFile in ~/.ssh/config, or ~/.ssh/id_ed25519)`);
    }
    const ssh = new NodeSSH();
    let lastError: Error | undefined;
    for (const identityFile of settings.identityFiles) {
      try {
        await ssh.connect({
          host: settings.hostname,
          port: settings.port,
          username: settings.user,
          privateKeyPath: identityFile,
          readyTimeout: options.connectTimeoutMs,
          keepaliveInterval: 15_000,
          hostVerifier: (key: Buffer) => trusted.some((known) => known.equals(key)),
        });
        // node-ssh drops its error listener once connected: a later keepalive error would crash us.
        ssh.connection!.on('error', () => undefined);
        // Small request packets must leave at once: with Nagle on, each command waits ~40 ms for a delayed ACK.
        ssh.connection!.setNoDelay(true);
        return new SshHost(settings, ssh, identityFile);
      } catch (error) {
        lastError = error as Error;
        if (!/authentication methods failed/.test(lastError.message)) break;
      }
    }
    const message = lastError?.message ?? 'unknown error';
    if (/Host denied/.test(message)) {
      const name = knownHostsName(settings);
      const trust = `ssh-keyscan ${settings.port === 22 ? '' : `-p ${settings.port} `}${settings.hostname} >> ${settings.knownHostsFiles[0]}`;
      throw new HostKeyError(
        trusted.length
          ? `host key of ${name} has CHANGED since it was trusted (${settings.knownHostsFiles[0]}): if that is expected, remove the old entry (ssh-keygen -R '${name}') and trust the new one: ${trust}`
          : `host key of ${name} is unknown: check it, then trust it with: ${trust}`,
      );
    }
    throw new SshConnectError(`cannot connect to ${where}: ${message}`);
  }

  /**
   * Runs a command, streaming output. Cancel kills the remote process group (the remote shell's
   * `$$`), which works for root and non-root users alike, with no pty.
   */
  async exec(command: ShellCommand, options: ExecOptions = {}): Promise<ExecResult> {
    if (options.signal?.aborted) throw options.signal.reason;
    if (this.lost) throw this.lostError(command);
    let pgid: string | undefined;
    let stderrHead = '';
    const killRemote = () => {
      if (!pgid) return;
      const kill = this.ssh.execCommand(`kill -KILL -- -${pgid}`).catch(() => undefined);
      this.kills.add(kill);
      void kill.finally(() => this.kills.delete(kill));
    };
    options.signal?.addEventListener('abort', killRemote, { once: true });
    try {
      const running = this.ssh.execCommand(`echo ${PGID_MARKER}$$ >&2; ${command.command}`, {
        stdin: command.stdin,
        noTrim: true,
        onStdout: (chunk) => options.onOutput?.(chunk.toString()),
        onStderr: (chunk) => {
          if (pgid !== undefined) return options.onOutput?.(chunk.toString());
          stderrHead += chunk.toString();
          // The login shell may print before our marker (a .bashrc line): pass that on, find the marker line.
          const match = new RegExp(`^${PGID_MARKER}(\\d+)\\n`, 'm').exec(stderrHead);
          if (!match) return;
          pgid = match[1];
          if (options.signal?.aborted) killRemote();
          const rest = stderrHead.slice(0, match.index) + stderrHead.slice(match.index + match[0].length);
          if (rest) options.onOutput?.(rest);
        },
      });
      // A transport failure (the connection reset, sshd gone) is not the command failing: say so.
      const result = await running.catch((error) => {
        throw options.signal?.aborted ? options.signal.reason : this.lostError(command, error);
      });
      if (options.signal?.aborted) throw options.signal.reason;
      if (result.code === null && this.lost) throw this.lostError(command);
      const stderr = result.stderr.replace(new RegExp(`^${PGID_MARKER}\\d+\\n`, 'm'), '');
      return { code: result.code ?? 128, stdout: result.stdout, stderr };
    } finally {
      options.signal?.removeEventListener('abort', killRemote);
    }
  }

  private lostError(command: ShellCommand, cause?: unknown): SshConnectError {
    const s = this.settings;
    const why = cause instanceof Error ? ` (${cause.message})` : '';
    return new SshConnectError(`the SSH connection to ${s.alias} (${s.hostname}:${s.port}) was lost while running ${command.name}${why}`);
  }

  /** GET http://127.0.0.1:<port><path> as seen from the host, through this connection. */
  httpGet(port: number, path: string, timeoutMs: number): Promise<HttpResult> {
    const client = this.ssh.connection!;
    return new Promise((resolve, reject) => {
      const request = http.request(
        {
          host: '127.0.0.1',
          port,
          path,
          method: 'GET',
          // No `agent` key: with `agent: false` Node ignores createConnection and goes straight to TCP.
          createConnection: ((_: unknown, done: (error: Error | null, socket?: Duplex) => void) => {
            client.forwardOut('127.0.0.1', 0, '127.0.0.1', port, (error: Error | undefined, channel: any) => {
              if (error) return done(error);
              for (const method of ['setKeepAlive', 'setNoDelay', 'setTimeout', 'ref', 'unref']) channel[method] = () => channel;
              channel.destroySoon = channel.destroy;
              done(null, channel);
            });
            return undefined;
          }) as never,
        },
        (response) => {
          let body = '';
          response.setEncoding('utf8');
          response.on('data', (chunk: string) => (body = (body + chunk).slice(0, 4096)));
          response.on('end', () => resolve({ status: response.statusCode ?? 0, body }));
          response.on('error', reject);
        },
      );
      // Our own timer: request.setTimeout relies on the socket's, which the SSH channel does not have.
      const timeout = new Error(`no answer within ${timeoutMs} ms`);
      let timedOut = false;
      const timer = setTimeout(() => {
        timedOut = true;
        request.destroy(timeout);
      }, timeoutMs);
      request.on('error', (error) => {
        clearTimeout(timer);
        reject(timedOut ? timeout : error);
      });
      request.on('close', () => clearTimeout(timer));
      request.end();
    });
  }

  /** What rsync's own ssh must agree on with this connection (the key that authenticated, known_hosts). */
  rsyncSsh(connectTimeoutMs: number): RsyncSshSettings {
    return { port: this.settings.port, identityFile: this.identityFile, knownHostsFiles: this.settings.knownHostsFiles, connectTimeoutMs };
  }

  async close(): Promise<void> {
    if (this.kills.size) {
      const deadline = new Promise((resolve) => setTimeout(resolve, 5000).unref());
      await Promise.race([Promise.all(this.kills), deadline]);
    }
    this.ssh.dispose();
  }
}
