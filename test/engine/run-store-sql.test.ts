// The run store's own SQL (a `case … end` update, insert … returning, a window query) on both databases.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { RunStore, type NewRun } from '../../src/engine/run-store.ts';
import { openTestDatabase, TEST_DATABASES } from '../helpers/engine.ts';

const runOf = (app: string, host: string): NewRun => ({ app, host, strategy: 'systemd', trigger: 'webhook', ref: 'refs/heads/main', commit: null, rollback_to: null });

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

  test('targetHistory keeps the newest runs of each target, newest first, with ISO times and booleans', async (t) => {
    const store = new RunStore(await openTestDatabase(t, { database: db.kind }));
    const ids = await store.queue([runOf('a', 'h1'), runOf('a', 'h1'), runOf('a', 'h1'), runOf('b', 'h1')], process.pid);
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
});
