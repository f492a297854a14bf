import { MikroORM } from '@mikro-orm/sqlite';
import { Migrator } from '@mikro-orm/migrations';
import { DeployTarget } from '../entities/DeployTarget.ts';
import { DeployRun } from '../entities/DeployRun.ts';
import { StepRun } from '../entities/StepRun.ts';
import { migrationsList } from '../migrations/index.ts';

export const entities = [DeployTarget, DeployRun, StepRun];

export interface DatabaseOptions {
  dbPath: string;
  /** Apply pending migrations (the default). Only the migration generator turns it off. */
  migrate?: boolean;
}

/** Builds the ORM for one operations.db and brings its schema up to date. The caller owns and closes it. */
export async function openDatabase({ dbPath, migrate = true }: DatabaseOptions): Promise<MikroORM> {
  const orm = await MikroORM.init({
    dbName: dbPath,
    entities,
    extensions: [Migrator],
    migrations: {
      migrationsList,
      path: new URL('../migrations', import.meta.url).pathname,
      snapshot: false,
      emit: 'ts',
      silent: true,
    },
    discovery: { warnWhenNoEntities: false },
    debug: false,
  });
  // WAL: readers (the CLI, the API) never wait for the executor's writes, and a write costs no fsync of
  // the main file; NORMAL is still crash-safe in WAL mode.
  await orm.em.getConnection().execute('pragma journal_mode = wal');
  await orm.em.getConnection().execute('pragma synchronous = normal');
  if (migrate) await orm.getMigrator().up();
  return orm;
}
