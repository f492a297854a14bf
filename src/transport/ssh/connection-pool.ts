// Connections kept open between uses (OpenSSH's ControlPersist, SSHKit's pool), opt-in through
// DEPLOY_SSH_PERSIST_SECONDS: a connection whose use ended cleanly (SshHost.reusable) waits, idle, for
// the next use of the same alias, one user at a time. Before a reuse it must still be what a fresh
// connection would be (SshHost.matchesFresh: the same settings, a host key known_hosts still trusts);
// otherwise, or once closed underneath, it is closed and a fresh one is opened. Each use gets a handle
// of its own: once that use has closed it, the handle runs nothing more and closes nothing again.
import { SshHost, type SshOptions } from './ssh-host.ts';

/** Idle connections kept per alias: a burst of runs to one host leaves at most this many behind. */
export const MAX_IDLE_PER_ALIAS = 4;

/**
 * A connection older than this is not reused, however busy: it never logs in again, so a key removed
 * from the host's authorized_keys, a locked account or a HostName's new address takes effect by then.
 */
export const MAX_AGE_MS = 10 * 60 * 1000;

export interface ConnectionPoolOptions {
  /** How long a connection is kept idle before it is closed. */
  idleMs: number;
  /** The options of every connection (home, timeout, SSH files): re-checked against at each reuse. */
  ssh: Omit<SshOptions, 'commands' | 'release'>;
  maxIdlePerAlias?: number;
  /** Default MAX_AGE_MS. */
  maxAgeMs?: number;
}

interface Idle {
  host: SshHost;
  timer: NodeJS.Timeout;
}

export class ConnectionPool {
  private readonly idle = new Map<string, Idle[]>();
  private closed = false;

  constructor(private readonly options: ConnectionPoolOptions) {}

  /**
   * A connection to `alias` for one user: an idle one that still matches and answers, else a fresh
   * one. The user gets a handle of its own (see useOf).
   */
  async connect(alias: string, plan: { commands?: number } = {}): Promise<SshHost> {
    const release = (host: SshHost) => this.park(alias, host);
    for (let entry = this.take(alias); entry !== undefined; entry = this.take(alias)) {
      if (entry.open && Date.now() - entry.openedAt < (this.options.maxAgeMs ?? MAX_AGE_MS) && entry.matchesFresh(alias, this.options.ssh)) {
        entry.reuse({ commands: plan.commands, release });
        if (await entry.answers(this.options.ssh.connectTimeoutMs)) return useOf(entry);
      }
      entry.dispose();
    }
    return useOf(await SshHost.connect(alias, { ...this.options.ssh, commands: plan.commands, release }));
  }

  /** How many connections are idle (for `alias`, or in all). */
  idleCount(alias?: string): number {
    if (alias !== undefined) return this.idle.get(alias)?.length ?? 0;
    let count = 0;
    for (const list of this.idle.values()) count += list.length;
    return count;
  }

  /** Closes every idle connection and keeps none from now on (a connection in use closes when its user is done). */
  close(): void {
    this.closed = true;
    for (const list of this.idle.values()) for (const entry of list.splice(0)) this.drop(entry);
    this.idle.clear();
  }

  /** The most recently parked idle connection of `alias`, out of the pool. */
  private take(alias: string): SshHost | undefined {
    const entry = this.idle.get(alias)?.pop();
    if (entry === undefined) return undefined;
    clearTimeout(entry.timer);
    return entry.host;
  }

  /** SshOptions.release: keeps a reusable connection idle, unless the pool is closed or full. */
  private park(alias: string, host: SshHost): boolean {
    if (this.closed) return false;
    const list = this.idle.get(alias) ?? [];
    // One closed underneath while idle (sshd restarted) gives its place up now.
    for (const dead of list.filter((entry) => !entry.host.open)) this.expire(alias, dead);
    if (list.length >= (this.options.maxIdlePerAlias ?? MAX_IDLE_PER_ALIAS)) return false;
    const entry: Idle = { host, timer: setTimeout(() => this.expire(alias, entry), this.options.idleMs) };
    // The connection itself holds the process (its socket, ssh2's keepalive interval) until closed:
    // this timer must not hold it any longer than that.
    entry.timer.unref();
    list.push(entry);
    this.idle.set(alias, list);
    return true;
  }

  private expire(alias: string, entry: Idle): void {
    const list = this.idle.get(alias);
    const index = list?.indexOf(entry) ?? -1;
    if (index < 0) return;
    list!.splice(index, 1);
    if (list!.length === 0) this.idle.delete(alias);
    this.drop(entry);
  }

  private drop(entry: Idle): void {
    clearTimeout(entry.timer);
    entry.host.dispose();
  }
}

/**
 * One use of a pooled connection: the connection itself, until this use closes it. Then it is the
 * next user's (or the pool's): this handle's close() does nothing more, and a command or request
 * through it throws, so a caller that closes twice, or keeps a handle, cannot reach another run.
 */
function useOf(host: SshHost): SshHost {
  let closed = false;
  const close = async () => {
    if (closed) return;
    closed = true;
    await host.close();
  };
  const closedError = () => Promise.reject(new Error(`this use of the SSH connection to ${host.settings.alias} has ended`));
  return new Proxy(host, {
    get(target, property) {
      if (property === 'close') return close;
      if (closed && (property === 'exec' || property === 'httpGet')) return closedError;
      const value = Reflect.get(target, property, target) as unknown;
      return typeof value === 'function' ? value.bind(target) : value;
    },
  });
}
