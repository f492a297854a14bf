import { test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { openDatabase } from '../src/db/orm.ts';
import { migrationsList } from '../src/migrations/index.ts';
import { makeTempDir } from './helpers/cli.ts';

test('migrations build the schema the entities describe, and a second start applies nothing', async (t) => {
  const dbPath = path.join(makeTempDir(t), 'operations.db');
  const first = await openDatabase({ dbPath });
  t.after(() => first.close());
  const executed = await first.getMigrator().getExecutedMigrations();
  assert.deepEqual(executed.map((m) => m.name), migrationsList.map((m) => m.name));
  assert.equal(await first.getSchemaGenerator().getUpdateSchemaSQL({ wrap: false }), '', 'no entity change lacks a migration');
  await first.close();

  const second = await openDatabase({ dbPath, migrate: false });
  t.after(() => second.close());
  assert.deepEqual(await second.getMigrator().getPendingMigrations(), []);
  await second.getMigrator().up();
  assert.equal((await second.getMigrator().getExecutedMigrations()).length, migrationsList.length);
});
