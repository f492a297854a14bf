import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync, spawn } from 'node:child_process';
import { once } from 'node:events';
import { definePipeline, type StepContext } from '../../src/engine/pipeline.ts';
import { recoverInterruptedRuns } from '../../src/engine/target-claim.ts';
import { RunStore } from '../../src/engine/run-store.ts';
import { DeployRun } from '../../src/db/entities/DeployRun.ts';
import { StepRun } from '../../src/db/entities/StepRun.ts';
import { createTestExecutor, gate, heldFirstRun, openTestDatabase, stepUntilAborted, TEST_DATABASES, until } from '../helpers/engine.ts';

const noop = async () => undefined;

// Every test runs on SQLite and on PostgreSQL: the run store's SQL and the claim must hold on both.
for (const db of TEST_DATABASES) describe(db.name, { skip: db.skip }, () => {
  test('a step starts as soon as its needs are done, not in waves', async (t) => {
    const slowSibling = gate();
    const order: string[] = [];
    const pipeline = definePipeline({
      slow: { run: async () => { order.push('slow:start'); await slowSibling.promise; order.push('slow:end'); } },
      fast: { run: async () => { order.push('fast'); } },
      // Would never start under waves (it waits for `slow`'s whole wave), so `slow` would never be let go.
      afterFast: { run: async () => { order.push('afterFast'); slowSibling.open(); }, needs: ['fast'] },
      last: { run: async () => { order.push('last'); }, needs: ['slow', 'afterFast'] },
    });
    const { executor, steps } = await createTestExecutor(t, { database: db.kind, pipeline });
    const { runId, done } = await executor.requestDeploy({ app: 'app', host: 'h1', trigger: 'manual' });
    const outcome = await done;
    assert.equal(outcome.status, 'success');
    assert.ok(order.indexOf('afterFast') < order.indexOf('slow:end'), order.join(' '));
    assert.equal(order.at(-1), 'last');
    const rows = await steps(runId);
    assert.deepEqual(Object.keys(rows), ['slow', 'fast', 'afterFast', 'last']);
    assert.ok(Object.values(rows).every((s) => s.status === 'success' && s.duration_ms !== null && s.started_at));
  });

  test("a step's typed result reaches the steps that need it", async (t) => {
    let shipped = '';
    const build = async () => ({ artifactPath: '/tmp/build/my_app' });
    const ship = async ({ results }: StepContext<{ build: { artifactPath: string } }>) => {
      shipped = results.build.artifactPath;
    };
    const pipeline = definePipeline({ build: { run: build }, ship: { run: ship, needs: ['build'] } });
    const { executor } = await createTestExecutor(t, { database: db.kind, pipeline });
    const { done } = await executor.requestDeploy({ app: 'app', host: 'h1', trigger: 'manual' });
    assert.equal((await done).status, 'success');
    assert.equal(shipped, '/tmp/build/my_app');
  });

  test('a failing step skips its dependents, running siblings finish, the run fails at that step', async (t) => {
    const siblingRunning = gate();
    const releaseSibling = gate();
    let siblingFinished = false;
    const pipeline = definePipeline({
      sibling: { run: async () => { siblingRunning.open(); await releaseSibling.promise; siblingFinished = true; } },
      broken: {
        run: async () => {
          await siblingRunning.promise;
          setTimeout(() => releaseSibling.open(), 20);
          throw Object.assign(new Error('exit status 2: make: *** [all] Error 2'), { exitCode: 2 });
        },
      },
      dependent: { run: noop, needs: ['broken'] },
      afterSibling: { run: noop, needs: ['sibling'] },
      last: { run: noop, needs: ['dependent', 'afterSibling'] },
    });
    const { executor, run, steps } = await createTestExecutor(t, { database: db.kind, pipeline });
    const { runId, done } = await executor.requestDeploy({ app: 'app', host: 'h1', trigger: 'manual' });
    const outcome = await done;
    assert.deepEqual(
      { status: outcome.status, failed_step: outcome.failed_step, error: outcome.error },
      { status: 'failure', failed_step: 'broken', error: 'exit status 2: make: *** [all] Error 2' },
    );
    assert.ok(siblingFinished, 'the running sibling was let finish');
    const row = await run(runId);
    assert.equal(row.status, 'failure');
    assert.equal(row.failed_step, 'broken');
    assert.ok(row.finished_at && row.duration_ms !== null);
    const rows = await steps(runId);
    assert.deepEqual(Object.fromEntries(Object.entries(rows).map(([id, s]) => [id, s.status])), {
      sibling: 'success',
      broken: 'failure',
      dependent: 'skipped',
      afterSibling: 'skipped',
      last: 'skipped',
    });
    assert.equal(rows.broken.exit_code, 2);
    assert.equal(rows.dependent.error, 'skipped: broken failed');
  });

  test('per-host limit 1 serializes two apps on one host while a second host runs alongside', async (t) => {
    const holds = new Map<string, ReturnType<typeof gate<void>>>();
    const active = new Set<string>();
    const seenTogether: string[][] = [];
    const pipeline = definePipeline({
      work: {
        run: async ({ deploy }: StepContext) => {
          const key = `${deploy.target.app}@${deploy.target.host}`;
          active.add(key);
          seenTogether.push([...active].sort());
          const hold = gate();
          holds.set(key, hold);
          await hold.promise;
          active.delete(key);
        },
      },
    });
    const { executor } = await createTestExecutor(t, { database: db.kind,
      pipeline,
      config: { hostConcurrency: 1 },
      targets: [{ app: 'one', host: 'h1' }, { app: 'two', host: 'h1' }, { app: 'three', host: 'h2' }],
    });
    const one = await executor.requestDeploy({ app: 'one', host: 'h1', trigger: 'manual' });
    const two = await executor.requestDeploy({ app: 'two', host: 'h1', trigger: 'manual' });
    const three = await executor.requestDeploy({ app: 'three', host: 'h2', trigger: 'manual' });
    await until(() => active.has('one@h1') && active.has('three@h2'));
    assert.ok(!active.has('two@h1'), 'the second app on h1 waits for the first');
    holds.get('three@h2')!.open();
    await three.done;
    assert.ok(!active.has('two@h1'), 'still waiting: h1 is busy, whatever h2 does');
    holds.get('one@h1')!.open();
    await one.done;
    await until(() => active.has('two@h1'));
    holds.get('two@h1')!.open();
    assert.equal((await two.done).status, 'success');
    assert.ok(!seenTogether.some((keys) => keys.includes('one@h1') && keys.includes('two@h1')), 'never both h1 apps at once');
  });

  test('DEPLOY_MAX_CONCURRENCY bounds the runs at once across all hosts; the others start as places free up', async (t) => {
    const active = new Set<string>();
    let most = 0;
    const holds = new Map<string, { open: () => void }>();
    const pipeline = definePipeline({
      work: {
        run: async ({ deploy }: StepContext) => {
          const key = deploy.target.app;
          const hold = gate<void>();
          holds.set(key, hold);
          active.add(key);
          most = Math.max(most, active.size);
          await hold.promise;
          active.delete(key);
        },
      },
    });
    const { loadConfig } = await import('../../src/support/config.ts');
    const { maxConcurrency } = loadConfig({ DEPLOY_MAX_CONCURRENCY: '2' });
    const apps = ['a', 'b', 'c', 'd'];
    const { executor } = await createTestExecutor(t, { database: db.kind,
      pipeline,
      config: { maxConcurrency, hostConcurrency: 4 },
      targets: apps.map((app, i) => ({ app, host: `h${i}` })),
    });
    const runs = [];
    for (const [i, app] of apps.entries()) runs.push(await executor.requestDeploy({ app, host: `h${i}`, trigger: 'manual' }));
    await until(() => active.size === 2);
    const first = [...active];
    const waiting = apps.filter((app) => !first.includes(app));
    assert.ok(waiting.every((app) => !holds.has(app)), 'two are waiting, on four different hosts');
    holds.get(first[0])!.open();
    await until(() => active.size === 2 && waiting.some((app) => active.has(app)));
    for (const app of apps) {
      await until(() => holds.has(app), 5000);
      holds.get(app)!.open();
    }
    assert.deepEqual((await Promise.all(runs.map((r) => r.done))).map((r) => r.status), ['success', 'success', 'success', 'success']);
    assert.equal(most, 2);
  });

  test('ten requests for one busy target give exactly one follow-up run, carrying the last commit', async (t) => {
    const { pipeline, deployed: deployedCommits, firstRunning, releaseFirst } = heldFirstRun();
    const { executor, runs } = await createTestExecutor(t, { database: db.kind, pipeline });
    const first = await executor.requestDeploy({ app: 'app', host: 'h1', trigger: 'webhook', commit: 'c0' });
    await firstRunning.promise;
    const followUps = [];
    for (let i = 1; i <= 10; i++) followUps.push(await executor.requestDeploy({ app: 'app', host: 'h1', trigger: 'webhook', commit: `c${i}` }));
    releaseFirst.open();
    const outcomes = await Promise.all([first.done, ...followUps.map((f) => f.done)]);
    assert.deepEqual(deployedCommits, ['c0', 'c10']);
    assert.deepEqual(outcomes.map((o) => o.status), ['success', ...Array(9).fill('cancelled'), 'success']);
    const rows = await runs();
    assert.equal(rows.length, 11);
    const cancelled = rows.filter((r) => r.status === 'cancelled');
    assert.equal(cancelled.length, 9);
    for (const row of cancelled) {
      assert.match(row.error!, /^superseded by run #\d+, a newer deploy request for app@h1$/);
      assert.ok(row.finished_at);
    }
    assert.deepEqual(rows.filter((r) => r.status === 'success').map((r) => r.commit), ['c0', 'c10']);
  });

  test('cancel ends a running run as cancelled, its running step too; a queued run is cancelled before it starts', async (t) => {
    const { step: long, started, sawAbort } = stepUntilAborted();
    const pipeline = definePipeline({ long, after: { run: noop, needs: ['long'] } });
    const { executor, run, steps } = await createTestExecutor(t, { database: db.kind, pipeline });
    const running = await executor.requestDeploy({ app: 'app', host: 'h1', trigger: 'api' });
    await started.promise;
    const queued = await executor.requestDeploy({ app: 'app', host: 'h1', trigger: 'api' });
    assert.equal(await executor.cancel(queued.runId), true);
    assert.equal((await queued.done).status, 'cancelled');
    assert.equal(await executor.cancel(running.runId), true);
    const outcome = await running.done;
    assert.equal(outcome.status, 'cancelled');
    assert.ok(sawAbort(), 'the step received the abort signal');
    assert.equal((await run(running.runId)).status, 'cancelled');
    const rows = await steps(running.runId);
    assert.equal(rows.long.status, 'cancelled');
    assert.equal(rows.after.status, 'skipped');
    assert.equal((await run(queued.runId)).error, 'cancelled before it started');
    assert.equal(await executor.cancel(running.runId), false, 'an ended run cannot be cancelled');
    await assert.rejects(executor.cancel(999), /no run #999/);
  });

  test('a step that outlives its timeout fails the run with a clear error', async (t) => {
    const pipeline = definePipeline({
      hang: { run: () => new Promise(() => undefined), timeoutMs: 50 },
    });
    const { executor, steps } = await createTestExecutor(t, { database: db.kind, pipeline });
    const { runId, done } = await executor.requestDeploy({ app: 'app', host: 'h1', trigger: 'manual' });
    const outcome = await done;
    assert.equal(outcome.status, 'failure');
    assert.equal(outcome.error, 'timed out after 50 ms');
    assert.equal((await steps(runId)).hang.status, 'failure');
  });

  test('step output is stored as its last 64 KiB with env values and configured secrets masked', async (t) => {
    const lines: string[] = [];
    const pipeline = definePipeline({
      talk: {
        run: async ({ output }: StepContext) => {
          output('connecting with token hunter2-token and api key tok-3\n');
          output('x'.repeat(100 * 1024) + '\n');
          output('password=hunter2-');
          output('token done\n');
        },
      },
      fail: {
        run: async () => {
          throw new Error('auth failed for hunter2-token');
        },
        needs: ['talk'],
      },
    });
    const { executor, steps, events } = await createTestExecutor(t, { database: db.kind,
      pipeline,
      targets: [{ app: 'app', host: 'h1', env: { TOKEN: 'hunter2-token', LEVEL: 'on' } }],
      config: { apiToken: 'tok-3' },
    });
    executor.subscribe((event) => event.type === 'output' && lines.push(event.line));
    const { runId, done } = await executor.requestDeploy({ app: 'app', host: 'h1', trigger: 'manual' });
    const outcome = await done;
    const rows = await steps(runId);
    assert.ok(Buffer.byteLength(rows.talk.output) <= 64 * 1024);
    assert.ok(rows.talk.output.endsWith('xxxx\npassword=*** done\n'), 'the tail, masked even where a secret came in two chunks');
    assert.equal(lines[0], 'connecting with token *** and api key ***');
    assert.equal(lines.at(-1), 'password=*** done');
    assert.equal(rows.fail.error, 'auth failed for ***');
    assert.equal(outcome.error, 'auth failed for ***');
    const everything = JSON.stringify([rows, events, lines]);
    assert.ok(!everything.includes('hunter2-token') && !everything.includes('tok-3'), 'no secret anywhere');
  });

  test('a configured secret that contains a newline is masked in the live output too (across the lines it spans) and in the stored tail', async (t) => {
    const secret = 'whsec-part-one\npart-two';
    const pipeline = definePipeline({
      talk: {
        run: async ({ output }: StepContext) => {
          output('signing with whsec-part');
          output('-one\npart-two and going on\n');
          output('x'.repeat(70 * 1024) + 'whsec-part-o');
          output('ne\npart-two\n');
        },
      },
    });
    const { executor, steps } = await createTestExecutor(t, { database: db.kind, pipeline, config: { webhookSecret: secret } });
    const lines: string[] = [];
    executor.subscribe((event) => event.type === 'output' && lines.push(event.line));
    const { runId, done } = await executor.requestDeploy({ app: 'app', host: 'h1', trigger: 'manual' });
    assert.equal((await done).status, 'success');
    assert.equal(lines[0], 'signing with *** and going on');
    assert.equal(lines.join('').replace(/x+/, 'x…'), 'signing with *** and going onx…***');
    const stored = (await steps(runId)).talk.output;
    assert.ok(stored.endsWith('xxx***\n'), stored.slice(-40));
    for (const piece of ['whsec-part', 'part-one', 'part-two']) assert.ok(!JSON.stringify([lines, stored]).includes(piece), piece);
  });

  test('at start-up, runs left running or queued by a dead process become interrupted; live ones are left', async (t) => {
    const orm = await openTestDatabase(t, { database: db.kind });
    const dead = spawnSync(process.execPath, ['-e', 'process.exit(0)']).pid!;
    const alive = spawn('sleep', ['30']);
    t.after(() => alive.kill());
    await once(alive, 'spawn');
    const em = orm.em.fork();
    const base = { app: 'app', host: 'h1', strategy: 'systemd' as const, trigger: 'webhook' as const, queued_at: new Date() };
    const crashed = await em.insert(DeployRun, { ...base, status: 'running', started_at: new Date(), owner_pid: dead });
    const crashedQueued = await em.insert(DeployRun, { ...base, status: 'queued', owner_pid: dead });
    const elsewhere = await em.insert(DeployRun, { ...base, status: 'running', owner_pid: alive.pid! });
    const finished = await em.insert(DeployRun, { ...base, status: 'success', owner_pid: dead });
    await em.insert(StepRun, { run: crashed, step: 'build', status: 'success', output: 'built' });
    await em.insert(StepRun, { run: crashed, step: 'restart', status: 'running', output: '' });
    await em.insert(StepRun, { run: crashed, step: 'healthCheck', status: 'pending', output: '' });

    assert.deepEqual((await recoverInterruptedRuns(new RunStore(orm))).sort(), [crashed, crashedQueued]);
    const status = async (id: number) => (await orm.em.fork().findOneOrFail(DeployRun, { id })).status;
    assert.equal(await status(crashed), 'interrupted');
    assert.equal(await status(crashedQueued), 'interrupted');
    assert.equal(await status(elsewhere), 'running');
    assert.equal(await status(finished), 'success');
    const steps = await orm.em.fork().find(StepRun, { run: crashed }, { orderBy: { id: 'asc' } });
    assert.deepEqual(steps.map((s) => [s.step, s.status, s.output]), [
      ['build', 'success', 'built'],
      ['restart', 'cancelled', ''],
      ['healthCheck', 'skipped', ''],
    ]);
    assert.deepEqual(await recoverInterruptedRuns(new RunStore(orm)), [], 'a second start finds nothing more');
  });

  test('shutdown interrupts queued runs and cancels running ones that outlive the grace period', async (t) => {
    const started = gate();
    const pipeline = definePipeline({
      long: {
        run: async ({ signal }: StepContext) => {
          started.open();
          await new Promise((_, reject) => signal.addEventListener('abort', () => reject(signal.reason)));
        },
      },
    });
    const { executor, run } = await createTestExecutor(t, { database: db.kind, pipeline });
    const running = await executor.requestDeploy({ app: 'app', host: 'h1', trigger: 'api' });
    await started.promise;
    const queued = await executor.requestDeploy({ app: 'app', host: 'h1', trigger: 'api' });
    await executor.shutdown(30);
    assert.equal((await run(queued.runId)).status, 'interrupted');
    assert.equal((await run(running.runId)).status, 'cancelled');
    assert.equal((await run(running.runId)).error, 'deploy_server shut down');
    await assert.rejects(executor.requestDeploy({ app: 'app', host: 'h1', trigger: 'api' }), /shutting down/);
  });

  test('a deploy of an unknown target is refused and records nothing', async (t) => {
    const { executor, runs } = await createTestExecutor(t, { database: db.kind, pipeline: definePipeline({ a: { run: noop } }) });
    await assert.rejects(executor.requestDeploy({ app: 'nope', host: 'h1', trigger: 'api' }), /no target for app "nope" on host "h1"/);
    assert.deepEqual(await runs(), []);
  });

  test('the compensation path runs only when the step it compensates for fails; the run fails, rolled back', async (t) => {
    const ran: string[] = [];
    const step = (id: string, fail = false) => async () => {
      ran.push(id);
      if (fail) throw new Error(`${id} is red`);
    };
    const build = (healthy: boolean, undoFails = false) =>
      definePipeline({
        ship: { run: step('ship') },
        health: { run: step('health', !healthy), needs: ['ship'] },
        announce: { run: step('announce'), needs: ['health'] },
        undo: { run: step('undo', undoFails), needs: ['ship'], onFailureOf: ['health'], when: (deploy) => deploy.target.app !== 'no-rollback' },
        healthAgain: { run: step('healthAgain'), needs: ['undo'] },
      });

    const red = await createTestExecutor(t, { database: db.kind, pipeline: build(false), targets: [{ app: 'app', host: 'h1' }, { app: 'no-rollback', host: 'h1' }] });
    const failed = await (await red.executor.requestDeploy({ app: 'app', host: 'h1', trigger: 'manual' })).done;
    assert.deepEqual([failed.status, failed.failed_step, failed.rolled_back], ['failure', 'health', true]);
    assert.deepEqual(ran, ['ship', 'health', 'undo', 'healthAgain']);
    const rows = await red.steps(failed.id);
    assert.deepEqual(Object.fromEntries(Object.entries(rows).map(([id, s]) => [id, s.status])), {
      ship: 'success', health: 'failure', announce: 'skipped', undo: 'success', healthAgain: 'success',
    });
    assert.equal((await red.run(failed.id)).rolled_back, true);

    ran.length = 0;
    const optedOut = await (await red.executor.requestDeploy({ app: 'no-rollback', host: 'h1', trigger: 'manual' })).done;
    assert.deepEqual([optedOut.status, optedOut.rolled_back], ['failure', false]);
    assert.deepEqual(ran, ['ship', 'health']);
    assert.equal((await red.steps(optedOut.id)).undo.error, 'skipped: not enabled for this target');

    ran.length = 0;
    const green = await createTestExecutor(t, { database: db.kind, pipeline: build(true) });
    const ok = await (await green.executor.requestDeploy({ app: 'app', host: 'h1', trigger: 'manual' })).done;
    assert.deepEqual([ok.status, ok.rolled_back], ['success', false]);
    assert.deepEqual(ran, ['ship', 'health', 'announce']);
    const greenRows = await green.steps(ok.id);
    assert.equal(greenRows.undo.status, 'skipped');
    assert.equal(greenRows.undo.error, 'skipped: health did not fail');
    assert.equal(greenRows.healthAgain.status, 'skipped');

    ran.length = 0;
    const worse = await createTestExecutor(t, { database: db.kind, pipeline: build(false, true) });
    const notRolledBack = await (await worse.executor.requestDeploy({ app: 'app', host: 'h1', trigger: 'manual' })).done;
    assert.deepEqual([notRolledBack.status, notRolledBack.failed_step, notRolledBack.rolled_back], ['failure', 'health', false]);
    assert.equal((await worse.steps(notRolledBack.id)).healthAgain.status, 'skipped');
  });

  test('when the database fails during a run, the run still ends (failure, internal error) and nothing is left hanging', async (t) => {
    const started = gate();
    const release = gate();
    const pipeline = definePipeline({
      first: { run: async () => { started.open(); await release.promise; } },
      second: { run: noop, needs: ['first'] },
    });
    const { executor, orm, events } = await createTestExecutor(t, { database: db.kind, pipeline });
    const { done } = await executor.requestDeploy({ app: 'app', host: 'h1', trigger: 'manual' });
    await started.promise;
    await orm.close(true);
    release.open();
    const outcome = await done;
    assert.equal(outcome.status, 'failure');
    assert.match(outcome.error!, /^internal error: /);
    assert.ok(events.some((e) => e.type === 'run' && e.result?.status === 'failure'), 'watchers get the final event');
  });

  test('shutdown lets a running run finish when it does within the grace period', async (t) => {
    const started = gate();
    const release = gate();
    const pipeline = definePipeline({ work: { run: async () => { started.open(); await release.promise; } } });
    const { executor, run } = await createTestExecutor(t, { database: db.kind, pipeline });
    const { runId } = await executor.requestDeploy({ app: 'app', host: 'h1', trigger: 'api' });
    await started.promise;
    const stopping = executor.shutdown(10_000);
    setTimeout(() => release.open(), 50);
    await stopping;
    assert.equal((await run(runId)).status, 'success');
  });
});
