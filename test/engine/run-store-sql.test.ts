// The run store's own SQL (a `case … end` update, insert … returning, per-target `union all`s, the
// claim's `not exists`, the retention delete) on both databases; on SQLite, its planner says which of
// the reads a webhook batch and the dashboard make walk the history.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import Database from 'better-sqlite3';
import { RunStore, type NewRun } from '../../src/engine/run-store.ts';
import { StepRun } from '../../src/db/entities/StepRun.ts';
import type { MikroORM } from '../../src/db/orm.ts';
import { saveTarget } from '../../src/domain/targets.ts';
import { openTestDatabase, TEST_DATABASES } from '../helpers/engine.ts';

const runOf = (app: string, host: string): NewRun => ({ app, host, strategy: 'systemd', trigger: 'webhook', ref: 'refs/heads/main', commit: null, rollback_to: null });

const addTarget = (orm: MikroORM, app: string, host: string) =>
  saveTarget(orm.em.fork(), { app, host, strategy: 'systemd', binary: app, remote_dir: `/srv/${app}`, build_cmd: 'true', source_dir: '.' });

/**
 * The statements `work` prepares on SQLite (better-sqlite3's prepare, watched meanwhile), each with
 * SQLite's plan for it (asked on the same connection once `work` is done; values bound as nulls).
 */
async function sqlitePlans(work: () => Promise<unknown>): Promise<{ sql: string; plan: string }[]> {
  const prepare = Database.prototype.prepare;
  const seen: { sql: string; connection: Database.Database }[] = [];
  Database.prototype.prepare = function (this: Database.Database, sql: string) {
    seen.push({ sql, connection: this });
    return prepare.call(this, sql);
  } as typeof prepare;
  try {
    await work();
  } finally {
    Database.prototype.prepare = prepare;
  }
  return seen.filter(({ sql }) => !sql.startsWith('pragma')).map(({ sql, connection }) => {
    const nulls = Array<null>(sql.split('?').length - 1).fill(null);
    const plan = connection.prepare(`explain query plan ${sql}`).all(...nulls) as { detail: string }[];
    return { sql, plan: plan.map((row) => row.detail).join(' | ') };
  });
}

for (const db of TEST_DATABASES) describe(db.name, { skip: db.skip }, () => {
  test('queue writes runs in one statement and returns their ids in the order given', async (t) => {
    const store = new RunStore(await openTestDatabase(t, { database: db.kind }));
    const ids = await store.queue([runOf('a', 'h1'), runOf('b', 'h1'), runOf('c', 'h2')], process.pid);
    assert.equal(ids.length, 3);
    assert.deepEqual([...ids].sort((x, y) => x - y), ids);
    assert.deepEqual((await Promise.all(ids.map((id) => store.findRun(id, 0)))).map((run) => [run!.app, run!.status]), [['a', 'queued'], ['b', 'queued'], ['c', 'queued']]);
  });

  test('endUnstarted gives each run its own status and reason in one write', async (t) => {
    const store = new RunStore(await openTestDatabase(t, { database: db.kind }));
    const [one, two] = await store.queue([runOf('a', 'h1'), runOf('a', 'h1')], process.pid);
    await store.endUnstarted([{ id: one, status: 'cancelled', reason: `superseded by run #${two}` }, { id: two, status: 'interrupted', reason: 'shut down' }]);
    const [first, second] = [await store.findRun(one, 0), await store.findRun(two, 0)];
    assert.deepEqual([first!.status, first!.error, first!.duration_ms], ['cancelled', `superseded by run #${two}`, 0]);
    assert.deepEqual([second!.status, second!.error], ['interrupted', 'shut down']);
    assert.ok(first!.finished_at && second!.finished_at);
  });

  test('targetHistory keeps the newest runs of each configured target, newest first, with ISO times and booleans', async (t) => {
    const orm = await openTestDatabase(t, { database: db.kind });
    const store = new RunStore(orm);
    await addTarget(orm, 'a', 'h1');
    await addTarget(orm, 'b', 'h1');
    const ids = await store.queue([runOf('a', 'h1'), runOf('a', 'h1'), runOf('a', 'h1'), runOf('b', 'h1'), runOf('gone', 'h1')], process.pid);
    await store.finish({ id: ids[2], status: 'failure', failed_step: 'build', error: 'red', duration_ms: 5, trace_id: null, rolled_back: true }, new Date('2026-01-02T03:04:05.000Z'));
    const history = await store.targetHistory(2);
    assert.deepEqual(history.map((run) => run.id), [ids[3], ids[2], ids[1]]);
    assert.deepEqual({ ...history[1] }, {
      id: ids[2], app: 'a', host: 'h1', trigger: 'webhook', status: 'failure', commit: null, error: 'red', duration_ms: 5,
      queued_at: history[1].queued_at, finished_at: '2026-01-02T03:04:05.000Z', rolled_back: true,
    });
    assert.match(history[1].queued_at, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
    assert.equal(history[0].rolled_back, false);
  });

  test('targetHistory and deployedCommits with more targets than one statement takes', async (t) => {
    const orm = await openTestDatabase(t, { database: db.kind });
    const store = new RunStore(orm);
    const targets = Array.from({ length: 230 }, (_, i) => ({ app: `app${i}`, host: 'h1' }));
    for (const { app, host } of targets) await addTarget(orm, app, host);
    const ids = await store.queue(targets.flatMap(({ app, host }) => [{ ...runOf(app, host), commit: `${app}-1` }, { ...runOf(app, host), commit: `${app}-2` }]), process.pid);
    for (const id of ids) await store.finish({ id, status: 'success', failed_step: null, error: null, duration_ms: 1, trace_id: null, rolled_back: false }, new Date());
    const history = await store.targetHistory(1);
    assert.deepEqual(history.map((run) => run.id), ids.filter((_, i) => i % 2 === 1).reverse(), "each target's newest run, newest first");
    const commits = await store.deployedCommits([...targets, targets[0]]);
    assert.equal(commits.size, targets.length);
    assert.ok(targets.every(({ app, host }) => commits.get(`${app}@${host}`) === `${app}-2`));
  });
  test("deployedCommits: each target's last successful run, commit_after before the requested commit, in one query", async (t) => {
    const store = new RunStore(await openTestDatabase(t, { database: db.kind }));
    const ids = await store.queue([
      { ...runOf('a', 'h1'), commit: 'c1' }, { ...runOf('a', 'h1'), commit: 'c2' }, { ...runOf('a', 'h2'), commit: 'c3' },
      { ...runOf('a', 'h2'), commit: 'c4' }, { ...runOf('b', 'h1'), commit: 'c5' }, { ...runOf('c', 'h1'), commit: 'c6' },
    ], process.pid);
    const end = (id: number, status: 'success' | 'failure') => store.finish({ id, status, failed_step: null, error: null, duration_ms: 1, trace_id: null, rolled_back: false }, new Date());
    await end(ids[0], 'success');
    await store.record(ids[1], { commit_after: 'pulled2' });
    await end(ids[1], 'success');
    await end(ids[2], 'success');
    await end(ids[3], 'failure'); // a failed run after: a2 still runs c3
    await end(ids[5], 'success');
    const commits = await store.deployedCommits([{ app: 'a', host: 'h1' }, { app: 'a', host: 'h2' }, { app: 'b', host: 'h1' }]);
    assert.deepEqual(Object.fromEntries(commits), { 'a@h1': 'pulled2', 'a@h2': 'c3' }, 'b@h1 never succeeded; c@h1 was not asked for');
    assert.deepEqual(await store.deployedCommits([]), new Map());
  });

  test("SQLite: a webhook batch's and the dashboard's reads of the runs never walk the history", { skip: db.kind !== 'sqlite' && 'SQLite only' }, async (t) => {
    const orm = await openTestDatabase(t, { database: db.kind });
    const store = new RunStore(orm);
    await addTarget(orm, 'a', 'h1');
    await addTarget(orm, 'b', 'h2');
    const plans = await sqlitePlans(async () => {
      await store.deployedCommits([{ app: 'a', host: 'h1' }, { app: 'b', host: 'h2' }]);
      await store.targetHistory(10);
    });
    const runReads = plans.filter(({ sql }) => sql.includes('deploy_run'));
    assert.equal(runReads.length, 2, JSON.stringify(plans));
    for (const { sql, plan } of runReads) {
      assert.doesNotMatch(plan, /SCAN deploy_run|TEMP B-TREE/, `${sql}\n→ ${plan}`);
      // Each target's runs, found by app and host: not every run of its app.
      assert.match(plan, /USING (COVERING )?INDEX deploy_run_app_host_\w+ \(app=\? AND host=\?/, `${sql}\n→ ${plan}`);
    }
  });

  test('tryClaim takes a queued run only while no other run of the target holds a live lease', async (t) => {
    const store = new RunStore(await openTestDatabase(t, { database: db.kind }));
    const [first, second, other] = await store.queue([runOf('a', 'h1'), runOf('a', 'h1'), runOf('b', 'h1')], process.pid);
    assert.equal(await store.tryClaim(first, 'a', 'h1'), true);
    assert.equal(await store.tryClaim(first, 'a', 'h1'), false, 'taken already');
    assert.equal(await store.tryClaim(second, 'a', 'h1'), false, 'the first holds the target');
    assert.equal(await store.tryClaim(other, 'b', 'h1'), true, 'another target is free');
    await store.setStatus(first, 'running', -1); // its lease has lapsed
    assert.equal(await store.tryClaim(second, 'a', 'h1'), true);
    assert.equal((await store.findRun(second, 0))!.status, 'running');
  });

  test('pastRuns: the runs before one that shipped a release or left a commit, newest first; not the superseded ones', async (t) => {
    const orm = await openTestDatabase(t, { database: db.kind });
    const store = new RunStore(orm);
    const [shipped, superseded, pulled, otherTarget, current] = await store.queue([runOf('a', 'h1'), runOf('a', 'h1'), runOf('a', 'h1'), runOf('b', 'h1'), runOf('a', 'h1')], process.pid);
    await store.record(shipped, { release: shipped });
    await store.finish({ id: shipped, status: 'failure', failed_step: 'health', error: 'x', duration_ms: 1, trace_id: null, rolled_back: true }, new Date());
    await store.endUnstarted([{ id: superseded, status: 'cancelled', reason: 'superseded' }]);
    await store.record(pulled, { commit_after: 'c'.repeat(40) });
    await store.finish({ id: pulled, status: 'success', failed_step: null, error: null, duration_ms: 1, trace_id: null, rolled_back: false }, new Date());
    await store.record(otherTarget, { release: otherTarget });
    assert.deepEqual(await store.pastRuns('a', 'h1', current), [
      { id: pulled, trigger: 'webhook', status: 'success', commit_after: 'c'.repeat(40), release: null, rolled_back: false },
      { id: shipped, trigger: 'webhook', status: 'failure', commit_after: null, release: shipped, rolled_back: true },
    ]);
    assert.deepEqual(await store.pastRuns('a', 'h1', pulled), [{ id: shipped, trigger: 'webhook', status: 'failure', commit_after: null, release: shipped, rolled_back: true }]);
  });

  test("leaselessRunningOwners: the owners of the target's older running runs that hold no lease (an earlier version's)", async (t) => {
    const orm = await openTestDatabase(t, { database: db.kind });
    const store = new RunStore(orm);
    const [legacy, leased, , other] = await store.queue([runOf('a', 'h1'), runOf('a', 'h1'), runOf('a', 'h1'), runOf('b', 'h1')], 4242);
    await orm.em.getConnection().execute(`update deploy_run set status = 'running', lease_until = null where id in (?, ?)`, [legacy, other]);
    await store.setStatus(leased, 'running');
    const newer = (await store.queue([runOf('a', 'h1')], process.pid))[0];
    assert.deepEqual(await store.leaselessRunningOwners('a', 'h1', newer), [4242], 'the legacy run only: not the leased one, the queued one, nor another target\'s');
    assert.deepEqual(await store.leaselessRunningOwners('a', 'h1', legacy), [], 'only older runs count');
  });

  test('deleteFinishedRuns deletes finished runs with their steps, never a queued or running one', async (t) => {
    const orm = await openTestDatabase(t, { database: db.kind });
    const store = new RunStore(orm);
    const [done, queued, running] = await store.queue([runOf('a', 'h1'), runOf('a', 'h1'), runOf('a', 'h1')], process.pid);
    await store.start(done, new Date(), null, ['build']);
    await store.finish({ id: done, status: 'success', failed_step: null, error: null, duration_ms: 1, trace_id: null, rolled_back: false }, new Date());
    await store.setStatus(running, 'running');
    await store.start(running, new Date(), null, ['build']);
    await store.deleteFinishedRuns([done, queued, running]);
    assert.equal(await store.findRun(done, 0), null);
    assert.deepEqual([(await store.findRun(queued, 0))!.status, (await store.findRun(running, 0))!.status], ['queued', 'running']);
    assert.deepEqual((await orm.em.fork().find(StepRun, {})).map((step) => step.run.id), [running], "the deleted run's steps went with it");
  });
});
