// Issue 12, item 12: the history in operations.db is bounded (DEPLOY_KEEP_RUNS per target and
// DEPLOY_KEEP_DAYS), pruned by `deploy_server prune` and in the background by serve, free pages given back.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { createRequire } from 'node:module';
import { describe, test } from 'node:test';
import type { MikroORM } from '../../src/db/orm.ts';
import { openDatabase } from '../../src/db/orm.ts';
import { pruneHistory, startPruning, type PruneReport } from '../../src/domain/retention.ts';
import { makeTempDir, runBin } from '../helpers/cli.ts';
import { createTestDatabaseUrl, gate, TEST_DATABASES } from '../helpers/engine.ts';
import { longestStall } from '../helpers/event-loop.ts';

const DAY = 24 * 60 * 60 * 1000;
const NOW = Date.now();

/** A time `daysAgo` days ago as the database stores it: SQLite's epoch milliseconds, PostgreSQL's timestamp. */
const daysAgo = (orm: MikroORM, days: number) => (orm.config.get('driver')?.name === 'PostgreSqlDriver' ? new Date(NOW - days * DAY) : NOW - days * DAY);

/** A run of app `a` on `h` (or `target`), `days` old, with two steps of `output`; returns its id. */
async function addRun(orm: MikroORM, fields: { days: number; status: string; release?: number; app?: string; output?: string }): Promise<number> {
  const connection = orm.em.getConnection();
  const [{ id }] = await connection.execute<{ id: number }[]>(
    `insert into deploy_run (app, host, strategy, "trigger", status, queued_at, "release") values (?, 'h', 'systemd', 'api', ?, ?, ?) returning id`,
    [fields.app ?? 'a', fields.status, daysAgo(orm, fields.days), fields.release ?? null],
  );
  for (const step of ['build', 'restart']) {
    await connection.execute(`insert into step_run (run_id, step, status, output) values (?, ?, 'success', ?)`, [id, step, fields.output ?? 'ok']);
  }
  return id;
}

const ids = async (orm: MikroORM, table: string) => (await orm.em.getConnection().execute<{ id: number }[]>(`select id from ${table} order by id`)).map((row) => row.id);

async function seed(orm: MikroORM) {
  const old: number[] = [];
  // Six old runs of a@h: the oldest succeeded (the last success: kept), one is running (kept), one is
  // the release a kept run names (kept); three more old ones that go.
  const lastSuccess = await addRun(orm, { days: 200, status: 'success' });
  old.push(await addRun(orm, { days: 150, status: 'failure' }));
  const running = await addRun(orm, { days: 140, status: 'running' });
  const released = await addRun(orm, { days: 130, status: 'failure' });
  old.push(await addRun(orm, { days: 120, status: 'cancelled' }));
  old.push(await addRun(orm, { days: 110, status: 'interrupted' }));
  // Beyond the newest 3 but young: kept.
  const young = await addRun(orm, { days: 5, status: 'failure' });
  const newest = [await addRun(orm, { days: 100, status: 'failure', release: released }), await addRun(orm, { days: 2, status: 'failure' }), await addRun(orm, { days: 1, status: 'failure' })];
  // Another target's old runs are within its own newest 3: kept.
  const other = [await addRun(orm, { days: 300, status: 'failure', app: 'b' }), await addRun(orm, { days: 300, status: 'failure', app: 'b' })];
  await orm.em.getConnection().execute(`insert into notification_attempt (run_id, sink, event, attempt, status, sent_at, duration_ms) values (?, 'slack x', 'end', 1, 'success', ?, 1)`, [old[0], daysAgo(orm, 0)]);
  const delivery = (days: number, status: string) =>
    orm.em.getConnection().execute(`insert into webhook_delivery (repository, ref, after, status, received_at) values ('o/a', 'refs/heads/main', ?, ?, ?)`, [`c${days}${status}`, status, daysAgo(orm, days)]);
  await delivery(200, 'queued');
  await delivery(100, 'ignored');
  await delivery(200, 'resolving');
  await delivery(3, 'queued');
  return { old, kept: [lastSuccess, running, released, young, ...newest, ...other].sort((x, y) => x - y) };
}

// The policy's rules on both databases (serve prunes PostgreSQL too).
for (const db of TEST_DATABASES) describe(db.name, { skip: db.skip }, () => {
  test('prune: a run goes only when it is beyond the newest N of its target and older than D days; never running, the last success, a named release; steps, attempts and old deliveries go with it', async (t) => {
    const dbPath = await createTestDatabaseUrl(t, db.kind);
    const orm = await openDatabase({ dbPath });
    t.after(() => orm.close());
    const { old, kept } = await seed(orm);
    const policy = { keepRuns: 3, keepDays: 90 };

    const dry = await pruneHistory(orm, dbPath, policy, { dryRun: true });
    assert.deepEqual({ runs: dry.runs, steps: dry.steps, deliveries: dry.deliveries }, { runs: 3, steps: 6, deliveries: 2 });
    assert.equal((await ids(orm, 'deploy_run')).length, old.length + kept.length, 'a dry run deletes nothing');

    const report = await pruneHistory(orm, dbPath, policy);
    assert.deepEqual({ runs: report.runs, steps: report.steps, deliveries: report.deliveries }, { runs: 3, steps: 6, deliveries: 2 });
    assert.deepEqual(await ids(orm, 'deploy_run'), kept);
    const stepRuns = (await orm.em.getConnection().execute<{ run_id: number }[]>('select distinct run_id from step_run order by run_id')).map((row) => row.run_id);
    assert.deepEqual(stepRuns, kept);
    assert.deepEqual(await ids(orm, 'notification_attempt'), []);
    const deliveries = await orm.em.getConnection().execute<{ status: string }[]>('select status from webhook_delivery order by id');
    assert.deepEqual(deliveries.map((row) => row.status), ['resolving', 'queued']);
    // Nothing more to do the second time.
    assert.deepEqual((({ runs, steps, deliveries }) => ({ runs, steps, deliveries }))(await pruneHistory(orm, dbPath, policy)), { runs: 0, steps: 0, deliveries: 0 });
  });

  test('prune: a systemd deploy names its own release (rsync records it); that alone does not keep it', async (t) => {
    const dbPath = await createTestDatabaseUrl(t, db.kind);
    const orm = await openDatabase({ dbPath });
    t.after(() => orm.close());
    const shipped: number[] = [];
    for (const days of [300, 250, 200]) {
      const id = await addRun(orm, { days, status: 'failure' });
      await orm.em.getConnection().execute('update deploy_run set "release" = id where id = ?', [id]);
      shipped.push(id);
    }
    // A rollback that went back to the oldest release names it: that one is kept.
    const rollback = await addRun(orm, { days: 1, status: 'failure', release: shipped[0] });
    const report = await pruneHistory(orm, dbPath, { keepRuns: 1, keepDays: 90 });
    assert.equal(report.runs, 2);
    assert.deepEqual(await ids(orm, 'deploy_run'), [shipped[0], rollback]);
  });

  test("prune: a release named by another target's run is kept too (`rollback --to` may name any run on the host)", async (t) => {
    const dbPath = await createTestDatabaseUrl(t, db.kind);
    const orm = await openDatabase({ dbPath });
    t.after(() => orm.close());
    const [named, gone] = [await addRun(orm, { days: 300, status: 'failure' }), await addRun(orm, { days: 299, status: 'failure' })];
    await addRun(orm, { days: 1, status: 'failure' });
    const naming = await addRun(orm, { days: 1, status: 'failure', app: 'b', release: named });
    const report = await pruneHistory(orm, dbPath, { keepRuns: 1, keepDays: 90 });
    assert.equal(report.runs, 1);
    assert.ok(!(await ids(orm, 'deploy_run')).includes(gone));
    assert.ok((await ids(orm, 'deploy_run')).includes(named) && (await ids(orm, 'deploy_run')).includes(naming));
  });

  test('prune: one target with 130,000 runs to go (more than a call takes arguments)', async (t) => {
    const dbPath = await createTestDatabaseUrl(t, db.kind);
    const orm = await openDatabase({ dbPath });
    t.after(() => orm.close());
    await orm.em.getConnection().execute(
      `with recursive n(i) as (select 1 union all select i + 1 from n where i < ?)
       insert into deploy_run (app, host, strategy, "trigger", status, queued_at) select 'busy', 'h', 'systemd', 'webhook', 'cancelled', ? from n`,
      [130_000, daysAgo(orm, 200)],
    );
    const report = await pruneHistory(orm, dbPath, { keepRuns: 10, keepDays: 90 }, { dryRun: true });
    assert.equal(report.runs, 130_000 - 10);
  });
});

/** 300 old runs with 64 KiB of output per step: ~38 MB of history. */
async function bigHistory(orm: MikroORM) {
  const output = 'z'.repeat(64 * 1024);
  await orm.em.getConnection().execute('begin');
  for (let i = 0; i < 300; i++) await addRun(orm, { days: 200 - i / 10, status: 'failure', output });
  await orm.em.getConnection().execute('commit');
  await orm.em.getConnection().execute('pragma wal_checkpoint(truncate)');
}

test('free pages go back to the file system: incrementally on a new database, by one VACUUM (prune by hand) on an older one', async (t) => {
  const dir = makeTempDir(t);
  const policy = { keepRuns: 10, keepDays: 30 };
  // A new file: auto_vacuum is incremental from the start, the background prune shrinks it.
  const fresh = await openDatabase({ dbPath: path.join(dir, 'new.db') });
  t.after(() => fresh.close());
  assert.deepEqual(await fresh.em.getConnection().execute('pragma auto_vacuum'), [{ auto_vacuum: 2 }]);
  await bigHistory(fresh);
  const incremental = await pruneHistory(fresh, path.join(dir, 'new.db'), policy, { reclaim: 'incremental' });
  assert.equal(incremental.runs, 290);
  assert.ok(incremental.bytesBefore > 30e6, `${incremental.bytesBefore}`);
  assert.ok(incremental.bytesAfter < incremental.bytesBefore / 10, `${incremental.bytesBefore} → ${incremental.bytesAfter}`);

  // A file made before auto_vacuum was set: prune by hand (reclaim 'full') rewrites it once.
  const oldPath = path.join(dir, 'old.db');
  const older = await openDatabase({ dbPath: oldPath });
  t.after(() => older.close());
  await older.em.getConnection().execute('pragma auto_vacuum = none');
  await older.em.getConnection().execute('vacuum');
  assert.deepEqual(await older.em.getConnection().execute('pragma auto_vacuum'), [{ auto_vacuum: 0 }]);
  await bigHistory(older);
  const full = await pruneHistory(older, oldPath, policy, { reclaim: 'full' });
  assert.ok(full.bytesAfter < full.bytesBefore / 10, `${full.bytesBefore} → ${full.bytesAfter}`);
  assert.equal(fs.statSync(oldPath).size, full.bytesAfter);
  assert.deepEqual(await older.em.getConnection().execute('pragma auto_vacuum'), [{ auto_vacuum: 2 }]);
});

test('serve\'s background pruning: runs on its unref\'d timer, reports, and stop() waits for it', async (t) => {
  const dbPath = path.join(makeTempDir(t), 'operations.db');
  const orm = await openDatabase({ dbPath });
  t.after(() => orm.close());
  await seed(orm);
  const pruned = gate<PruneReport>();
  const pruning = startPruning({ orm, dbPath, policy: { keepRuns: 3, keepDays: 90 }, intervalMs: 60 * 60 * 1000, firstAfterMs: 0, onPruned: pruned.open });
  const report = await pruned.promise;
  await pruning.stop();
  assert.equal(report.runs, 3);
  assert.equal(report.deliveries, 2);
});

for (const db of TEST_DATABASES) test(`deploy_server prune [--dry-run] on ${db.name}: one line of what goes; a bad DEPLOY_KEEP_RUNS is one line`, { skip: db.skip }, async (t) => {
  const dbPath = await createTestDatabaseUrl(t, db.kind);
  const orm = await openDatabase({ dbPath });
  await seed(orm);
  await orm.close();
  const env = { DEPLOY_DB: dbPath, DEPLOY_KEEP_RUNS: '3', DEPLOY_KEEP_DAYS: '90' };
  const dry = await runBin(['prune', '--dry-run'], env);
  assert.equal(dry.code, 0, dry.stderr);
  assert.match(dry.stdout, /^would prune 3 run\(s\) \(6 step\(s\)\) and 2 webhook deliveries; database [\d.]+ MB\n$/);
  const real = await runBin(['prune'], env);
  assert.equal(real.code, 0, real.stderr);
  assert.match(real.stdout, /^pruned 3 run\(s\) \(6 step\(s\)\) and 2 webhook deliveries; database [\d.]+ MB → [\d.]+ MB\n$/);
  assert.match((await runBin(['prune', '--dry-run'], env)).stdout, /^would prune 0 run\(s\)/);
  const bad = await runBin(['prune'], { ...env, DEPLOY_KEEP_RUNS: 'lots' });
  assert.equal(bad.code, 1);
  assert.equal(bad.stderr, 'error: DEPLOY_KEEP_RUNS must be a positive integer (got "lots")\n');
});

test("serve's background prune of a large history leaves the event loop free: small pieces with a turn of the loop between them", async (t) => {
  const dbPath = path.join(makeTempDir(t), 'operations.db');
  await (await openDatabase({ dbPath })).close();
  // 6000 old runs with 4 steps of 4 KB output each and a delivery each (~100 MB), written directly.
  const raw = new (createRequire(import.meta.url)('better-sqlite3'))(dbPath);
  const old = NOW - 90 * DAY;
  const insertRun = raw.prepare(`insert into deploy_run (app, host, strategy, "trigger", status, queued_at, finished_at, duration_ms) values ('web', 'vps1', 'systemd', 'webhook', 'failure', ?, ?, 1)`);
  const insertStep = raw.prepare(`insert into step_run (run_id, step, status, output) values (?, ?, 'success', ?)`);
  const insertDelivery = raw.prepare(`insert into webhook_delivery (repository, ref, "after", status, run_ids, received_at) values ('o/r', 'refs/heads/main', ?, 'queued', '[]', ?)`);
  raw.transaction(() => {
    for (let i = 0; i < 6000; i++) {
      const id = insertRun.run(old + i, old + i).lastInsertRowid;
      for (const step of ['fetch', 'build', 'ship', 'health']) insertStep.run(id, step, 'x'.repeat(4000));
      insertDelivery.run(String(i), old + i);
    }
  })();
  raw.close();
  const orm = await openDatabase({ dbPath });
  t.after(() => orm.close());
  const { value: report, stallMs } = await longestStall(() => pruneHistory(orm, dbPath, { keepRuns: 10, keepDays: 30 }));
  assert.deepEqual([report.runs, report.deliveries], [5990, 6000]);
  assert.ok(report.bytesAfter < report.bytesBefore / 10, `${report.bytesBefore} → ${report.bytesAfter}`);
  assert.ok(stallMs < 250, `the server answered nothing for ${stallMs.toFixed(0)} ms`);
});
