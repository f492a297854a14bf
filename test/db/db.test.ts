import { test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { databaseKind, describeDatabase, loadMigrator, openDatabase } from '../../src/db/orm.ts';
import { migrationsList } from '../../src/db/migrations/index.ts';
import { migrationsList as postgresMigrationsList } from '../../src/db/migrations-postgres/index.ts';
import { loadConfig } from '../../src/support/config.ts';
import { makeTempDir } from '../helpers/cli.ts';
import { createTestPostgresDatabase, skipWithoutPostgres } from '../helpers/postgres.ts';

type TestContext = Parameters<typeof makeTempDir>[0] & { after: (fn: () => Promise<void>) => void };

const databases = [
  { name: 'SQLite', skip: false as const, list: migrationsList, create: async (t: TestContext) => path.join(makeTempDir(t), 'operations.db') },
  { name: 'PostgreSQL', skip: skipWithoutPostgres(), list: postgresMigrationsList, create: (t: TestContext) => createTestPostgresDatabase(t, { empty: true }) },
];

for (const db of databases) {
  test(`${db.name}: migrations build the schema the entities describe, and a second start applies nothing`, { skip: db.skip }, async (t) => {
    const dbPath = await db.create(t);
    const first = await openDatabase({ dbPath });
    t.after(() => first.close());
    const executed = await (await loadMigrator(first)).getExecutedMigrations();
    assert.deepEqual(executed.map((m) => m.name), db.list.map((m) => m.name));
    assert.equal(await first.getSchemaGenerator().getUpdateSchemaSQL({ wrap: false }), '', 'no entity change lacks a migration');
    await first.close();

    const second = await openDatabase({ dbPath, migrate: false });
    t.after(() => second.close());
    const migrator = await loadMigrator(second);
    assert.deepEqual(await migrator.getPendingMigrations(), []);
    await migrator.up();
    assert.equal((await migrator.getExecutedMigrations()).length, db.list.length);
  });
}

test('SQLite: a database made by an older release is migrated forward at start', async (t) => {
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

test('PostgreSQL: servers starting at once migrate one database once, without an error', { skip: skipWithoutPostgres() }, async (t) => {
  const dbPath = await createTestPostgresDatabase(t, { empty: true });
  const orms = await Promise.all([1, 2, 3].map(() => openDatabase({ dbPath })));
  t.after(async () => { await Promise.all(orms.map((orm) => orm.close())); });
  const [{ count }] = await orms[0].em.getConnection().execute<{ count: string }[]>('select count(*) as count from mikro_orm_migrations');
  assert.equal(Number(count), postgresMigrationsList.length);
});

test('DEPLOY_DB: a postgres:// URL is kept as given and chooses PostgreSQL; its password is never shown', async () => {
  const url = 'postgres://deploy:s3cret-pw@db.internal:5432/deploys';
  assert.equal(loadConfig({ DEPLOY_DB: url }, '/srv').dbPath, url);
  assert.equal(databaseKind(url), 'postgresql');
  assert.equal(databaseKind(loadConfig({}, '/srv').dbPath), 'sqlite');
  assert.equal(loadConfig({}, '/srv').dbPath, '/srv/operations.db');
  assert.equal(describeDatabase(url), 'postgres://deploy:***@db.internal:5432/deploys');
  assert.equal(describeDatabase('postgresql://u@h/d?password=s3cret-pw'), 'postgresql://u@h/d');
  assert.throws(() => loadConfig({ DEPLOY_DB: 'mysql://u@h/d' }), /^ConfigError: DEPLOY_DB must be a SQLite file path or a postgres:\/\/ URL \(got a mysql: URL\)$/);
});

test('PostgreSQL: a server that cannot be reached is one line naming the URL without its password', async () => {
  // Port 1 on localhost: nothing listens there.
  await assert.rejects(openDatabase({ dbPath: 'postgres://deploy:s3cret-pw@127.0.0.1:1/deploys' }), (error: Error) => {
    assert.equal(error.name, 'DatabaseUrlError');
    assert.match(error.message, /^cannot use the PostgreSQL database postgres:\/\/deploy:\*\*\*@127\.0\.0\.1:1\/deploys: /);
    assert.ok(!error.message.includes('s3cret-pw') && !error.message.includes('\n'), error.message);
    return true;
  });
  await assert.rejects(openDatabase({ dbPath: 'postgres://deploy:s3cret-pw@127.0.0.1:1' }), /^DatabaseUrlError: DEPLOY_DB names no database: postgres:\/\/deploy:\*\*\*@127\.0\.0\.1:1 /);
});
