// Issue 12, item 11: a database write failing mid-run (here the real SQLite condition: the connection
// made read-only) must not leave the run `running` for ever, nor make other processes wait on it.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { test } from 'node:test';
import { definePipeline } from '../../src/engine/pipeline.ts';
import { RunStore } from '../../src/engine/run-store.ts';
import { claimTarget } from '../../src/engine/target-claim.ts';
import { DeployRun } from '../../src/db/entities/DeployRun.ts';
import { createTestExecutor, gate, openTestDatabase, until } from '../helpers/engine.ts';

test('a database write failing mid-run: waiters hear `failure` at once, the row ends `failure` as soon as a write succeeds again', async (t) => {
  const building = gate();
  const finishBuild = gate();
  const pipeline = definePipeline({
    build: { run: async () => { building.open(); await finishBuild.promise; } },
    ship: { run: async () => undefined, needs: ['build'] },
  });
  const { executor, orm, run, steps } = await createTestExecutor(t, { pipeline });
  const { runId, done } = await executor.requestDeploy({ app: 'app', host: 'h1', trigger: 'manual' });
  await building.promise;
  const connection = orm.em.getConnection();
  // Every write on this connection now fails as on a read-only file: SQLITE_READONLY.
  await connection.execute('pragma query_only = 1');
  t.after(() => connection.execute('pragma query_only = 0').catch(() => undefined));
  finishBuild.open();
  const result = await done;
  assert.equal(result.status, 'failure');
  assert.match(result.error ?? '', /^internal error: /);
  assert.equal((await run(runId)).status, 'running', 'nothing can be written while the file is read-only');

  await connection.execute('pragma query_only = 0');
  await until(async () => (await run(runId)).status === 'failure', 10_000);
  const row = await run(runId);
  assert.match(row.error ?? '', /^internal error: .*readonly/i);
  assert.ok(row.finished_at);
  assert.equal(row.lease_until, null);
  const byStep = await steps(runId);
  assert.deepEqual([byStep.build.status, byStep.ship.status], ['failure', 'skipped']);
});

test('a run whose owner lives but whose lease lapsed (its writes fail) no longer holds its target: a newer run claims it', async (t) => {
  const orm = await openTestDatabase(t);
  const store = new RunStore(orm);
  // Another live process owns the older run: a child that sleeps.
  const owner = spawn('sleep', ['60']);
  t.after(() => owner.kill());
  await once(owner, 'spawn');
  const run = (id: number) => ({ runId: id, app: 'app', host: 'h1' });
  const [older, newer] = await store.queue(
    [0, 1].map(() => ({ app: 'app', host: 'h1', strategy: 'systemd' as const, trigger: 'manual' as const, ref: null, commit: null, rollback_to: null })),
    owner.pid!,
  );
  // The older run was claimed with a lease of 400 ms and then never renewed.
  await store.setStatus(older, 'running', 400);
  const claimedAt = Date.now();
  const claimed = await claimTarget(store, run(newer), AbortSignal.timeout(15_000));
  assert.equal(claimed, true, 'the newer run still waited on the older one when its lease had long lapsed');
  assert.ok(Date.now() - claimedAt >= 300, 'the newer run did not wait while the lease held');
  assert.equal((await orm.em.fork().findOneOrFail(DeployRun, { id: newer })).status, 'running');
});

test('a running run\'s lease is renewed while it lives: a newer run of another process waits for it', async (t) => {
  const orm = await openTestDatabase(t);
  const store = new RunStore(orm);
  const owner = spawn('sleep', ['60']);
  t.after(() => owner.kill());
  await once(owner, 'spawn');
  const [older, newer] = await store.queue(
    [0, 1].map(() => ({ app: 'app', host: 'h1', strategy: 'systemd' as const, trigger: 'manual' as const, ref: null, commit: null, rollback_to: null })),
    owner.pid!,
  );
  await store.setStatus(older, 'running', 300);
  const renew = setInterval(() => void store.renewLease(older, 300), 50);
  const waiting = claimTarget(store, { runId: newer, app: 'app', host: 'h1' }, AbortSignal.timeout(15_000));
  // Held for well past the first lease while renewed, then the older run ends and the newer one goes.
  await until(async () => (await orm.em.fork().findOneOrFail(DeployRun, { id: older })).lease_until! > new Date(Date.now() + 100), 5000);
  await new Promise((resolve) => setTimeout(resolve, 1200));
  let settled = false;
  void waiting.then(() => (settled = true));
  await Promise.resolve();
  assert.equal(settled, false, 'the newer run went ahead while the older one renewed its lease');
  clearInterval(renew);
  await store.finish({ id: older, status: 'success', failed_step: null, error: null, duration_ms: 1, trace_id: null, rolled_back: false }, new Date());
  assert.equal(await waiting, true);
});
