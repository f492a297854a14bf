// Which database DEPLOY_DB names, and whether its schema is current: no MikroORM here, so that a
// command reading without the ORM (see sqlite-reader.ts) loads none of it.
import { migrationNames as sqliteMigrationNames } from './migrations/names.ts';
import { migrationNames as postgresMigrationNames } from './migrations-postgres/names.ts';

export type DatabaseKind = 'sqlite' | 'postgresql';

/** Which database a DEPLOY_DB value names. */
export function databaseKind(dbPath: string): DatabaseKind {
  return /^postgres(ql)?:\/\//i.test(dbPath) ? 'postgresql' : 'sqlite';
}

/** A query that gives one row (its `name`) when the database has MikroORM's table of applied migrations. */
export function migrationsTableQuery(kind: DatabaseKind): string {
  return kind === 'postgresql'
    ? `select table_name as name from information_schema.tables where table_schema = current_schema() and table_name = 'mikro_orm_migrations'`
    : `select name from sqlite_master where type = 'table' and name = 'mikro_orm_migrations'`;
}

/** Whether a committed migration is missing from those a database has applied (the names in mikro_orm_migrations). */
export function hasPendingMigration(kind: DatabaseKind, applied: readonly string[]): boolean {
  const done = new Set(applied);
  return (kind === 'postgresql' ? postgresMigrationNames : sqliteMigrationNames).some((name) => !done.has(name));
}
