// Plain SQL with bound parameters, for the hot paths: a webhook burst's reads and writes, and every
// step's writes. MikroORM's `execute` writes each value into the SQL text (escaped in JavaScript), so
// every statement is new to SQLite and prepared again; its unit of work costs more still. Here:
// - SQLite: straight on better-sqlite3's connection, taken from the ORM's pool for the statement (a
//   transaction the ORM has open holds it: the statement waits, it never joins that transaction — so
//   a plain statement must never be awaited *inside* an ORM transaction: it would wait for ever),
//   each statement prepared once and kept by its text. better-sqlite3 runs on the event loop: while
//   another process holds SQLite's write lock, a statement here does not wait in SQLite's busy handler
//   (which would hold the whole server) but is tried again on a timer (see BUSY_RETRY_MS).
// - PostgreSQL: through the ORM's knex, with the values as bindings.
// `?` marks a value in either. Dates and booleans are bound as the ORM stores them. A failing statement
// throws the ORM's own exception for it (a DriverException: the CLI and the API name it, never its SQL).
import type { Database, Statement } from 'better-sqlite3';
import type { MikroORM } from './orm.ts';

export interface PlainSql {
  /** The rows of a query. */
  all<T = Record<string, unknown>>(sql: string, params?: readonly unknown[]): Promise<T[]>;
  /** Runs a statement that returns no rows; how many rows it changed. */
  run(sql: string, params?: readonly unknown[]): Promise<number>;
}

/** Prepared statements kept per connection (by SQL text, the oldest dropped past this many). */
const KEPT_STATEMENTS = 200;

/**
 * How long an ORM statement on SQLite may wait, on the event loop, for another process's write lock
 * (`pragma busy_timeout`, set by orm.ts): the ORM's own statements are few in `serve` (a target or a
 * lock saved through the API); the hot paths' go through here and wait on timers instead.
 */
export const SQLITE_BUSY_TIMEOUT_MS = 500;

/** A plain statement that finds the database locked is tried again after these waits (then 100 ms each), for up to BUSY_GIVE_UP_MS. */
const BUSY_RETRY_MS = [2, 5, 10, 20, 50];
const BUSY_GIVE_UP_MS = 10_000;

interface Pool {
  acquireConnection(): Promise<Database>;
  releaseConnection(connection: Database): Promise<void>;
}

export function plainSql(orm: MikroORM): PlainSql {
  const knex = orm.em.getKnex();
  const failed = (error: unknown) => orm.em.getDriver().convertException(error as Error);
  if (orm.config.get('driver')?.name === 'PostgreSqlDriver') {
    const raw = async <T>(sql: string, params: readonly unknown[]) => {
      try {
        return (await knex.raw(sql, params.map(orNull) as never)) as T;
      } catch (error) {
        throw failed(error);
      }
    };
    return {
      all: async <T>(sql: string, params: readonly unknown[] = []) => (await raw<{ rows: T[] }>(sql, params)).rows,
      run: async (sql, params = []) => (await raw<{ rowCount: number }>(sql, params)).rowCount,
    };
  }
  const kept = new WeakMap<Database, { statements: Map<string, Statement>; noWait: Statement; wait: Statement }>();
  /** One attempt: the statement, never waiting for a lock (busy_timeout 0 meanwhile); SQLITE_BUSY if locked. */
  const attempt = <T>(sql: string, use: (statement: Statement) => T): Promise<T> =>
    onSqliteConnection(orm, (connection) => {
      let mine = kept.get(connection);
      // The two pragmas prepared once too (connection.pragma prepares its statement on every call).
      if (!mine) {
        mine = { statements: new Map(), noWait: connection.prepare('pragma busy_timeout = 0'), wait: connection.prepare(`pragma busy_timeout = ${SQLITE_BUSY_TIMEOUT_MS}`) };
        // SQLite applies a pragma when preparing it, and its first step does nothing more: after the two
        // prepares the timeout is the second one's, so step each once (the next steps apply it again).
        mine.noWait.get();
        mine.wait.get();
        kept.set(connection, mine);
      }
      const { statements } = mine;
      let statement = statements.get(sql);
      if (!statement) {
        statement = connection.prepare(sql);
        statements.set(sql, statement);
        if (statements.size > KEPT_STATEMENTS) statements.delete(statements.keys().next().value!);
      }
      mine.noWait.get();
      try {
        return use(statement);
      } finally {
        mine.wait.get();
      }
    });
  const withStatement = async <T>(sql: string, use: (statement: Statement) => T): Promise<T> => {
    const giveUpAt = Date.now() + BUSY_GIVE_UP_MS;
    for (let tries = 0; ; tries++) {
      try {
        return await attempt(sql, use);
      } catch (error) {
        if (!isBusy(error) || Date.now() >= giveUpAt) throw failed(error);
      }
      await new Promise((resolve) => setTimeout(resolve, BUSY_RETRY_MS[tries] ?? 100));
    }
  };
  return {
    all: <T>(sql: string, params: readonly unknown[] = []) => withStatement(sql, (statement) => statement.all(...sqliteValues(params)) as T[]),
    run: (sql, params = []) => withStatement(sql, (statement) => statement.run(...sqliteValues(params)).changes),
  };
}

/**
 * `use` on SQLite's connection, taken from the ORM's pool for its length (see above). When the pool
 * holds it idle, with nobody waiting for it, `use` runs on it where it lies: `use` is synchronous, so
 * nothing can take it meanwhile (a transaction of the ORM holds it across its awaits: then the pool's
 * way). An acquire and a release through the pool (knex validates each acquire, with timers) cost more
 * than most of the statements a webhook batch runs.
 */
async function onSqliteConnection<T>(orm: MikroORM, use: (connection: Database) => T): Promise<T> {
  const client = orm.em.getKnex().client as unknown as Pool & { pool?: TarnPool };
  const idle = idleConnection(client.pool);
  if (idle) return use(idle);
  const connection = await client.acquireConnection();
  try {
    return use(connection);
  } finally {
    await client.releaseConnection(connection);
  }
}

/** What onSqliteConnection reads of knex's pool (tarn 3): its counts, and its free resources. */
interface TarnPool {
  numUsed(): number;
  numFree(): number;
  numPendingAcquires(): number;
  numPendingValidations(): number;
  numPendingCreates(): number;
  free?: { resource?: unknown }[];
}

/** The pool's one connection, if it lies free and nobody is taking or waiting for it. */
function idleConnection(pool: TarnPool | undefined): Database | undefined {
  if (!pool || pool.numFree() !== 1 || pool.numUsed() + pool.numPendingAcquires() + pool.numPendingValidations() + pool.numPendingCreates() > 0) return undefined;
  const resource = pool.free?.[0]?.resource as Database | undefined;
  return resource?.open && !resource.inTransaction ? resource : undefined;
}

/**
 * Runs SQL on SQLite's connection through `exec`, which steps each statement to its end: a statement
 * that works a page per step (`pragma incremental_vacuum`) does not stop after the first, as it does
 * through a prepared statement's `run`.
 */
export async function execSqlite(orm: MikroORM, sql: string): Promise<void> {
  await onSqliteConnection(orm, (connection) => connection.exec(sql));
}

/**
 * A datetime column as read with plain SQL: epoch milliseconds from SQLite (a number, or digits),
 * a Date from PostgreSQL.
 */
export function dateOfRaw(value: unknown): Date {
  return new Date(typeof value === 'string' && /^\d+$/.test(value) ? Number(value) : (value as string | number | Date));
}

/** A JSON column as read with plain SQL: text from SQLite, already parsed from PostgreSQL. */
export function jsonOfRaw<T>(value: unknown): T | null {
  return typeof value === 'string' ? (JSON.parse(value) as T) : ((value ?? null) as T | null);
}

/** SQLITE_BUSY (and its extended codes): another connection holds the lock this statement needs. */
function isBusy(error: unknown): boolean {
  return typeof (error as { code?: unknown })?.code === 'string' && (error as { code: string }).code.startsWith('SQLITE_BUSY');
}

/** A value not given is NULL (as the ORM writes an `undefined` property). */
const orNull = (value: unknown) => value ?? null;

/** Values as MikroORM writes them to SQLite: a datetime as epoch milliseconds, a boolean as 0 or 1. */
function sqliteValues(params: readonly unknown[]): unknown[] {
  return params.map((value) => (value instanceof Date ? value.getTime() : typeof value === 'boolean' ? Number(value) : orNull(value)));
}
