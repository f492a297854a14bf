// The database: SQLite (a file, the default) or PostgreSQL (DEPLOY_DB=postgres://…, for several
// servers on one database). The same entities on both; each has its own migrations, because the SQL
// they run differs (src/db/migrations/ for SQLite, src/db/migrations-postgres/ for PostgreSQL).
import type { IMigrator, MikroORM as CoreMikroORM } from '@mikro-orm/core';
import type { AbstractSqlDriver, SqlEntityManager } from '@mikro-orm/knex';
import { DeployTarget } from './entities/DeployTarget.ts';
import { DeployRun } from './entities/DeployRun.ts';
import { StepRun } from './entities/StepRun.ts';
import { DeployLock } from './entities/DeployLock.ts';
import { NotificationAttempt } from './entities/NotificationAttempt.ts';
import { WebhookDelivery } from './entities/WebhookDelivery.ts';
import { DeployServer } from './entities/DeployServer.ts';
import { databaseKind, hasPendingMigration, migrationsTableQuery, type DatabaseKind } from './kind.ts';
import { SQLITE_BUSY_TIMEOUT_MS } from './plain-sql.ts';

export { databaseKind, type DatabaseKind } from './kind.ts';

export const entities = [DeployTarget, DeployRun, StepRun, DeployLock, NotificationAttempt, WebhookDelivery, DeployServer];

/** The ORM over either database: what the rest of the code holds. */
export type MikroORM = CoreMikroORM<AbstractSqlDriver, SqlEntityManager>;
export type EntityManager = SqlEntityManager;

export interface DatabaseOptions {
  /** A SQLite file (or `:memory:`), or a `postgres://` / `postgresql://` URL. */
  dbPath: string;
  /** Apply pending migrations (the default). Only the migration generator turns it off. */
  migrate?: boolean;
}

export class DatabaseUrlError extends Error {
  override name = 'DatabaseUrlError';
}

/** DEPLOY_DB as it may be shown (logs, errors, the serve banner): a PostgreSQL URL without its password. */
export function describeDatabase(dbPath: string): string {
  if (databaseKind(dbPath) === 'sqlite') return dbPath;
  try {
    const url = new URL(dbPath);
    if (url.password) url.password = '***';
    url.search = ''; // a query may carry a password too (`?password=…`)
    return url.toString();
  } catch {
    return 'postgresql://(unparseable URL)';
  }
}

/** Builds the ORM for one database and brings its schema up to date. The caller owns and closes it. */
export async function openDatabase({ dbPath, migrate = true }: DatabaseOptions): Promise<MikroORM> {
  const kind = databaseKind(dbPath);
  const orm = kind === 'postgresql' ? await openPostgres(dbPath) : await openSqlite(dbPath, migrate);
  if (migrate && (await hasPendingMigrations(orm, kind))) await migrateUp(orm, kind);
  return orm;
}

/**
 * SQLite through better-sqlite3: a query runs on the calling thread, with no hop to libuv's thread
 * pool and back (node-sqlite3's way), which made each step of a deploy cost ~3 ms of database round
 * trips (bench/executor-overhead.ts: 3.0 → 1.3 ms per step). So a long statement holds the event loop:
 * queries here are small and indexed, serve's background prune works in small pieces with a turn of
 * the event loop between them (retention.ts), and a write that finds the file locked by another process
 * is bounded (below) or retried on a timer (plain-sql.ts). A prune by hand's VACUUM runs in the CLI.
 */
async function openSqlite(dbPath: string, migrate: boolean): Promise<MikroORM> {
  const { MikroORM } = await import('@mikro-orm/better-sqlite');
  const orm = await MikroORM.init({
    dbName: dbPath,
    ...sharedOptions('sqlite'),
    // For SQLite, MikroORM's check at connect is a list of the tables and nothing else (no database to
    // create); hasTables below asks what we need, only when migrating.
    ensureDatabase: false,
  });
  // A new file reclaims the pages that pruning frees (domain/retention.ts) with `pragma
  // incremental_vacuum`: auto_vacuum can only be chosen before the first table (an older file is
  // switched by `deploy_server prune`'s VACUUM).
  if (migrate && !(await hasTables(orm as unknown as MikroORM))) await orm.em.getConnection().execute('pragma auto_vacuum = incremental');
  // WAL: readers (the CLI, the API) never wait for the executor's writes, and a write costs no fsync of
  // the main file; NORMAL is still crash-safe in WAL mode.
  await orm.em.getConnection().execute('pragma journal_mode = wal');
  await orm.em.getConnection().execute('pragma synchronous = normal');
  // While another process holds the write lock, SQLite's busy handler waits on the event loop: the
  // ORM's statements wait at most this long (plain-sql.ts's retry on timers instead).
  await orm.em.getConnection().execute(`pragma busy_timeout = ${SQLITE_BUSY_TIMEOUT_MS}`);
  return orm as unknown as MikroORM;
}

async function openPostgres(url: string): Promise<MikroORM> {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new DatabaseUrlError(`DEPLOY_DB is not a valid PostgreSQL URL: ${describeDatabase(url)}`);
  }
  if (parsed.pathname.length <= 1) throw new DatabaseUrlError(`DEPLOY_DB names no database: ${describeDatabase(url)} (postgres://user:password@host:5432/database)`);
  const { MikroORM } = await import('@mikro-orm/postgresql');
  try {
    const orm = await MikroORM.init({
      clientUrl: url,
      ...sharedOptions('postgresql'),
    });
    // init does not fail on a server it cannot reach: ask once, so a wrong URL is one clear line at start.
    await orm.em.getConnection().execute('select 1');
    return orm as unknown as MikroORM;
  } catch (error) {
    throw new DatabaseUrlError(`cannot use the PostgreSQL database ${describeDatabase(url)}: ${withoutSecret((error as Error).message, parsed.password)}`);
  }
}

/** `text` with DEPLOY_DB's password (if it has one) replaced by `***`: for messages from the driver or pg-boss. */
export function maskDatabaseSecret(text: string, dbPath: string): string {
  if (databaseKind(dbPath) === 'sqlite') return text;
  try {
    return withoutSecret(text, new URL(dbPath).password);
  } catch {
    return text;
  }
}

function withoutSecret(message: string, password: string): string {
  return password ? message.split(password).join('***').split(decodeURIComponent(password)).join('***') : message;
}

/** What both databases open with: the same entities, each its own migrations folder. */
function sharedOptions(kind: DatabaseKind) {
  return {
    entities,
    migrations: { path: migrationsFolder(kind), snapshot: false, emit: 'ts' as const, silent: true },
    discovery: { warnWhenNoEntities: false },
    debug: false,
  };
}

function migrationsFolder(kind: DatabaseKind): string {
  return new URL(kind === 'postgresql' ? './migrations-postgres' : './migrations', import.meta.url).pathname;
}

async function hasTables(orm: MikroORM): Promise<boolean> {
  const [row] = await orm.em.getConnection().execute<{ n: number }[]>(`select count(*) as n from sqlite_master where type = 'table'`);
  return Number(row.n) > 0;
}

/** Whether a committed migration has not run here yet: one query, without loading the migrator. */
async function hasPendingMigrations(orm: MikroORM, kind: DatabaseKind): Promise<boolean> {
  const connection = orm.em.getConnection();
  const [table] = await connection.execute<{ name: string }[]>(migrationsTableQuery(kind));
  if (!table) return true;
  return hasPendingMigration(kind, (await connection.execute<{ name: string }[]>('select name from mikro_orm_migrations')).map((row) => row.name));
}

/** Any number for the advisory lock that serialises migrations: servers starting at once migrate one by one. */
const MIGRATION_LOCK_KEY = 7_318_004_114;

async function migrateUp(orm: MikroORM, kind: DatabaseKind): Promise<void> {
  const migrator = await loadMigrator(orm);
  if (kind === 'sqlite') {
    await migrator.up();
    return;
  }
  // Two servers starting together must not both run a migration: the first holds the lock for the
  // transaction of every pending migration; the second then finds none pending.
  await orm.em.getConnection().transactional(async (trx) => {
    await orm.em.getConnection().execute(`select pg_advisory_xact_lock(${MIGRATION_LOCK_KEY})`, [], 'all', trx);
    await migrator.up({ transaction: trx });
  });
}

/**
 * The migrator, loaded on demand: @mikro-orm/migrations and the migration classes cost every CLI
 * start-up ~0.1 s, and are needed only when a migration is pending (or one is being written).
 */
export async function loadMigrator(orm: MikroORM): Promise<IMigrator> {
  const postgres = orm.config.get('driver')?.name === 'PostgreSqlDriver';
  const [{ Migrator }, { migrationsList }] = await Promise.all([
    import('@mikro-orm/migrations'),
    postgres ? import('./migrations-postgres/index.ts') : import('./migrations/index.ts'),
  ]);
  orm.config.set('migrations', { ...orm.config.get('migrations'), migrationsList });
  Migrator.register(orm as never);
  return orm.getMigrator();
}
