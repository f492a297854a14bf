// The wiring that `serve` and the deploying CLI commands stand on: the database, crash recovery, and
// the executor over SSH with the strategies' pipelines.
import type { MikroORM } from '../db/orm.ts';
import type { Tracer } from '@opentelemetry/api';
import { pipelines } from '../../pipelines/index.ts';
import { openDatabase } from '../db/orm.ts';
import { findTargets } from '../domain/targets.ts';
import type { Config } from '../support/config.ts';
import { Executor } from './executor.ts';
import { RunStore } from './run-store.ts';
import { recoverInterruptedRuns } from './target-claim.ts';
import { loadNotificationSettings } from '../domain/notification-config.ts';
import { createNotifier, type Notifier } from '../domain/notifications.ts';
import { configuredSecrets } from '../support/config.ts';

export interface Runtime {
  orm: MikroORM;
  store: RunStore;
  executor: Executor;
  /** Runs found unfinished from a process that is gone, now `interrupted`. */
  interrupted: number[];
  /** Tells the configured sinks about runs, in the background; drain it before closing the database. */
  notifier: Notifier;
}

export async function startRuntime(config: Config, tracer?: Tracer): Promise<Runtime> {
  const settings = await loadNotificationSettings(config); // a bad file fails here, before anything runs
  const orm = await openDatabase({ dbPath: config.dbPath });
  const store = new RunStore(orm);
  const interrupted = await recoverInterruptedRuns(store);
  const executor = new Executor({
    store,
    config,
    pipelines,
    tracer,
    findTarget: async (app, host) => (await findTargets(orm.em.fork(), app, host))[0],
    // The SSH client (node-ssh, ssh2) is loaded by the first run that connects: an idle `serve` holds none of it.
    openRemote: async (target) => (await import('../transport/ssh/connect.ts')).connectTo(target.host, config),
  });
  const notifier = createNotifier({ settings, orm, store, jaegerUrl: config.jaegerUrl, publicUrl: config.publicUrl, secrets: configuredSecrets(config) });
  notifier.observe((listener) => executor.subscribe(listener));
  return { orm, store, executor, interrupted, notifier };
}
