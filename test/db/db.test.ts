import { test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { loadMigrator, openDatabase } from '../../src/db/orm.ts';
import { migrationsList } from '../../src/db/migrations/index.ts';
import { makeTempDir } from '../helpers/cli.ts';

test('migrations build the schema the entities describe, and a second start applies nothing', async (t) => {
  const dbPath = path.join(makeTempDir(t), 'operations.db');
  const first = await openDatabase({ dbPath });
  t.after(() => first.close());
  const executed = await (await loadMigrator(first)).getExecutedMigrations();
  assert.deepEqual(executed.map((m) => m.name), migrationsList.map((m) => m.name));
  assert.equal(await first.getSchemaGenerator().getUpdateSchemaSQL({ wrap: false }), '', 'no entity change lacks a migration');
  await first.close();

  const second = await openDatabase({ dbPath, migrate: false });
  t.after(() => second.close());
  const migrator = await loadMigrator(second);
  assert.deepEqual(await migrator.getPendingMigrations(), []);
  await migrator.up();
  assert.equal((await migrator.getExecutedMigrations()).length, migrationsList.length);
});

test('a database made by an older release is migrated forward at start', async (t) => {
  const dbPath = path.join(makeTempDir(t), 'operations.db');
  const old = await openDatabase({ dbPath, migrate: false });
  await (await loadMigrator(old)).up({ to: migrationsList[0].name });
  await old.em.getConnection().execute(`insert into deploy_target (app, host, remote_dir, binary, build_cmd, user, port, health, env, strategy, source_dir, branch, compose_files, repo, created_at, updated_at)
    values ('kept', 'vps1', '/opt/apps/kept', 'kept', '', '', 0, '', '{}', 'systemd', '', 'main', '[]', '', 0, 0)`);
  await old.close();
  const current = await openDatabase({ dbPath });
  t.after(() => current.close());
  const [row] = await current.em.getConnection().execute<{ app: string; auto_rollback: number; keep_releases: number }[]>('select app, auto_rollback, keep_releases from deploy_target');
  assert.deepEqual({ ...row }, { app: 'kept', auto_rollback: 1, keep_releases: 0 }, 'the row is kept and gets the new columns\' defaults');
});
