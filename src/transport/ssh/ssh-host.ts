import { randomBytes } from 'node:crypto';
import http from 'node:http';
import net from 'node:net';
import type { Duplex } from 'node:stream';
import { isDeepStrictEqual } from 'node:util';
import { NodeSSH } from 'node-ssh';
import type { ShellCommand } from '../remote/shell-command.ts';
import type { RsyncHop, RsyncSshSettings } from '../local/rsync.ts';
import type { ExecOptions, ExecResult, RemoteHost } from '../remote-host.ts';
import { authHandlerFor, describePlan, planKeys, type Credential } from './authentication.ts';
import { SshConnectError } from './errors.ts';
import { HostKeyCheckState } from './host-key.ts';
import { PreparedShell } from './prepared-shell.ts';
import { parseProxyJump, ProxyJumpError } from './proxy-jump.ts';
import { resolveSshHost, SshSettingsError, type SshSettings } from './resolve-host.ts';
import type { SshFiles } from './ssh-files.ts';
import { signKeyFilesAtOnce } from './signed-first.ts';

export { HostKeyError, SshConnectError } from './errors.ts';

export interface SshOptions {
  /** The home whose `.ssh/config`, keys and known_hosts are used. */
  home: string;
  connectTimeoutMs: number;
  /** For `SSH_AUTH_SOCK` and `${VAR}` in the config. Default `process.env`. */
  env?: Record<string, string | undefined>;
  /** The config, keys and known_hosts as read (re-read once changed): shared by the connections of a process. */
  files: SshFiles;
  /**
   * How many commands the caller will run, when it knows (a run: its pipeline says): up to
   * SPARE_SHELLS shells are then kept open ahead, but none beyond that many commands (once past
   * it, one ahead). Unknown: one ahead. The first command usually goes in an exec request of its own
   * (see takeShell), so the shell opened for it then serves the next one, or none.
   */
  commands?: number;
  /**
   * Called by close() with a connection that could serve another user (see SshHost.reusable): true
   * when it took it (a pool, see connection-pool.ts), which then owns it; false, or absent: it closes.
   */
  release?: (host: SshHost) => boolean;
}

export interface HttpResult {
  status: number;
  body: string;
}

/** Marks the first line of stderr with the remote shell's pid, which is its process group (sshd setsid()s). */
const PGID_MARKER = '__deploy_server_pgid=';

/** At most this many shells are kept open ahead of the commands that will use them (see SshHost.spares). */
const SPARE_SHELLS = 2;

/** A ProxyJump chain longer than this is a loop in the config (OpenSSH has no limit but its own argv). */
const MAX_JUMP_DEPTH = 8;

/** One open SSH connection of a chain: a jump host, or the host itself (the last). */
interface Hop {
  settings: SshSettings;
  ssh: NodeSSH;
  /** What authenticated: rsync's ssh uses the same for this hop. */
  credential: Credential;
  notes: string[];
  /** The host key (or certificate) it presented, as ssh2 passed it to the verifier: re-checked before a reuse. */
  hostKey: Buffer;
}

function describe(settings: SshSettings): string {
  return `${settings.alias} (${settings.user}@${settings.hostname}:${settings.port})`;
}

function withNotes(message: string, notes: string[]): string {
  return notes.length ? `${message}; ${notes.join('; ')}` : message;
}

function uncork(socket: net.Socket): void {
  socket.uncork();
}

/**
 * The TCP connection ssh2 would open itself for `host:port`, sending what is written to it in one
 * tick with one system call (as Node's http corks a response for a tick). Without the binding ssh2
 * writes each packet as three writes (length, ciphertext, tag), and a command's data and EOF, or a
 * channel's close and the next one's open, are more packets of the same tick: on a fast link each
 * write(2) costs more than what it carries. Nothing waits longer: the tick ends before any I/O.
 */
function connectTcp(settings: SshSettings): net.Socket {
  const socket = net.connect({ host: settings.hostname, port: settings.port });
  socket.setMaxListeners(0);
  // On the instance, after connect(): connect() puts Socket.prototype.write back (a subclass's is lost).
  const write = socket.write;
  socket.write = function (this: net.Socket, ...args: Parameters<net.Socket['write']>) {
    if (!this.writableCorked) {
      this.cork();
      process.nextTick(uncork, this);
    }
    return (write as (...a: unknown[]) => boolean).apply(this, args);
  } as net.Socket['write'];
  return socket;
}

/** Opens one SSH connection, directly or over `sock` (a channel through the previous hop). */
async function openHop(settings: SshSettings, via: Hop | undefined, options: SshOptions, role: string): Promise<Hop> {
  const where = `${role}${describe(settings)}`;
  const hostKeys = new HostKeyCheckState({ ...settings, reachedVia: via?.settings.alias }, options.files.knownHosts);
  const serverHostKey = hostKeys.algorithms; // before any socket: a HostKeyAlgorithms leaving none fails here
  const sock = via === undefined ? undefined : await forwardThrough(via, settings);
  const plan = await planKeys(settings, options.connectTimeoutMs, options.files.keys);
  if (plan.agent === undefined && plan.files.length === 0) {
    sock?.destroy();
    throw new SshConnectError(withNotes(`cannot connect to ${where}: ${describePlan(plan)}`, plan.notes));
  }
  const auth = authHandlerFor(plan, settings.user);
  let hostKey: Buffer | undefined;
  const hostVerifier = (blob: Buffer): boolean => {
    hostKey = blob;
    return hostKeys.verify(blob);
  };
  const ssh = new NodeSSH();
  // Authentication begins with the first call: ssh2's protocol object exists then.
  let firstAuth = true;
  const authHandler: typeof auth.handler = (methodsLeft, partial, next) => {
    if (firstAuth) signKeyFilesAtOnce(ssh.connection!);
    firstAuth = false;
    return auth.handler(methodsLeft, partial, next);
  };
  try {
    // ssh2 listens to the socket from within this call, before the socket can say anything.
    await ssh.connect({
      sock: sock ?? connectTcp(settings),
      username: settings.user,
      authHandler,
      readyTimeout: options.connectTimeoutMs,
      keepaliveInterval: settings.serverAliveInterval > 0 ? settings.serverAliveInterval * 1000 : 15_000,
      keepaliveCountMax: settings.serverAliveCountMax,
      hostVerifier,
      algorithms: { serverHostKey },
    } as never);
  } catch (error) {
    ssh.dispose();
    sock?.destroy();
    const refused = hostKeys.refusal();
    if (refused) throw refused;
    const message = (error as Error).message;
    if (/authentication methods failed/.test(message)) {
      throw new SshConnectError(withNotes(`cannot connect to ${where}: no key was accepted (${describePlan(plan)})`, plan.notes));
    }
    if (/^Unsupported algorithm: .*-cert-v01@openssh\.com$/.test(message)) {
      // A CA line covers the host, and this ssh2 was installed without scripts/patch-ssh2.js.
      throw new SshConnectError(`cannot connect to ${where}: known_hosts trusts a certificate authority for it, and host certificates need ssh2 patched: run \`node scripts/patch-ssh2.js\` (npm ci does)`);
    }
    throw new SshConnectError(`cannot connect to ${where}: ${message}`);
  }
  // node-ssh drops its error listener once connected: a later keepalive error would crash us.
  ssh.connection!.on('error', () => undefined);
  // Small request packets must leave at once: with Nagle on, each command waits ~40 ms for a delayed ACK.
  ssh.connection!.setNoDelay(true);
  const credential = auth.lastTried()!;
  const notes = plan.notes.map((note) => (role ? `${settings.alias}: ${note}` : note));
  return { settings, ssh, credential, notes, hostKey: hostKey! };
}

/** A channel from `via` to host:port (`ssh -W`), for the next hop's connection to run over. */
function forwardThrough(via: Hop, next: SshSettings): Promise<Duplex> {
  return new Promise((resolve, reject) => {
    via.ssh.connection!.forwardOut('127.0.0.1', 0, next.hostname, next.port, (error, channel) => {
      if (error) reject(new SshConnectError(`cannot reach ${describe(next)} through the jump host ${describe(via.settings)}: ${error.message}`));
      else resolve(channel as unknown as Duplex);
    });
  });
}

function resolveOrFail(alias: string, options: SshOptions): SshSettings {
  try {
    return resolveSshHost(alias, { home: options.home, env: options.env, configFiles: options.files.config });
  } catch (error) {
    if (error instanceof SshSettingsError) throw new SshConnectError(error.message);
    throw error;
  }
}

/** The settings of each ProxyJump hop: resolved like any alias, the hop's own user and port winning. */
function jumpHosts(settings: SshSettings, options: SshOptions): SshSettings[] {
  let hops;
  try {
    hops = parseProxyJump(settings.proxyJump!);
  } catch (error) {
    if (error instanceof ProxyJumpError) throw new SshConnectError(`cannot connect to ${describe(settings)}: ${error.message}`);
    throw error;
  }
  return hops.map((hop, index) => {
    const resolved = resolveOrFail(hop.host, options);
    // As `ssh -J a,b`: b is reached through a, so only the first hop follows its own ProxyJump.
    return { ...resolved, user: hop.user ?? resolved.user, port: hop.port ?? resolved.port, proxyJump: index === 0 ? resolved.proxyJump : undefined };
  });
}

function closeChain(chain: Hop[]): void {
  for (const hop of [...chain].reverse()) hop.ssh.dispose();
}

/**
 * The settings of every connection to a host, in the order they are opened: its jump hosts first (the
 * first hop's own ProxyJump before it), the host last. Resolved before anything connects.
 */
function chainSettings(settings: SshSettings, options: SshOptions, depth = 0): SshSettings[] {
  if (settings.proxyJump === undefined) return [settings];
  if (depth >= MAX_JUMP_DEPTH) throw new SshConnectError(`cannot connect to ${describe(settings)}: ProxyJump nests more than ${MAX_JUMP_DEPTH} deep (a loop in ~/.ssh/config?)`);
  const jumps = jumpHosts(settings, options);
  return [...chainSettings(jumps[0], options, depth + 1), ...jumps.slice(1), settings];
}

/**
 * Opens the connections to a host: its jump hosts first (OpenSSH's ProxyJump, through ssh2 channels,
 * no `ssh` process), each verified and authenticated on its own; the last one is the host.
 */
async function openChain(hops: SshSettings[], options: SshOptions): Promise<Hop[]> {
  const chain: Hop[] = [];
  try {
    for (const [index, next] of hops.entries()) chain.push(await openHop(next, chain.at(-1), options, index === hops.length - 1 ? '' : 'jump host '));
    return chain;
  } catch (error) {
    closeChain(chain);
    throw error;
  }
}

function rsyncHop(hop: Hop): RsyncHop {
  const { hostname, port, user, hostKeyAlias, knownHostsFiles, algorithmSettings } = hop.settings;
  return { hostname, port, user, hostKeyAlias, knownHostsFiles, ...algorithmSettings, ...(hop.credential.kind === 'agent' ? { agentSocket: hop.credential.socket } : { identityFile: hop.credential.file }) };
}

/**
 * One SSH connection to one host (node-ssh), shared by every step of a run: commands, the health
 * check's HTTP requests (tunnelled), and the settings rsync's own ssh needs to agree with it.
 */
export class SshHost implements RemoteHost {
  /** Kills sent for cancelled commands: close() waits for them, or a cancel would die with the connection. */
  private readonly kills = new Set<Promise<unknown>>();
  /** Set when the connection drops (sshd gone, network cut; any hop): what is running then did not just fail. */
  private lost = false;
  /**
   * Set when a use left the connection in a state no other user may inherit: a cancel or kill was
   * sent, a transport error was seen, a tunnelled request was cut short. Never cleared.
   */
  private tainted = false;
  /** Commands and tunnelled requests under way. */
  private busy = 0;
  private readonly ssh: NodeSSH;

  private constructor(
    readonly settings: SshSettings,
    /** Jump hosts first, the host last. */
    private readonly chain: Hop[],
    /** SshOptions.commands: of the current user. */
    private plannedCommands: number | undefined,
    /** SshOptions.release. */
    private release: ((host: SshHost) => boolean) | undefined,
  ) {
    this.ssh = chain.at(-1)!.ssh;
    for (const hop of chain) {
      hop.ssh.connection!.once('close', () => (this.lost = true));
      hop.ssh.connection!.on('error', () => (this.tainted = true));
    }
  }

  get user(): string {
    return this.settings.user;
  }

  /** Keys left out while connecting (passphrase-protected, unreadable, agent not usable), one line each. */
  get notes(): string[] {
    return this.chain.flatMap((hop) => hop.notes);
  }

  static async connect(alias: string, options: SshOptions): Promise<SshHost> {
    const settings = resolveOrFail(alias, options);
    const host = new SshHost(settings, await openChain(chainSettings(settings, options), options), options.commands, options.release);
    host.prepareShells();
    return host;
  }

  /** When the connection was opened (ms since the epoch): a pool reuses none past its age limit. */
  readonly openedAt = Date.now();
  /** Which connection this is: each use of a pooled one has a handle of its own (connection-pool.ts). */
  readonly id = randomBytes(6).toString('hex');

  /** The connection is still up (no hop has closed). */
  get open(): boolean {
    return !this.lost;
  }

  /**
   * Whether the connection answers now: its next command's shell has started (a round trip to the
   * host and back) within `timeoutMs`. A pool asks after reuse(): sshd or a firewall may have closed
   * an idle connection without our having heard yet, and the run would otherwise fail on its first
   * command (or, on a link gone silent, wait for ever).
   */
  async answers(timeoutMs: number): Promise<boolean> {
    const next = this.spares[0];
    if (next === undefined) return !this.lost;
    let timer: NodeJS.Timeout | undefined;
    const silent = new Promise<boolean>((resolve) => (timer = setTimeout(resolve, timeoutMs, false)));
    try {
      return await Promise.race([next.shell.then(() => !this.lost, () => false), silent]);
    } finally {
      clearTimeout(timer);
    }
  }

  /**
   * Whether it could serve another user now: open, nothing running on it, and nothing in its use
   * that another user must not inherit (a cancel or kill sent, a transport error; see `tainted`).
   */
  get reusable(): boolean {
    return !this.lost && !this.tainted && this.busy === 0 && this.kills.size === 0;
  }

  /**
   * Whether a fresh connection to `alias` would be this one: the alias and each ProxyJump hop resolve
   * to the settings they were opened with, and the host key each hop presented is still trusted by
   * the current known_hosts (a certificate: still valid now). A config that no longer resolves: false.
   */
  matchesFresh(alias: string, options: SshOptions): boolean {
    try {
      const hops = chainSettings(resolveOrFail(alias, options), options);
      if (hops.length !== this.chain.length) return false;
      return this.chain.every((hop, index) => {
        if (!isDeepStrictEqual(hop.settings, hops[index])) return false;
        const via = index === 0 ? undefined : this.chain[index - 1].settings.alias;
        return new HostKeyCheckState({ ...hop.settings, reachedVia: via }, options.files.knownHosts).verify(hop.hostKey);
      });
    } catch {
      return false; // a fresh connection says why, in its own words
    }
  }

  /**
   * Takes it for a new user (from a pool, after reusable and matchesFresh): shells are prepared for
   * its plan, and its first command may again go in an exec request (see takeShell).
   */
  reuse(options: Pick<SshOptions, 'commands' | 'release'>): void {
    this.plannedCommands = options.commands;
    this.release = options.release;
    this.taken = 0;
    this.prepareShells();
  }

  /** Closes every hop at once, whatever runs (a pool's idle connection, which runs nothing). */
  dispose(): void {
    this.discardSpares();
    closeChain(this.chain);
  }

  /** Closes the shells prepared ahead: nobody takes them now. */
  private discardSpares(): void {
    for (const spare of this.spares.splice(0)) void spare.shell.then((shell) => shell.discard(), () => undefined);
  }

  /**
   * The next commands' channels, oldest first, each opened while earlier commands ran (see
   * prepared-shell.ts). Opening one takes two round trips (channel, then exec): with one ahead, a
   * step whose command is shorter than that (a `systemctl restart` after a quick build) waited for
   * its shell; with two ahead, the shell of the step after next is opening while this one runs.
   * `started`: the shell has said its pid (it can take its command at once).
   */
  private readonly spares: { shell: Promise<PreparedShell>; started: boolean }[] = [];
  /** Commands run so far. */
  private taken = 0;
  /** Ends the lines of a command written to a prepared shell: random, so no command line equals it. */
  private readonly endMarker = `__deploy_server_end_${randomBytes(8).toString('hex')}`;

  /** How many shells to keep open ahead now: none beyond the planned commands (see SshOptions.commands). */
  private shellsAhead(): number {
    const planned = this.plannedCommands;
    if (planned === undefined || this.taken > planned) return 1;
    return Math.min(SPARE_SHELLS, planned - this.taken);
  }

  /** Opens channels in the background until as many as shellsAhead() are open or opening; closes any beyond. */
  private prepareShells(): void {
    while (this.spares.length < this.shellsAhead()) {
      const spare = { shell: PreparedShell.open(this.ssh.connection!, PGID_MARKER, this.endMarker), started: false };
      // Nobody may ever take it (the run ends, the connection drops): that is not an error.
      spare.shell.then(() => (spare.started = true), () => undefined);
      this.spares.push(spare);
    }
    while (this.spares.length > this.shellsAhead()) void this.spares.pop()!.shell.then((shell) => shell.discard(), () => undefined);
  }

  /**
   * The shell for this command; another is opened meanwhile. The oldest prepared one, unless there is
   * none, or this is the connection's first command and its shell has not started yet (the command
   * comes right after connecting): then a channel of its own whose exec request carries the command,
   * two round trips where waiting for the shell and writing the command to it takes three. Later
   * shells have been opening for a step's length at least, so waiting for one is as quick.
   */
  private takeShell(command: ShellCommand): Promise<PreparedShell> {
    const next = this.spares[0];
    const atOnce = next === undefined || (this.taken === 0 && !next.started);
    // A command too long for an exec request (startWith says undefined) waits for a prepared shell.
    const shell = (atOnce ? PreparedShell.startWith(this.ssh.connection!, PGID_MARKER, command.command) : undefined)
      ?? this.spares.shift()?.shell
      ?? PreparedShell.open(this.ssh.connection!, PGID_MARKER, this.endMarker);
    this.taken++;
    this.prepareShells();
    return shell;
  }

  /**
   * Runs a command, streaming output, on a channel of its own (opened ahead, or carrying the command
   * in its exec request). Cancel kills the remote process group (the remote shell's `$$`, as soon as
   * the shell has said it), which works for root and non-root users alike, with no pty.
   */
  async exec(command: ShellCommand, options: ExecOptions = {}): Promise<ExecResult> {
    if (options.signal?.aborted) throw options.signal.reason;
    if (this.lost) throw this.lostError(command);
    this.busy++;
    try {
      return await this.execBusy(command, options);
    } catch (error) {
      // Whatever failed here (a cancel, a timeout, the transport): the connection is not handed on.
      this.tainted = true;
      throw error;
    } finally {
      this.busy--;
    }
  }

  private async execBusy(command: ShellCommand, options: ExecOptions): Promise<ExecResult> {
    // A transport failure (the connection reset, sshd gone) is not the command failing: say so.
    const shell = await this.takeShell(command).catch((error) => {
      throw options.signal?.aborted ? options.signal.reason : this.lostError(command, error);
    });
    const killRemote = () => {
      this.tainted = true;
      const kill = shell.pgid.then((pgid) => this.ssh.execCommand(`kill -KILL -- -${pgid}`)).catch(() => undefined);
      this.kills.add(kill);
      void kill.finally(() => this.kills.delete(kill));
    };
    if (options.signal?.aborted) {
      if (shell.commandRunning) {
        // Running since its exec request went out: killed once its pid is known. Until then it gets its
        // real stdin, so a command quicker than the kill runs as written, never with its input cut short.
        killRemote();
        void shell.run(command.command, command.stdin, () => undefined).catch(() => undefined);
      } else {
        shell.discard();
      }
      throw options.signal.reason;
    }
    options.signal?.addEventListener('abort', killRemote, { once: true });
    try {
      const result = await shell.run(command.command, command.stdin, (text) => options.onOutput?.(text)).catch((error: Error) => {
        if (options.signal?.aborted) throw options.signal.reason;
        throw this.lost ? this.lostError(command, error) : new SshConnectError(`cannot run commands on ${describe(this.settings)}: ${error.message}`);
      });
      if (options.signal?.aborted) throw options.signal.reason;
      if (result.code === null) {
        // No exit status: killed by a signal, or the channel or connection went away.
        this.tainted = true;
        if (this.lost) throw this.lostError(command);
      }
      return { code: result.code ?? 128, stdout: result.stdout, stderr: result.stderr };
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
  async httpGet(port: number, path: string, timeoutMs: number): Promise<HttpResult> {
    this.busy++;
    try {
      return await this.tunnelledGet(port, path, timeoutMs);
    } finally {
      this.busy--;
    }
  }

  private tunnelledGet(port: number, path: string, timeoutMs: number): Promise<HttpResult> {
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
        this.tainted = true; // a request cut short: its channel may linger
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

  /** What rsync's own ssh must agree on with this connection: every hop, with the key that authenticated it. */
  rsyncSsh(connectTimeoutMs: number): RsyncSshSettings {
    return { hops: this.chain.map(rsyncHop), connectTimeoutMs };
  }

  /**
   * Ends this user's use: the prepared shells go; then a reusable connection goes to SshOptions.release
   * when that takes it, and any other closes.
   */
  async close(): Promise<void> {
    this.discardSpares();
    // A pool's connection is closed once per use (each use has a handle of its own: connection-pool.ts).
    if (this.release !== undefined && this.reusable && this.release(this)) return;
    if (this.kills.size) {
      const deadline = new Promise((resolve) => setTimeout(resolve, 5000).unref());
      await Promise.race([Promise.all(this.kills), deadline]);
    }
    closeChain(this.chain);
  }
}
