// Plain SQL with bound parameters, for the hot paths: a webhook burst's reads and writes, and every
// step's writes. MikroORM's `execute` writes each value into the SQL text (escaped in JavaScript), so
// every statement is new to SQLite and prepared again; its unit of work costs more still. Here:
// - SQLite: straight on better-sqlite3's connection, taken from the ORM's pool for the statement (a
//   transaction the ORM has open holds it: the statement waits, it never joins that transaction), each
//   statement prepared once and kept by its text;
// - PostgreSQL: through the ORM's knex, with the values as bindings.
// `?` marks a value in either. Dates and booleans are bound as the ORM stores them.
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

interface Pool {
  acquireConnection(): Promise<Database>;
  releaseConnection(connection: Database): Promise<void>;
}

export function plainSql(orm: MikroORM): PlainSql {
  const knex = orm.em.getKnex();
  if (orm.config.get('driver')?.name === 'PostgreSqlDriver') {
    return {
      all: async <T>(sql: string, params: readonly unknown[] = []) => ((await knex.raw(sql, params.map(orNull) as never)) as { rows: T[] }).rows,
      run: async (sql, params = []) => ((await knex.raw(sql, params.map(orNull) as never)) as { rowCount: number }).rowCount,
    };
  }
  const pool = knex.client as unknown as Pool;
  const kept = new WeakMap<Database, Map<string, Statement>>();
  const withStatement = async <T>(sql: string, use: (statement: Statement) => T): Promise<T> => {
    const connection = await pool.acquireConnection();
    try {
      let statements = kept.get(connection);
      if (!statements) kept.set(connection, (statements = new Map()));
      let statement = statements.get(sql);
      if (!statement) {
        statement = connection.prepare(sql);
        statements.set(sql, statement);
        if (statements.size > KEPT_STATEMENTS) statements.delete(statements.keys().next().value!);
      }
      return use(statement);
    } finally {
      await pool.releaseConnection(connection);
    }
  };
  return {
    all: <T>(sql: string, params: readonly unknown[] = []) => withStatement(sql, (statement) => statement.all(...sqliteValues(params)) as T[]),
    run: (sql, params = []) => withStatement(sql, (statement) => statement.run(...sqliteValues(params)).changes),
  };
}

/** A value not given is NULL (as the ORM writes an `undefined` property). */
const orNull = (value: unknown) => value ?? null;

/** Values as MikroORM writes them to SQLite: a datetime as epoch milliseconds, a boolean as 0 or 1. */
function sqliteValues(params: readonly unknown[]): unknown[] {
  return params.map((value) => (value instanceof Date ? value.getTime() : typeof value === 'boolean' ? Number(value) : orNull(value)));
}
