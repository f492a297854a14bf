import type { MikroORM } from '@mikro-orm/sqlite';
import type { Tracer } from '@opentelemetry/api';
import type { Config } from '../support/config.ts';
import { openDatabase } from '../db/orm.ts';
import { Executor, recoverInterruptedRuns } from './executor.ts';
import { SshHost } from '../transport/ssh/ssh-host.ts';
import { pipelines } from '../../pipelines/index.ts';

export interface Runtime {
  orm: MikroORM;
  executor: Executor;
  /** Runs found unfinished from a process that is gone, now `interrupted`. */
  interrupted: number[];
}

/** What `serve` and the deploying CLI commands stand on: the database, crash recovery, the executor over SSH. */
export async function startRuntime(config: Config, tracer?: Tracer): Promise<Runtime> {
  const orm = await openDatabase({ dbPath: config.dbPath });
  const interrupted = await recoverInterruptedRuns(orm);
  const executor = new Executor({
    orm,
    config,
    pipelines,
    tracer,
    openRemote: (target) => connectTo(target.host, config),
  });
  return { orm, executor, interrupted };
}

export function connectTo(host: string, config: Config): Promise<SshHost> {
  return SshHost.connect(host, { home: config.home, connectTimeoutMs: config.sshConnectTimeoutMs });
}
