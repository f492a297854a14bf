import { MikroORM } from '@mikro-orm/sqlite';
import type { IMigrator } from '@mikro-orm/core';
import { DeployTarget } from './entities/DeployTarget.ts';
import { DeployRun } from './entities/DeployRun.ts';
import { StepRun } from './entities/StepRun.ts';
import { DeployLock } from './entities/DeployLock.ts';
import { NotificationAttempt } from './entities/NotificationAttempt.ts';
import { WebhookDelivery } from './entities/WebhookDelivery.ts';
import { migrationNames } from './migrations/names.ts';

export const entities = [DeployTarget, DeployRun, StepRun, DeployLock, NotificationAttempt, WebhookDelivery];

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
    migrations: { path: new URL('./migrations', import.meta.url).pathname, snapshot: false, emit: 'ts', silent: true },
    discovery: { warnWhenNoEntities: false },
    // For SQLite, MikroORM's check at connect is a list of the tables and nothing else (no database to
    // create); hasTables below asks what we need, only when migrating.
    ensureDatabase: false,
    debug: false,
  });
  // A new file reclaims the pages that pruning frees (domain/retention.ts) with `pragma
  // incremental_vacuum`: auto_vacuum can only be chosen before the first table (an older file is
  // switched by `deploy_server prune`'s VACUUM).
  if (migrate && !(await hasTables(orm))) await orm.em.getConnection().execute('pragma auto_vacuum = incremental');
  // WAL: readers (the CLI, the API) never wait for the executor's writes, and a write costs no fsync of
  // the main file; NORMAL is still crash-safe in WAL mode.
  await orm.em.getConnection().execute('pragma journal_mode = wal');
  await orm.em.getConnection().execute('pragma synchronous = normal');
  if (migrate && (await hasPendingMigrations(orm))) await (await loadMigrator(orm)).up();
  return orm;
}

async function hasTables(orm: MikroORM): Promise<boolean> {
  const [row] = await orm.em.getConnection().execute<{ n: number }[]>(`select count(*) as n from sqlite_master where type = 'table'`);
  return Number(row.n) > 0;
}

/** Whether a committed migration has not run here yet: one query, without loading the migrator. */
async function hasPendingMigrations(orm: MikroORM): Promise<boolean> {
  const connection = orm.em.getConnection();
  const [table] = await connection.execute<{ name: string }[]>(`select name from sqlite_master where type = 'table' and name = 'mikro_orm_migrations'`);
  if (!table) return true;
  const done = new Set((await connection.execute<{ name: string }[]>('select name from mikro_orm_migrations')).map((row) => row.name));
  return migrationNames.some((name) => !done.has(name));
}

/**
 * The migrator, loaded on demand: @mikro-orm/migrations and the migration classes cost every CLI
 * start-up ~0.1 s, and are needed only when a migration is pending (or one is being written).
 */
export async function loadMigrator(orm: MikroORM): Promise<IMigrator> {
  const [{ Migrator }, { migrationsList }] = await Promise.all([import('@mikro-orm/migrations'), import('./migrations/index.ts')]);
  orm.config.set('migrations', { ...orm.config.get('migrations'), migrationsList });
  Migrator.register(orm);
  return orm.getMigrator();
}
