// Reading operations.db without MikroORM: a command that only reads (`target list`) asks SQLite
// directly through better-sqlite3 and never loads the ORM — most of such a command's start-up (the
// ORM is ~1.8 MB of bundled code, and its start builds metadata for every entity). Only for a SQLite
// file that exists and has every migration applied; otherwise the caller opens the ORM, which creates
// or migrates the file first.
import { existsSync } from 'node:fs';
import { databaseKind, hasPendingMigration, migrationsTableQuery } from './kind.ts';

/** Rows of one statement; the reader holds its connection until close(). */
export interface SqliteReader {
  all<T = Record<string, unknown>>(sql: string, params?: unknown[]): T[];
  close(): void;
}

/** A reader on `dbPath`, or null when that is not a SQLite file whose schema is current. */
export async function openSqliteReader(dbPath: string): Promise<SqliteReader | null> {
  if (databaseKind(dbPath) !== 'sqlite' || dbPath === ':memory:' || !existsSync(dbPath)) return null;
  const { default: Database } = await import('better-sqlite3');
  const db = new Database(dbPath, { fileMustExist: true });
  const all = <T>(sql: string, params: unknown[] = []) => db.prepare(sql).all(...params) as T[];
  try {
    const [table] = all(migrationsTableQuery('sqlite'));
    if (!table || hasPendingMigration('sqlite', all<{ name: string }>('select name from mikro_orm_migrations').map((row) => row.name))) {
      db.close();
      return null;
    }
  } catch (error) {
    db.close();
    throw error;
  }
  return { all, close: () => db.close() };
}
