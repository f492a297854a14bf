// Several servers on one PostgreSQL database, as several executors in this process, each with its
// own ORM, pg-boss and server id: the shared queue's rules across servers.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { definePipeline, type StepContext } from '../../src/engine/pipeline.ts';
import { DeployRun } from '../../src/db/entities/DeployRun.ts';
import { StepRun } from '../../src/db/entities/StepRun.ts';
import { createTestDatabaseUrl, createTestExecutor, heldFirstRun, stepUntilAborted, until } from '../helpers/engine.ts';
import { skipWithoutPostgres } from '../helpers/postgres.ts';
import { PgBossRunQueue } from '../../src/engine/pg-boss-queue.ts';

const skip = skipWithoutPostgres();

/** Two servers, A and B, on one fresh database, running `pipeline`. */
async function twoServers(t: Parameters<typeof createTestExecutor>[0], options: Omit<Parameters<typeof createTestExecutor>[1], 'shared' | 'dbUrl'>, leaseMs?: number) {
  // The database is dropped after both servers have stopped (after-hooks run in the order they were added).
  const dropLater: (() => unknown)[] = [];
  const dbUrl = await createTestDatabaseUrl({ after: (fn: () => unknown) => void dropLater.push(fn) }, 'postgresql');
  const a = await createTestExecutor(t, { ...options, dbUrl, shared: { serverId: 'server-a', leaseMs } });
  const b = await createTestExecutor(t, { ...options, dbUrl, shared: { serverId: 'server-b', leaseMs } });
  t.after(async () => { for (const drop of dropLater) await drop(); });
  return { a, b };
}

test('requests for one busy target through two servers give one follow-up run, the newest; the others superseded', { skip }, async (t) => {
  const { pipeline, deployed, firstRunning, releaseFirst } = heldFirstRun();
  const { a, b } = await twoServers(t, { pipeline });
  const first = await a.executor.requestDeploy({ app: 'app', host: 'h1', trigger: 'webhook', commit: 'c0' });
  await firstRunning.promise;
  const followUps = [];
  for (let i = 1; i <= 10; i++) followUps.push(await (i % 2 ? b : a).executor.requestDeploy({ app: 'app', host: 'h1', trigger: 'webhook', commit: `c${i}` }));
  releaseFirst.open();
  const outcomes = await Promise.all([first.done, ...followUps.map((f) => f.done)]);
  assert.deepEqual(deployed, ['c0', 'c10']);
  assert.deepEqual(outcomes.map((o) => o.status), ['success', ...Array(9).fill('cancelled'), 'success']);
  const rows = await a.runs();
  for (const row of rows.filter((r) => r.status === 'cancelled')) assert.match(row.error!, /^superseded by run #\d+, a newer deploy request for app@h1$/);
  assert.deepEqual(rows.filter((r) => r.status === 'success').map((r) => r.commit), ['c0', 'c10']);
});

test('the per-host and global limits hold across both servers together', { skip }, async (t) => {
  const active = new Set<string>();
  let mostOnH1 = 0;
  let most = 0;
  const pipeline = definePipeline({
    work: {
      run: async ({ deploy }: StepContext) => {
        active.add(`${deploy.target.app}@${deploy.target.host}`);
        mostOnH1 = Math.max(mostOnH1, [...active].filter((key) => key.endsWith('@h1')).length);
        most = Math.max(most, active.size);
        await new Promise((resolve) => setTimeout(resolve, 150));
        active.delete(`${deploy.target.app}@${deploy.target.host}`);
      },
    },
  });
  const targets = ['one', 'two', 'three', 'four'].flatMap((app) => [{ app, host: 'h1' }, { app, host: 'h2' }]);
  const { a, b } = await twoServers(t, { pipeline, targets, config: { hostConcurrency: 1, maxConcurrency: 2 } });
  const runs = await Promise.all(targets.map((target, i) => (i % 2 ? a : b).executor.requestDeploy({ ...target, trigger: 'api' })));
  const outcomes = await Promise.all(runs.map((run) => run.done));
  assert.ok(outcomes.every((o) => o.status === 'success'), JSON.stringify(outcomes));
  assert.equal(mostOnH1, 1, 'one run at a time on h1, whichever server ran it');
  assert.equal(most, 2, 'two at a time in all');
  assert.ok((await a.runs()).every((run) => run.owner === 'server-a' || run.owner === 'server-b'), 'each run claimed by one of the servers');
});

test('a cancel sent to the server that does not run the run stops it on the one that does', { skip }, async (t) => {
  const { step: long, started, sawAbort } = stepUntilAborted();
  const pipeline = definePipeline({ long });
  const { a, b } = await twoServers(t, { pipeline });
  const run = await a.executor.requestDeploy({ app: 'app', host: 'h1', trigger: 'api' });
  await started.promise;
  const owner = (await a.run(run.runId)).owner;
  const other = owner === 'server-a' ? b : a;
  assert.equal(await other.executor.cancel(run.runId), true);
  const outcome = await run.done;
  assert.equal(outcome.status, 'cancelled');
  assert.ok(sawAbort());
  assert.equal(await other.executor.cancel(run.runId), false, 'an ended run cannot be cancelled');
  await assert.rejects(other.executor.cancel(99_999), /no run #99999/);
});

test("a server gone without a word: its running run ends interrupted once its lease lapses, its queued one runs on a survivor", { skip }, async (t) => {
  const ran: number[] = [];
  const pipeline = definePipeline({ work: { run: async ({ deploy }: StepContext) => void ran.push(deploy.runId) } });
  const { a } = await twoServers(t, { pipeline }, 1500);
  // What a SIGKILLed server leaves: a run it was running, with a lease that stops being renewed, and
  // a queued run of another target whose job it had taken.
  const em = a.orm.em.fork();
  const base = { app: 'app', host: 'h1', strategy: 'systemd' as const, trigger: 'webhook' as const, queued_at: new Date() };
  await a.orm.em.getConnection().execute(`insert into deploy_server (id, started_at, heartbeat_at) values ('server-dead', now(), now())`);
  const orphan = await em.insert(DeployRun, { ...base, status: 'running', started_at: new Date(), owner: 'server-dead' });
  await em.insert(StepRun, { run: orphan, step: 'work', status: 'running', output: '' });
  const stranded = await em.insert(DeployRun, { ...base, host: 'h2', status: 'queued' });
  await a.orm.em.getConnection().execute(`update deploy_run set host = 'h1' where id = ${stranded}`); // a target that exists (app@h1)
  await until(async () => (await a.run(orphan)).status === 'interrupted', 10_000);
  const row = await a.run(orphan);
  assert.equal(row.error, 'interrupted: the deploy_server running it stopped renewing its lease');
  assert.equal((await a.steps(orphan)).work.status, 'cancelled');
  await until(async () => (await a.run(stranded)).status === 'success', 10_000);
  assert.deepEqual(ran, [stranded], 'the interrupted run is not retried');
});

test('a server whose run another server interrupted (its lease lapsed while it stalled) stops that run at once', { skip }, async (t) => {
  const { step: long, started } = stepUntilAborted();
  const { a } = await twoServers(t, { pipeline: definePipeline({ long }) });
  const run = await a.executor.requestDeploy({ app: 'app', host: 'h1', trigger: 'api' });
  await started.promise;
  // What another server's interruptLapsed writes when this one's lease looked lapsed to it.
  await a.orm.em.getConnection().execute(`update deploy_run set status = 'interrupted' where id = ${run.runId}`);
  const outcome = await run.done;
  assert.equal(outcome.status, 'cancelled');
  assert.match(outcome.error!, /^stopped: this server did not renew its lease in time and another server interrupted the run$/);
});

test('servers starting at once on a fresh database all start (pg-boss schema and queue created once)', { skip }, async (t) => {
  const dbUrl = await createTestDatabaseUrl(t, 'postgresql');
  const queues = [1, 2, 3].map(() => new PgBossRunQueue({ url: dbUrl, onError: () => undefined }));
  t.after(async () => { await Promise.all(queues.map((queue) => queue.stop())); });
  const started = await Promise.allSettled(queues.map((queue) => queue.start()));
  assert.deepEqual(started.map((s) => s.status === 'rejected' ? String(s.reason) : s.status), ['fulfilled', 'fulfilled', 'fulfilled']);
});
