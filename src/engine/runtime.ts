// The wiring that `serve` and the deploying CLI commands stand on: the database, crash recovery, and
// the executor over SSH with the strategies' pipelines. On PostgreSQL, the executor works the shared
// queue (pg-boss) with every other server on the database.
import { randomUUID } from 'node:crypto';
import os from 'node:os';
import type { Tracer } from '@opentelemetry/api';
import { pipelines } from '../../pipelines/index.ts';
import { databaseKind, describeDatabase, maskDatabaseSecret, openDatabase, type MikroORM } from '../db/orm.ts';
import { findTargets } from '../domain/targets.ts';
import type { Config } from '../support/config.ts';
import { Executor } from './executor.ts';
import { RunStore } from './run-store.ts';
import { recoverInterruptedRuns } from './target-claim.ts';
import { loadNotificationSettings } from '../domain/notification-config.ts';
import { createNotifier, type Notifier } from '../domain/notifications.ts';
import { configuredSecrets } from '../support/config.ts';
import { describe } from './step-runner.ts';
import type { Connect } from '../transport/ssh/connect.ts';
import { lazyConnector } from '../transport/ssh/lazy-connect.ts';

export interface Runtime {
  orm: MikroORM;
  store: RunStore;
  executor: Executor;
  /** Runs found unfinished from a process that is gone, now `interrupted` (SQLite; on PostgreSQL the leases say). */
  interrupted: number[];
  /** Tells the configured sinks about runs, in the background; drain it before closing the database. */
  notifier: Notifier;
  /** SSH connections (the runs', and the status route's), sharing the SSH files as read. */
  connect: Connect;
  /** Closes the SSH connections kept open between runs (`persistConnections`), and keeps none from then on. */
  closeConnections: () => void;
}

export interface RuntimeOptions {
  /**
   * `serve`: a connection whose run ended cleanly stays open for DEPLOY_SSH_PERSIST_SECONDS for the
   * next run (or status read) to the same host. Off for the CLI: an idle connection holds the process.
   */
  persistConnections?: boolean;
}

/**
 * `workQueue` false (the CLI's deploy and rollback): on PostgreSQL, this process runs only the runs it
 * requests, not other targets' queued runs that it would abandon when it exits.
 */
export async function startRuntime(config: Config, tracer?: Tracer, log: (line: string) => void = (line) => process.stderr.write(`${line}\n`), workQueue = true, options: RuntimeOptions = {}): Promise<Runtime> {
  const settings = await loadNotificationSettings(config); // a bad file fails here, before anything runs
  const orm = await openDatabase({ dbPath: config.dbPath });
  // The SSH client (node-ssh, ssh2) is loaded by the first run that connects: an idle `serve` holds none of it.
  const connector = lazyConnector(config, options.persistConnections ? config.sshPersistMs : 0);
  const { connect } = connector;
  const store = new RunStore(orm);
  const postgres = databaseKind(config.dbPath) === 'postgresql';
  const interrupted = postgres ? [] : await recoverInterruptedRuns(store);
  const shared = postgres ? { ...(await sharedQueue(config, log)), workQueue } : undefined;
  const executor = new Executor({
    store,
    config,
    pipelines,
    tracer,
    findTarget: async (app, host) => (await findTargets(orm.em.fork(), app, host))[0],
    openRemote: (target, _signal, plan) => connect(target.host, plan),
    shared,
  });
  await executor.start();
  const notifier = createNotifier({ settings, orm, store, jaegerUrl: config.jaegerUrl, publicUrl: config.publicUrl, secrets: configuredSecrets(config) });
  notifier.observe((listener) => executor.subscribe(listener));
  return { orm, store, executor, interrupted, notifier, connect, closeConnections: connector.close };
}

async function sharedQueue(config: Config, log: (line: string) => void) {
  const { PgBossRunQueue } = await import('./pg-boss-queue.ts');
  // Messages only: a driver error's other fields may carry the connection string.
  const onError = (error: unknown) => log(`deploy_server: shared queue on ${describeDatabase(config.dbPath)}: ${maskDatabaseSecret(describe(error), config.dbPath)}`);
  const queue = new PgBossRunQueue({ url: config.dbPath, onError });
  return { queue, serverId: `${os.hostname()}:${process.pid}:${randomUUID().slice(0, 8)}`, leaseMs: config.leaseMs, onError };
}
