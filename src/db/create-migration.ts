// Writes a migration for the difference between the entities and the schema the committed
// migrations build: `npm run migration:create` for SQLite, `npm run migration:create -- postgres://…/empty_db`
// for PostgreSQL (an empty scratch database: the committed migrations are applied to it first). Then
// add the new class to the folder's index.ts and names.ts.
import { databaseKind, describeDatabase, loadMigrator, openDatabase } from './orm.ts';

const target = process.argv[2] ?? ':memory:';
const folder = databaseKind(target) === 'postgresql' ? './migrations-postgres' : './migrations';
const orm = await openDatabase({ dbPath: target });
const migrator = await loadMigrator(orm);
const result = await migrator.createMigration(new URL(folder, import.meta.url).pathname);
console.log(result.fileName ? `wrote ${result.fileName} (from ${describeDatabase(target)})` : 'schema is up to date: no migration written');
await orm.close();
