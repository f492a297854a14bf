// Writes a migration for the difference between the entities and the schema the committed
// migrations build: `npm run migration:create`. Then add the new class to src/migrations/index.ts.
import { loadMigrator, openDatabase } from './orm.ts';

const orm = await openDatabase({ dbPath: ':memory:' });
const migrator = await loadMigrator(orm);
const result = await migrator.createMigration(new URL('./migrations', import.meta.url).pathname);
console.log(result.fileName ? `wrote ${result.fileName}` : 'schema is up to date: no migration written');
await orm.close();
