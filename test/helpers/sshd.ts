/**
 * End-to-end test harness: a real OpenSSH sshd on 127.0.0.1 with a per-instance key pair, with
 * stand-ins for `systemctl` and `docker` first on the remote PATH (see test/fixtures/standins/).
 * It runs in one of two ways, chosen by who runs the tests:
 *
 * - as root: sshd logs in the dedicated user `deploytest`, who has sudo (the harness creates the user
 *   and /etc/sudoers.d/deploytest, shared and idempotent), so the product's `sudo -n` path is real.
 *   Needs /usr/sbin/sshd, ssh, ssh-keygen, sudo, visudo, setpriv (util-linux).
 * - as any other user: sshd runs unprivileged (no privilege separation, no /run/sshd) and can only log
 *   in that same user, who has no sudo: the product is told so (`DEPLOY_SUDO=never` in `env`) and the
 *   systemctl stand-in lets the user manage units, as a polkit rule would on a real host. Needs
 *   /usr/sbin/sshd, ssh, ssh-keygen, and a login shell for the user.
 *
 * Every instance has its own temp dir, port, host key, client key, stand-in log and unit dir, so
 * several may run at once in different processes.
 *
 * Note: the OpenSSH client ignores $HOME (it reads ~/.ssh from the passwd entry), so the fake `home`
 * only serves tools that honour HOME (os.homedir(), our SSH transport); a real `ssh`/`rsync -e ssh`
 * needs `-F <sshConfigFile>` (see `sshArgs`).
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { once } from 'node:events';
import { skipUnlessAllowed } from './skip.ts';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before } from 'node:test';

export const DEPLOY_USER = 'deploytest';
export const SUDOERS_FILE = '/etc/sudoers.d/deploytest';
export const STANDINS_SOURCE_DIR = new URL('../fixtures/standins/', import.meta.url).pathname;
const SSHD = '/usr/sbin/sshd';

/** The sudoers drop-in shared by every instance. `!secure_path` keeps the caller's PATH, so
 * `sudo -n systemctl …` finds the stand-in; env_keep lets the stand-ins' STANDIN_* settings through. */
export const SUDOERS_CONTENT = [
  '# Written by test/helpers/sshd.ts for the end-to-end deploy tests.',
  `${DEPLOY_USER} ALL=(ALL) NOPASSWD: ALL`,
  `Defaults:${DEPLOY_USER} !secure_path`,
  `Defaults:${DEPLOY_USER} env_keep += "STANDIN_*"`,
  '',
].join('\n');

export interface SshResult {
  code: number;
  stdout: string;
  stderr: string;
}

export interface SshOptions {
  /** Host alias to connect to (default: the first alias). */
  alias?: string;
  /** Rejects (after killing ssh) when the command has not finished in time. Default 30 s. */
  timeoutMs?: number;
  /** Written to the remote command's stdin (otherwise stdin is /dev/null). */
  input?: string;
}

export interface StandinCall {
  /** The line of `calls()`, e.g. `systemctl restart my_app`. */
  line: string;
  /** The user the stand-in ran as: `root` when called through sudo, else `deploytest`. */
  user: string;
  /** The working directory of the call. */
  cwd: string;
}

export type HostKeyType = 'ed25519' | 'rsa' | 'ecdsa';

export interface SshdHarnessOptions {
  /** Host aliases written to the fake HOME's ssh config, all pointing at this sshd. Default ['testhost']. */
  aliases?: string[];
  /** The host keys sshd serves, one of each type. Default ['ed25519']. */
  hostKeyTypes?: HostKeyType[];
  /** Which of them the fake HOME's known_hosts holds for it. Default all of them. */
  knownHostKeyTypes?: HostKeyType[];
  /** The loopback address sshd listens on (any 127.x.y.z works on Linux). Default 127.0.0.1. */
  listenAddress?: string;
  /** More sshd_config lines (e.g. `LogLevel DEBUG1`). */
  sshdConfig?: string[];
}

export interface SshdHarness {
  port: number;
  /**
   * Whether the SSH user has sudo: true as root (the dedicated user `deploytest`), false as any other
   * user (sshd logs in that user itself; `env` holds DEPLOY_SUDO=never).
   */
  sudo: boolean;
  /** The user the product's systemctl calls run as: `root` through sudo, else the SSH user. */
  systemctlUser: string;
  /** `command` as the product runs a privileged one for this SSH user: `sudo -n command`, or as it is. */
  privileged(command: string): string;
  /** The address sshd listens on. */
  listenAddress: string;
  /** The public host keys, `type base64`, by key type. */
  hostKeys: Partial<Record<HostKeyType, string>>;
  user: string;
  uid: number;
  /** The SSH user's home directory (from the passwd entry), where its sessions start. */
  userHome: string;
  /** The first alias. */
  alias: string;
  aliases: string[];
  /** Fake HOME: .ssh/config, .ssh/id_ed25519(.pub), .ssh/known_hosts. */
  home: string;
  identityFile: string;
  knownHostsFile: string;
  sshConfigFile: string;
  /** `{ HOME: home }` (and DEPLOY_SUDO=never when the user has no sudo), to spread into the env of deploy_server. */
  env: Record<string, string>;
  /** Options for the real OpenSSH client: `['-F', sshConfigFile]` (`ssh ...sshArgs alias cmd`, `rsync -e 'ssh -F …'`). */
  sshArgs: string[];
  /** STANDIN_LOG: one line per stand-in call. Its companion `${logFile}.ctx` has user and cwd too. */
  logFile: string;
  /** STANDIN_UNIT_DIR: units (<name>.service) and the systemctl stand-in's state (<name>.pid, <name>.log). */
  unitDir: string;
  /** Root of everything, removed by stop(). */
  tmpDir: string;
  /** A directory owned by deploytest, for the remote_dir of test targets. */
  workDir: string;
  /** The copies of the stand-ins, first on the remote PATH. */
  standinsDir: string;
  /** sshd's own log (-e), handy when a connection is refused. */
  sshdLogFile: string;
  /** Lines of the stand-in log, in call order. */
  calls(): string[];
  /** Same calls with the user and the working directory of each. */
  callDetails(): StandinCall[];
  clearCalls(): void;
  /** Docker subcommands (compose subcommands for `docker compose`, e.g. 'pull', 'up') that should fail with exit 1. */
  setDockerFail(subcommands: string[]): void;
  /** Docker subcommands (as for setDockerFail) that hang until killed; the pid of the last one that hung is `dockerHangPid()`. */
  setDockerHang(subcommands: string[]): void;
  /** The next `systemctl <verb>` (e.g. 'restart') fails with exit 1; the one after works again. */
  failNextSystemctl(verb: string): void;
  /**
   * The next call of the command `name` (e.g. 'chmod') on the remote PATH fails with exit 1 and
   * `message` on stderr; the calls after it run the real command (a wrapper first on PATH).
   */
  failNextCommand(name: string, message: string): void;
  /** Lets the SSH user manage units without sudo (like a polkit rule), or (false) not. Initially `!sudo`. */
  allowUserSystemctl(allowed: boolean): void;
  dockerHangPid(): number | null;
  /** Writes `<unitDir>/<name>.service`. */
  writeUnit(name: string, content: string): string;
  /** The live main pid of a unit started by the systemctl stand-in, or null. */
  servicePid(name: string): number | null;
  /** Runs a command with the real OpenSSH client: `ssh -F <config> <alias> <command>`. */
  ssh(command: string, options?: SshOptions): Promise<SshResult>;
  /** Stops sshd (for fault tests); by default also drops the open connections. */
  stopSshd(options?: { keepConnections?: boolean }): Promise<void>;
  /** Starts sshd again, same port and keys. */
  startSshd(): Promise<void>;
  /** Kills sshd, its connections and every service the systemctl stand-in started, removes tmpDir. Idempotent. */
  stop(): Promise<void>;
}

// ---------------------------------------------------------------------------------------------------
// small process helpers

interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

function run(file: string, args: string[], options: { input?: string; timeoutMs?: number } = {}): Promise<RunResult> {
  return new Promise((resolve) => {
    const child = execFile(file, args, { timeout: options.timeoutMs ?? 30_000, killSignal: 'SIGKILL' }, (error, stdout, stderr) => {
      const code = error ? (typeof error.code === 'number' ? error.code : 1) : 0;
      resolve({ code, stdout: String(stdout), stderr: String(stderr) + (error && typeof error.code !== 'number' ? `\n${error.message}` : '') });
    });
    if (options.input !== undefined) child.stdin!.end(options.input);
    else child.stdin!.end();
  });
}

async function mustRun(file: string, args: string[]): Promise<RunResult> {
  const result = await run(file, args);
  if (result.code !== 0) throw new Error(`${file} ${args.join(' ')} failed (${result.code}): ${result.stderr}${result.stdout}`);
  return result;
}

/** True when the process exists and is not a zombie (the container's PID 1 may not reap orphans). */
export function processAlive(pid: number): boolean {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
    return state !== 'Z' && state !== 'X';
  } catch {
    return false;
  }
}

/**
 * The pid in a stand-in pid file, if that process is still the one the stand-in started: alive, the
 * leader of its own session (setsid) and started when the pid file was written. Guards the cleanup
 * against a pid reused by an unrelated process after the service died.
 */
function startedBy(pidFile: string): number | null {
  try {
    const pid = Number(fs.readFileSync(pidFile, 'utf8').trim());
    if (!Number.isInteger(pid) || pid <= 0 || !processAlive(pid)) return null;
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' '); // fields[0] is field 3 (state)
    const sid = Number(fields[3]);
    const startTicks = Number(fields[19]);
    const bootTime = Number(/^btime (\d+)$/m.exec(fs.readFileSync('/proc/stat', 'utf8'))?.[1]);
    const startedAt = bootTime + startTicks / 100; // USER_HZ is 100 on Linux
    const writtenAt = fs.statSync(pidFile).mtimeMs / 1000;
    return sid === pid && Math.abs(startedAt - writtenAt) < 10 ? pid : null;
  } catch {
    return null;
  }
}

/** pid and all its descendants, found through /proc (parents first). */
function processTree(root: number): number[] {
  const children = new Map<number, number[]>();
  for (const entry of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = fs.readFileSync(`/proc/${entry}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      const list = children.get(ppid) ?? [];
      list.push(Number(entry));
      children.set(ppid, list);
    } catch {
      // gone meanwhile
    }
  }
  const tree = [root];
  for (let i = 0; i < tree.length; i++) tree.push(...(children.get(tree[i]) ?? []));
  return tree;
}

function signal(pid: number, sig: NodeJS.Signals, group = false): void {
  try {
    process.kill(group ? -pid : pid, sig);
  } catch {
    if (group) signal(pid, sig, false);
  }
}

async function waitDead(pids: number[], timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (pids.some(processAlive)) {
    if (Date.now() > deadline) return false;
    await sleep(20);
  }
  return true;
}

/** SIGTERM, then SIGKILL after a grace period. `group`: signal the process group led by each pid. */
async function terminate(pids: number[], group = false, graceMs = 3000): Promise<void> {
  const alive = pids.filter(processAlive);
  if (alive.length === 0) return;
  for (const pid of alive) signal(pid, 'SIGTERM', group);
  if (await waitDead(alive, graceMs)) return;
  for (const pid of alive) signal(pid, 'SIGKILL', group);
  await waitDead(alive, 2000);
}

function freePort(address = '127.0.0.1'): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.unref();
    server.once('error', reject);
    server.listen(0, address, () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

/** Connects and reads the identification line: proves an SSH server answers on the port. */
function readBanner(port: number, address = '127.0.0.1'): Promise<string | null> {
  return new Promise((resolve) => {
    const socket = net.connect({ host: address, port });
    let data = '';
    let settled = false;
    const done = (banner: string | null) => {
      if (settled) return;
      settled = true;
      socket.destroy();
      resolve(banner);
    };
    socket.setTimeout(2000, () => done(null));
    socket.on('data', (chunk) => {
      data += chunk.toString('latin1');
      const end = data.indexOf('\n');
      if (end >= 0) done(data.slice(0, end).trim());
    });
    socket.on('error', () => done(null));
    socket.on('close', () => done(null));
  });
}

// ---------------------------------------------------------------------------------------------------
// Last-resort cleanup: when the test process ends without stop() (crash, exit, Ctrl-C, SIGTERM from
// the test runner), kill what the instances started and remove their temp dirs, synchronously.

const emergencyCleanups = new Set<() => void>();
let processHandlersInstalled = false;

function runEmergencyCleanups(): void {
  for (const cleanup of emergencyCleanups) {
    try {
      cleanup();
    } catch {
      // best effort
    }
  }
  emergencyCleanups.clear();
}

function installProcessHandlers(): void {
  if (processHandlersInstalled) return;
  processHandlersInstalled = true;
  process.on('exit', runEmergencyCleanups);
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    const handler = () => {
      runEmergencyCleanups();
      // Keep the default behaviour (terminate) unless someone else handles the signal.
      if (process.listenerCount(sig) === 1) {
        process.removeListener(sig, handler);
        process.kill(process.pid, sig);
      }
    };
    process.on(sig, handler);
  }
}

// ---------------------------------------------------------------------------------------------------
// machine setup: as root the dedicated user and its sudoers drop-in (shared, idempotent); as anyone
// else the user running the tests

/** The SSH user of every instance in this process. */
interface SshUser {
  name: string;
  uid: number;
  gid: number;
  home: string;
  sudo: boolean;
}

let machineReady: Promise<SshUser> | undefined;

function runningAsRoot(): boolean {
  return process.getuid?.() === 0;
}

async function ensureUser(): Promise<{ uid: number; gid: number }> {
  for (let attempt = 0; attempt < 50; attempt++) {
    const id = await run('id', ['-u', DEPLOY_USER]);
    if (id.code === 0) {
      const gid = await mustRun('id', ['-g', DEPLOY_USER]);
      return { uid: Number(id.stdout.trim()), gid: Number(gid.stdout.trim()) };
    }
    // Another process may be creating it at the same moment: "already exists" (9) or the passwd
    // lock being busy (10) are both fine, we just look again.
    const added = await run('useradd', ['-m', '-p', '*', '-s', '/bin/bash', DEPLOY_USER]);
    if (added.code !== 0 && added.code !== 9 && added.code !== 10) {
      throw new Error(`useradd ${DEPLOY_USER} failed (${added.code}): ${added.stderr}`);
    }
    if (added.code !== 0) await sleep(50 + Math.random() * 100);
  }
  throw new Error(`could not create the user ${DEPLOY_USER}`);
}

async function ensureSudoers(): Promise<void> {
  try {
    if (fs.readFileSync(SUDOERS_FILE, 'utf8') === SUDOERS_CONTENT) return;
  } catch {
    // absent
  }
  // Files whose name contains a dot are ignored by sudo's @includedir: a safe temp name. Validate it,
  // then rename over the real one (atomic, so concurrent writers never expose a partial file).
  const temp = `${SUDOERS_FILE}.tmp-${process.pid}-${Math.random().toString(36).slice(2)}`;
  fs.writeFileSync(temp, SUDOERS_CONTENT, { mode: 0o440 });
  try {
    fs.chmodSync(temp, 0o440);
    await mustRun('visudo', ['-cf', temp]);
    fs.renameSync(temp, SUDOERS_FILE);
  } finally {
    fs.rmSync(temp, { force: true });
  }
}

/** sshd's privilege separation directory, needed only by an sshd running as root. Every new connection
 * needs it ("Missing privilege separation directory: /run/sshd" and the connection is dropped before
 * the banner otherwise), and other sshd setups on the machine may remove it when they clean up:
 * checked again before each use. */
function ensurePrivsepDir(): void {
  if (runningAsRoot()) fs.mkdirSync('/run/sshd', { recursive: true, mode: 0o755 });
}

/** The tools the harness needs here, root or not. */
function requiredTools(): string[] {
  return runningAsRoot() ? [SSHD, '/usr/bin/ssh', '/usr/bin/ssh-keygen', '/usr/bin/sudo', '/usr/sbin/visudo', '/usr/bin/setpriv'] : [SSHD, '/usr/bin/ssh', '/usr/bin/ssh-keygen'];
}

function ensureMachine(): Promise<SshUser> {
  machineReady ??= (async () => {
    const reason = sshdHarnessUnavailable();
    if (reason) throw new Error(reason);
    if (!runningAsRoot()) {
      const me = os.userInfo(); // the passwd entry, whatever $HOME says: it is what sshd uses
      return { name: me.username, uid: me.uid, gid: me.gid, home: me.homedir, sudo: false };
    }
    ensurePrivsepDir();
    const { uid, gid } = await ensureUser();
    await ensureSudoers();
    const home = (await mustRun('getent', ['passwd', DEPLOY_USER])).stdout.split(':')[5];
    return { name: DEPLOY_USER, uid, gid, home, sudo: true };
  })();
  machineReady.catch(() => (machineReady = undefined));
  return machineReady;
}

/** Why the harness cannot run here, or null when it can. */
export function sshdHarnessUnavailable(): string | null {
  if (process.platform !== 'linux') return 'the sshd harness runs on Linux only';
  for (const tool of requiredTools()) {
    if (!fs.existsSync(tool)) return `the sshd harness needs ${tool} (apt-get install openssh-server openssh-client sudo util-linux)`;
  }
  if (!runningAsRoot() && /\/(nologin|false)$/.test(os.userInfo().shell ?? '')) {
    return `the sshd harness logs in the user running the tests, ${os.userInfo().username}, whose login shell ${os.userInfo().shell} runs no command`;
  }
  return null;
}

/**
 * The `skip` of every real-deploy test: false where the harness can run. Where it cannot, the tests
 * run anyway and fail with the reason — a green run must hold real deploys — unless
 * DEPLOY_TESTS_ALLOW_SKIP=1 says a skip is wanted (then they are skipped, with the reason).
 */
export function skipWithoutSshd(env: NodeJS.ProcessEnv = process.env): string | false {
  return skipUnlessAllowed(sshdHarnessUnavailable(), env);
}

/**
 * The `skip` of a test of the product's `sudo -n` path itself: only as root does the harness have an
 * SSH user with sudo. As any other user such a test is skipped, saying it needs root.
 */
export function skipWithoutSudo(what: string): string | false {
  return runningAsRoot() ? false : `needs root: ${what} needs an SSH user with sudo, which the harness has only when the tests run as root`;
}

// ---------------------------------------------------------------------------------------------------

export async function startSshdHarness(options: SshdHarnessOptions = {}): Promise<SshdHarness> {
  const aliases = options.aliases?.length ? [...options.aliases] : ['testhost'];
  const hostKeyTypes = options.hostKeyTypes?.length ? [...options.hostKeyTypes] : (['ed25519'] as HostKeyType[]);
  const knownHostKeyTypes = options.knownHostKeyTypes ?? hostKeyTypes;
  const listenAddress = options.listenAddress ?? '127.0.0.1';
  const sshUser = await ensureMachine();
  const { uid, gid } = sshUser;

  const tmpDir = fs.mkdtempSync(path.join(os.tmpdir(), 'deploy-sshd-'));
  let sshd: ChildProcess | undefined;
  let stopped = false;

  const standinsDir = path.join(tmpDir, 'bin');
  const home = path.join(tmpDir, 'home');
  const dotSsh = path.join(home, '.ssh');
  const unitDir = path.join(tmpDir, 'units');
  const workDir = path.join(tmpDir, 'remote');
  const logFile = path.join(tmpDir, 'standin-calls.log');
  const dockerFailFile = path.join(tmpDir, 'docker-fail');
  const hostKeyFile = (type: HostKeyType) => path.join(tmpDir, `ssh_host_${type}_key`);
  const dockerHangFile = path.join(tmpDir, 'docker-hang');
  const systemctlFailFile = path.join(tmpDir, 'systemctl-fail-once');
  const systemctlUserOkFile = path.join(tmpDir, 'systemctl-user-ok');
  const authorizedKeys = path.join(tmpDir, 'authorized_keys');
  const sshdConfig = path.join(tmpDir, 'sshd_config');
  const sshdLogFile = path.join(tmpDir, 'sshd.log');
  const identityFile = path.join(dotSsh, 'id_ed25519');
  const knownHostsFile = path.join(dotSsh, 'known_hosts');
  const sshConfigFile = path.join(dotSsh, 'config');

  /** Live services started by this instance's systemctl stand-in (pid files in unitDir). */
  const servicePids = (): number[] => {
    try {
      return fs
        .readdirSync(unitDir)
        .filter((f) => f.endsWith('.pid'))
        .map((f) => path.join(unitDir, f))
        .map(startedBy)
        .filter((pid): pid is number => pid !== null);
    } catch {
      return [];
    }
  };
  /** A docker stand-in call left hanging (setDockerHang) by a test that failed before it was killed. */
  const hungDocker = (): number[] => {
    try {
      const pid = Number(fs.readFileSync(`${dockerHangFile}.pid`, 'utf8').trim());
      return pid > 0 && processAlive(pid) && fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8') === 'sleep\u00003600\u0000' ? [pid] : [];
    } catch {
      return [];
    }
  };
  /** Kills everything this instance started, synchronously, if the test process ends without stop(). */
  const onExit = () => {
    for (const pid of servicePids()) signal(pid, 'SIGKILL', true);
    if (sshd?.pid !== undefined && sshd.exitCode === null) for (const pid of processTree(sshd.pid)) signal(pid, 'SIGKILL');
    fs.rmSync(tmpDir, { recursive: true, force: true });
  };
  installProcessHandlers();
  emergencyCleanups.add(onExit);

  try {
    // The deploy user must traverse tmpDir (mkdtemp makes it 0700), read the stand-ins and
    // authorized_keys (sshd reads it as the user), and write the log, the unit dir and workDir
    // (as root it is deploytest; otherwise the chown gives them to their owner already).
    fs.chmodSync(tmpDir, 0o755);
    fs.mkdirSync(standinsDir, { mode: 0o755 });
    for (const name of fs.readdirSync(STANDINS_SOURCE_DIR)) {
      fs.copyFileSync(path.join(STANDINS_SOURCE_DIR, name), path.join(standinsDir, name));
      fs.chmodSync(path.join(standinsDir, name), 0o755);
    }
    fs.mkdirSync(dotSsh, { recursive: true, mode: 0o700 });
    for (const dir of [unitDir, workDir]) {
      fs.mkdirSync(dir, { mode: 0o775 });
      fs.chownSync(dir, uid, gid);
      fs.chmodSync(dir, 0o775);
    }
    for (const file of [logFile, `${logFile}.ctx`, dockerFailFile, dockerHangFile, `${dockerHangFile}.pid`, systemctlFailFile, systemctlUserOkFile]) {
      fs.writeFileSync(file, '');
      fs.chmodSync(file, 0o666);
    }
    // A user without sudo manages its units itself, as a polkit rule would let it on a real host.
    if (!sshUser.sudo) fs.writeFileSync(systemctlUserOkFile, 'yes\n');

    await Promise.all([
      ...hostKeyTypes.map((type) => mustRun('ssh-keygen', ['-q', '-t', type, '-N', '', '-C', 'deploy-sshd-harness-host', '-f', hostKeyFile(type)])),
      mustRun('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'deploy-sshd-harness-client', '-f', identityFile]),
    ]);
    fs.writeFileSync(authorizedKeys, fs.readFileSync(`${identityFile}.pub`, 'utf8'), { mode: 0o644 });
    fs.chmodSync(authorizedKeys, 0o644);
  } catch (error) {
    emergencyCleanups.delete(onExit);
    fs.rmSync(tmpDir, { recursive: true, force: true });
    throw error;
  }

  const setEnv: Record<string, string> = {
    PATH: `${standinsDir}:/usr/local/bin:/usr/bin:/bin`,
    STANDIN_LOG: logFile,
    STANDIN_UNIT_DIR: unitDir,
    STANDIN_DOCKER_FAIL_FILE: dockerFailFile,
    STANDIN_DOCKER_HANG_FILE: dockerHangFile,
    STANDIN_SYSTEMCTL_FAIL_ONCE_FILE: systemctlFailFile,
    STANDIN_SYSTEMCTL_USER_OK_FILE: systemctlUserOkFile,
  };

  const writeSshdConfig = (port: number) => {
    const lines = [
      `Port ${port}`,
      `ListenAddress ${listenAddress}`,
      ...hostKeyTypes.map((type) => `HostKey ${hostKeyFile(type)}`),
      `PidFile ${path.join(tmpDir, 'sshd.pid')}`,
      `AuthorizedKeysFile ${authorizedKeys}`,
      'StrictModes no',
      'UsePAM no',
      'PubkeyAuthentication yes',
      'PasswordAuthentication no',
      'KbdInteractiveAuthentication no',
      'AuthenticationMethods publickey',
      'PermitRootLogin no',
      `AllowUsers ${sshUser.name}`,
      'UseDNS no',
      'PrintMotd no',
      'PrintLastLog no',
      'MaxStartups 100:30:200',
      'MaxSessions 100',
      'LoginGraceTime 30',
      'Subsystem sftp internal-sftp',
      // The post-quantum key exchanges cost ~100 ms per connection here; the tests open many.
      'KexAlgorithms -sntrup*,mlkem*',
      `SetEnv ${Object.entries(setEnv).map(([k, v]) => `"${k}=${v}"`).join(' ')}`,
      ...(options.sshdConfig ?? []),
    ];
    fs.writeFileSync(sshdConfig, lines.join('\n') + '\n', { mode: 0o644 });
  };

  /** Spawns sshd on the port; resolves once it answers, rejects with its log when it exits. */
  const spawnSshd = async (port: number): Promise<void> => {
    ensurePrivsepDir();
    writeSshdConfig(port);
    const logStart = fs.existsSync(sshdLogFile) ? fs.statSync(sshdLogFile).size : 0;
    const logFd = fs.openSync(sshdLogFile, 'a');
    const child = spawn(SSHD, ['-D', '-e', '-f', sshdConfig], { stdio: ['ignore', logFd, logFd] });
    fs.closeSync(logFd);
    sshd = child;
    const newLog = () => fs.readFileSync(sshdLogFile, 'utf8').slice(logStart);
    const deadline = Date.now() + 15_000;
    while (true) {
      if (child.exitCode !== null || child.signalCode !== null) {
        throw Object.assign(new Error(`sshd exited (${child.exitCode ?? child.signalCode}):\n${newLog()}`), { sshdLog: newLog() });
      }
      if (newLog().includes(`Server listening on ${listenAddress} port ${port}`)) {
        const banner = await readBanner(port, listenAddress);
        if (banner?.startsWith('SSH-2.0-') && child.exitCode === null) return;
      }
      if (Date.now() > deadline) {
        await terminate([child.pid!]);
        throw new Error(`sshd did not answer on port ${port} within 15 s:\n${newLog()}`);
      }
      await sleep(25);
    }
  };

  const killSshd = async (keepConnections: boolean) => {
    const child = sshd;
    if (!child?.pid || child.exitCode !== null || child.signalCode !== null) return;
    const tree = keepConnections ? [child.pid] : processTree(child.pid);
    const exited = once(child, 'exit');
    await terminate(tree);
    if (child.exitCode === null && child.signalCode === null) await exited;
  };

  let port = 0;
  const hostKeys: SshdHarness['hostKeys'] = {};
  try {
    // The free port may be taken by someone else before sshd binds it: try again on another one.
    for (let attempt = 1; ; attempt++) {
      port = await freePort(listenAddress);
      try {
        await spawnSshd(port);
        break;
      } catch (error) {
        const log = (error as { sshdLog?: string }).sshdLog ?? '';
        if (attempt < 5 && /Address already in use|Cannot bind/i.test(log)) continue;
        throw error;
      }
    }

    for (const type of hostKeyTypes) hostKeys[type] = fs.readFileSync(`${hostKeyFile(type)}.pub`, 'utf8').trim().split(/\s+/).slice(0, 2).join(' ');
    const knownLines = knownHostKeyTypes.map((type) => `[${listenAddress}]:${port} ${hostKeys[type]}\n`);
    fs.writeFileSync(knownHostsFile, knownLines.join(''), { mode: 0o644 });
    const blocks = aliases.map((alias) =>
      [
        `Host ${alias}`,
        `  HostName ${listenAddress}`,
        `  Port ${port}`,
        `  User ${sshUser.name}`,
        `  IdentityFile ${identityFile}`,
        '  IdentitiesOnly yes',
        `  UserKnownHostsFile ${knownHostsFile}`,
        '  StrictHostKeyChecking yes',
        '  BatchMode yes',
        '  ConnectTimeout 10',
        '',
      ].join('\n'),
    );
    fs.writeFileSync(sshConfigFile, blocks.join('\n'), { mode: 0o644 });
  } catch (error) {
    await killSshd(false).catch(() => {});
    emergencyCleanups.delete(onExit);
    fs.rmSync(tmpDir, { recursive: true, force: true });
    throw error;
  }

  const ssh = (command: string, sshOptions: SshOptions = {}): Promise<SshResult> => {
    const alias = sshOptions.alias ?? aliases[0];
    const timeoutMs = sshOptions.timeoutMs ?? 30_000;
    ensurePrivsepDir();
    return new Promise((resolve, reject) => {
      const child = spawn('ssh', ['-F', sshConfigFile, alias, command], {
        stdio: [sshOptions.input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'],
      });
      let stdout = '';
      let stderr = '';
      child.stdout!.on('data', (chunk) => (stdout += chunk));
      child.stderr!.on('data', (chunk) => (stderr += chunk));
      if (sshOptions.input !== undefined) child.stdin!.end(sshOptions.input);
      const timer = setTimeout(() => {
        child.kill('SIGKILL');
        reject(new Error(`ssh ${alias} ${JSON.stringify(command)} did not finish within ${timeoutMs} ms\nstdout: ${stdout}\nstderr: ${stderr}`));
      }, timeoutMs);
      child.once('error', (error) => {
        clearTimeout(timer);
        reject(error);
      });
      child.once('close', (code, sig) => {
        clearTimeout(timer);
        resolve({ code: code ?? (sig ? 128 + (os.constants.signals[sig] ?? 0) : 1), stdout, stderr });
      });
    });
  };

  // One real login end to end (key, user, host key pinning, shell), so a broken setup fails here
  // with sshd's log instead of in the middle of a test.
  const check = await ssh('true', { timeoutMs: 20_000 }).catch((error: Error) => ({ code: -1, stdout: '', stderr: error.message }));
  if (check.code !== 0) {
    const log = fs.existsSync(sshdLogFile) ? fs.readFileSync(sshdLogFile, 'utf8') : '';
    await killSshd(false).catch(() => {});
    emergencyCleanups.delete(onExit);
    fs.rmSync(tmpDir, { recursive: true, force: true });
    throw new Error(`ssh to the harness sshd failed (${check.code}): ${check.stderr}\nsshd log:\n${log}`);
  }

  const readLines = (file: string) => {
    try {
      return fs.readFileSync(file, 'utf8').split('\n').filter((line) => line !== '');
    } catch {
      return [];
    }
  };

  return {
    port,
    sudo: sshUser.sudo,
    systemctlUser: sshUser.sudo ? 'root' : sshUser.name,
    privileged: (command) => (sshUser.sudo ? `sudo -n ${command}` : command),
    listenAddress,
    hostKeys,
    user: sshUser.name,
    uid,
    userHome: sshUser.home,
    alias: aliases[0],
    aliases,
    home,
    identityFile,
    knownHostsFile,
    sshConfigFile,
    env: { HOME: home, ...(sshUser.sudo ? {} : { DEPLOY_SUDO: 'never' }) },
    sshArgs: ['-F', sshConfigFile],
    logFile,
    unitDir,
    tmpDir,
    workDir,
    standinsDir,
    sshdLogFile,
    calls: () => readLines(logFile),
    callDetails: () =>
      readLines(`${logFile}.ctx`).map((entry) => {
        const [user, cwd, ...rest] = entry.split('\t');
        return { user, cwd, line: rest.join('\t') };
      }),
    clearCalls: () => {
      fs.writeFileSync(logFile, '');
      fs.writeFileSync(`${logFile}.ctx`, '');
    },
    setDockerFail: (subcommands) => fs.writeFileSync(dockerFailFile, subcommands.join('\n')),
    allowUserSystemctl: (allowed) => fs.writeFileSync(systemctlUserOkFile, allowed ? 'yes\n' : ''),
    failNextCommand: (name, message) => {
      if (!/^[a-z][a-z0-9_-]*$/.test(name)) throw new Error(`not a command name: ${name}`);
      const real = ['/usr/bin', '/bin'].map((dir) => path.join(dir, name)).find((file) => fs.existsSync(file));
      if (!real) throw new Error(`no ${name} in /usr/bin or /bin`);
      const flag = path.join(tmpDir, `fail-next-${name}`);
      fs.writeFileSync(flag, `${message}\n`);
      fs.chmodSync(flag, 0o666);
      const wrapper = path.join(standinsDir, name);
      const script = `#!/bin/sh\n# Written by failNextCommand (test/helpers/sshd.ts): fails once, then is ${real}.\nif [ -s '${flag}' ]; then cat '${flag}' >&2; : > '${flag}'; exit 1; fi\nexec ${real} "$@"\n`;
      fs.writeFileSync(wrapper, script, { mode: 0o755 });
      fs.chmodSync(wrapper, 0o755);
    },
    failNextSystemctl: (verb) => fs.writeFileSync(systemctlFailFile, `${verb}\n`),
    setDockerHang: (subcommands) => fs.writeFileSync(dockerHangFile, subcommands.join('\n')),
    dockerHangPid: () => Number(fs.readFileSync(`${dockerHangFile}.pid`, 'utf8').trim()) || null,
    writeUnit: (name, content) => {
      const file = path.join(unitDir, `${name.replace(/\.service$/, '')}.service`);
      fs.writeFileSync(file, content, { mode: 0o644 });
      return file;
    },
    servicePid: (name) => startedBy(path.join(unitDir, `${name.replace(/\.service$/, '')}.pid`)),
    ssh,
    stopSshd: async (stopOptions = {}) => killSshd(stopOptions.keepConnections ?? false),
    startSshd: async () => {
      if (stopped) throw new Error('the harness was stopped');
      if (sshd && sshd.exitCode === null && sshd.signalCode === null) return;
      await spawnSshd(port);
    },
    stop: async () => {
      if (stopped) return;
      stopped = true;
      await terminate(servicePids(), true);
      await terminate(hungDocker(), true);
      await killSshd(false);
      emergencyCleanups.delete(onExit);
      // SSHD_HARNESS_KEEP_TMP=1 keeps sshd.log, the stand-in log and the units for a post-mortem.
      if (process.env.SSHD_HARNESS_KEEP_TMP) console.error(`sshd harness: kept ${tmpDir}`);
      else fs.rmSync(tmpDir, { recursive: true, force: true });
    },
  };
}

/**
 * One harness for a whole test file: started before its tests (unless sshd cannot run here: see
 * `skip`), stopped after them. `harness()` is the running one, inside a test.
 */
export function fileSshdHarness(options: SshdHarnessOptions = {}): { skip: string | false; harness: () => SshdHarness } {
  const skip = skipWithoutSshd();
  let harness: SshdHarness | undefined;
  before(async () => {
    if (!skip) harness = await startSshdHarness(options);
  });
  after(async () => {
    await harness?.stop();
  });
  return { skip, harness: () => harness! };
}
