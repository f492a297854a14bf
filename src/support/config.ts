import os from 'node:os';
import path from 'node:path';

/** Everything deploy_server reads from its environment, read once at the edge and passed down. */
export interface Config {
  /** The SQLite file, or a `postgres://` URL (several servers on one database). Show it with describeDatabase. */
  dbPath: string;
  registryRoot: string;
  hostConcurrency: number;
  maxConcurrency: number;
  /** Whose `~/.ssh` (config, keys, known_hosts) the SSH connections use. */
  home: string;
  sshConnectTimeoutMs: number;
  /** serve: how long an SSH connection whose run ended cleanly is kept open for the next one to the host (0: not at all). */
  sshPersistMs: number;
  healthTimeoutMs: number;
  /** Each `git fetch` of the registry root (a webhook's changed files, a systemd build's commit): far below a step's timeout. */
  gitFetchTimeoutMs: number;
  /** On SIGTERM, how long running deploys may go on before they are cancelled. */
  shutdownTimeoutMs: number;
  /** PostgreSQL: a server that has not renewed its lease for this long is gone; its running runs are interrupted. */
  leaseMs: number;
  /** Releases kept on each host (systemd), unless a target says otherwise. */
  keepReleases: number;
  /** Retention (domain/retention.ts): runs kept per target, and runs (and deliveries) kept by age. */
  keepRuns: number;
  keepDays: number;
  /** Where `setup` writes systemd units on the hosts. */
  unitDir: string;
  /**
   * How systemctl, the unit file and a remote dir the SSH user cannot create are reached: `auto`
   * through `sudo -n` unless the SSH user is root; `never` as the SSH user itself (a host whose
   * user may manage the units, e.g. by a polkit rule).
   */
  sudo: 'auto' | 'never';
  /** Jaeger's UI, for `<url>/trace/<id>` links. */
  jaegerUrl?: string;
  webhookSecret?: string;
  apiToken?: string;
  /** Bearer token of GET /metrics (DEPLOY_API_TOKEN is accepted too). */
  metricsToken?: string;
  /** JSON file of notification sinks (webhook, Slack, Matrix). */
  notifyFile?: string;
  /** Gitea commit statuses: the server and a token that may write statuses. */
  giteaUrl?: string;
  giteaToken?: string;
  /** Where this server is reached: runs' links (`<url>/api/runs/<id>`) in notifications and statuses. */
  publicUrl?: string;
  /** Bearer token for the API's read routes only (the write token reads too). */
  apiReadToken?: string;
}

export class ConfigError extends Error {
  override name = 'ConfigError';
}

function readPositiveInt(env: NodeJS.ProcessEnv, name: string, fallback: number): number {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  if (!/^\d+$/.test(raw) || Number(raw) < 1) throw new ConfigError(`${name} must be a positive integer (got "${raw}")`);
  return Number(raw);
}

function readNonNegativeInt(env: NodeJS.ProcessEnv, name: string, fallback: number): number {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  if (!/^\d+$/.test(raw)) throw new ConfigError(`${name} must be a non-negative integer (got "${raw}")`);
  return Number(raw);
}

/** The least DEPLOY_LEASE_TIMEOUT (seconds): well above the lease's renewal every second, so a busy server is not taken for gone. */
export const MIN_LEASE_SECONDS = 5;

function readLeaseSeconds(env: NodeJS.ProcessEnv): number {
  const seconds = readPositiveInt(env, 'DEPLOY_LEASE_TIMEOUT', 30);
  if (seconds < MIN_LEASE_SECONDS) throw new ConfigError(`DEPLOY_LEASE_TIMEOUT must be at least ${MIN_LEASE_SECONDS} seconds: each server renews its lease every second (got "${env.DEPLOY_LEASE_TIMEOUT}")`);
  return seconds;
}

function readChoice<T extends string>(env: NodeJS.ProcessEnv, name: string, choices: readonly T[], fallback: T): T {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  if (!choices.includes(raw as T)) throw new ConfigError(`${name} must be ${choices.join(' or ')} (got "${raw}")`);
  return raw as T;
}

/** Whether commands that need privileges go through `sudo -n` for this SSH user (DEPLOY_SUDO). */
export function usesSudo(config: Pick<Config, 'sudo'>, sshUser: string): boolean {
  return config.sudo === 'auto' && sshUser !== 'root';
}

/** DEPLOY_DB: a PostgreSQL URL as given, anything else a SQLite file relative to the working directory. */
function readDatabase(raw: string | undefined, cwd: string): string {
  if (raw && /^postgres(ql)?:\/\//i.test(raw)) return raw;
  if (raw && /^[a-z][a-z0-9+.-]*:\/\//i.test(raw)) throw new ConfigError(`DEPLOY_DB must be a SQLite file path or a postgres:// URL (got a ${raw.split(':')[0]}: URL)`);
  return path.resolve(cwd, raw || 'operations.db');
}

export function loadConfig(env: NodeJS.ProcessEnv, cwd: string = process.cwd()): Config {
  return {
    dbPath: readDatabase(env.DEPLOY_DB, cwd),
    registryRoot: path.resolve(cwd, env.DEPLOY_REGISTRY_ROOT || '.'),
    hostConcurrency: readPositiveInt(env, 'DEPLOY_HOST_CONCURRENCY', 2),
    maxConcurrency: readPositiveInt(env, 'DEPLOY_MAX_CONCURRENCY', 8),
    home: env.HOME || os.homedir(),
    sshConnectTimeoutMs: readPositiveInt(env, 'DEPLOY_SSH_TIMEOUT', 10) * 1000,
    sshPersistMs: readNonNegativeInt(env, 'DEPLOY_SSH_PERSIST_SECONDS', 0) * 1000,
    healthTimeoutMs: readPositiveInt(env, 'DEPLOY_HEALTH_TIMEOUT', 30) * 1000,
    gitFetchTimeoutMs: readPositiveInt(env, 'DEPLOY_GIT_FETCH_TIMEOUT', 15) * 1000,
    shutdownTimeoutMs: readPositiveInt(env, 'DEPLOY_SHUTDOWN_TIMEOUT', 60) * 1000,
    keepReleases: readPositiveInt(env, 'DEPLOY_KEEP_RELEASES', 5),
    keepRuns: readPositiveInt(env, 'DEPLOY_KEEP_RUNS', 200),
    keepDays: readPositiveInt(env, 'DEPLOY_KEEP_DAYS', 90),
    leaseMs: readLeaseSeconds(env) * 1000,
    unitDir: env.DEPLOY_UNIT_DIR || '/etc/systemd/system',
    sudo: readChoice(env, 'DEPLOY_SUDO', ['auto', 'never'] as const, 'auto'),
    jaegerUrl: env.DEPLOY_JAEGER_URL || undefined,
    webhookSecret: env.DEPLOY_WEBHOOK_SECRET || undefined,
    apiToken: env.DEPLOY_API_TOKEN || undefined,
    metricsToken: env.DEPLOY_METRICS_TOKEN || undefined,
    notifyFile: env.DEPLOY_NOTIFY_FILE ? path.resolve(cwd, env.DEPLOY_NOTIFY_FILE) : undefined,
    giteaUrl: env.DEPLOY_GITEA_URL || undefined,
    giteaToken: env.DEPLOY_GITEA_TOKEN || undefined,
    publicUrl: env.DEPLOY_PUBLIC_URL || undefined,
    apiReadToken: env.DEPLOY_API_READ_TOKEN || undefined,
  };
}

/** This process's environment without the server's own secrets: what child processes (builds, rsync, git) get. */
export function childEnvironment(env: NodeJS.ProcessEnv = process.env): NodeJS.ProcessEnv {
  const { DEPLOY_API_TOKEN, DEPLOY_API_READ_TOKEN, DEPLOY_WEBHOOK_SECRET, DEPLOY_METRICS_TOKEN, DEPLOY_GITEA_TOKEN, ...rest } = env;
  // And git, in every child (fetch, worktrees, diffs, a build that calls git): a GIT_DIR of the
  // server's environment must not point it at another repository, and it never waits for a password.
  const { GIT_DIR, GIT_WORK_TREE, GIT_INDEX_FILE, ...withoutGit } = rest;
  return { ...withoutGit, GIT_TERMINAL_PROMPT: '0' };
}

/** Values that must never appear in output, logs or spans. */
export function configuredSecrets(config: Config): string[] {
  return [config.webhookSecret, config.apiToken, config.apiReadToken, config.metricsToken, config.giteaToken].filter((s): s is string => Boolean(s));
}
