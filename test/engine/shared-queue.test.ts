// Several servers on one PostgreSQL database, as several executors in this process, each with its
// own ORM, pg-boss and server id: the shared queue's rules across servers.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { definePipeline, type StepContext } from '../../src/engine/pipeline.ts';
import { DeployRun } from '../../src/db/entities/DeployRun.ts';
import { StepRun } from '../../src/db/entities/StepRun.ts';
import PgBoss from 'pg-boss';
import { SHARED_TICK_MS } from '../../src/engine/shared-runs.ts';
import { createTestDatabaseUrl, createTestExecutor, gate, heldFirstRun, stepUntilAborted, until } from '../helpers/engine.ts';
import { startDelayProxy } from '../../bench/delay-proxy.ts';
import { skipWithoutPostgres } from '../helpers/postgres.ts';
import { PgBossRunQueue } from '../../src/engine/pg-boss-queue.ts';
import { removeTargets } from '../../src/domain/targets.ts';

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

/** What `server` writes when every other server's lease looks lapsed to it: the runs it interrupted. */
async function interruptAll(server: { store: { interruptLapsed(leaseMs: number): Promise<{ id: number }[]> } }): Promise<number[]> {
  let interrupted: { id: number }[] = [];
  await until(async () => (interrupted = await server.store.interruptLapsed(0)).length > 0, 5000);
  return interrupted.map((run) => run.id);
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

test('a server whose run another server interrupted (its lease lapsed while it stalled) stops that run at once; it stays interrupted', { skip }, async (t) => {
  const { step: long, started, sawAbort } = stepUntilAborted();
  const { a, b } = await twoServers(t, { pipeline: definePipeline({ long }) });
  const run = await a.executor.requestDeploy({ app: 'app', host: 'h1', trigger: 'api' });
  await started.promise;
  // What B writes when A's lease looks lapsed to it (a lease of 0 ms: every lease has lapsed, unless
  // A renewed it within B's statement: B tries again, as its ticks would).
  const interrupted = await interruptAll(b);
  assert.deepEqual(interrupted, [run.runId]);
  const outcome = await run.done;
  assert.ok(sawAbort(), 'the step was stopped');
  assert.equal(outcome.status, 'interrupted');
  assert.equal(outcome.error, 'interrupted: the deploy_server running it stopped renewing its lease');
  const row = await a.run(run.runId);
  assert.equal(row.status, 'interrupted');
  assert.equal(row.error, 'interrupted: the deploy_server running it stopped renewing its lease');
  assert.equal((await a.steps(run.runId)).long.status, 'cancelled');
  assert.equal((await a.steps(run.runId)).long.error, 'interrupted: the deploy_server running it stopped renewing its lease');
});

test("a stalled server's late writes (its step's end, the run's end) do not overwrite the interrupted run", { skip }, async (t) => {
  const release = gate();
  const started = gate();
  const pipeline = definePipeline({
    work: { run: async () => { started.open(); await release.promise; } },
    after: { needs: ['work'], run: async () => undefined },
  });
  const { a, b } = await twoServers(t, { pipeline });
  const run = await a.executor.requestDeploy({ app: 'app', host: 'h1', trigger: 'api' });
  await started.promise;
  // B interrupts the run, and A's step ends before A's next tick could notice.
  await interruptAll(b);
  release.open();
  const outcome = await run.done;
  assert.equal(outcome.status, 'interrupted');
  const row = await a.run(run.runId);
  assert.equal(row.status, 'interrupted');
  assert.equal(row.error, 'interrupted: the deploy_server running it stopped renewing its lease');
  const steps = await a.steps(run.runId);
  assert.equal(steps.work.status, 'cancelled', 'the step as the interrupt wrote it');
  assert.equal(steps.after.status, 'skipped');
});

test('a server that cannot renew its lease (its database link down) stops its runs once the lease has lapsed', { skip }, async (t) => {
  const started = gate();
  const resume = gate();
  let aborted = false;
  // The step ends once the link is back: pg-boss 10 completes a job without awaiting it, so a job
  // ending while the database is unreachable is an unhandled rejection (see the report on pg-boss).
  const long = { run: async ({ signal }: StepContext) => {
    started.open();
    await new Promise<void>((resolve) => signal.addEventListener('abort', () => resolve()));
    aborted = true;
    await resume.promise;
    throw signal.reason;
  } };
  const sawAbort = () => aborted;
  const dropLater: (() => unknown)[] = [];
  const dbUrl = await createTestDatabaseUrl({ after: (fn: () => unknown) => void dropLater.push(fn) }, 'postgresql');
  const direct = new URL(dbUrl);
  const link = await startDelayProxy(Number(direct.port), 0);
  const viaLink = Object.assign(new URL(dbUrl), { port: String(link.port) }).href;
  const leaseMs = 2000;
  const a = await createTestExecutor(t, { pipeline: definePipeline({ long }), dbUrl: viaLink, shared: { serverId: 'server-a', leaseMs } });
  const b = await createTestExecutor(t, { pipeline: definePipeline({ long }), dbUrl, targets: [], shared: { serverId: 'server-b', leaseMs } });
  t.after(async () => {
    for (const drop of dropLater) await drop();
    await link.close();
  });
  const run = await a.executor.requestDeploy({ app: 'app', host: 'h1', trigger: 'api' });
  await started.promise;
  link.cut();
  const cutAt = Date.now();
  let stoppedAfter: number;
  try {
    await until(() => sawAbort(), 10_000);
    stoppedAfter = Date.now() - cutAt;
    await until(async () => (await b.run(run.runId)).status === 'interrupted', 10_000); // B took A for gone
  } finally {
    link.restore();
    resume.open();
  }
  assert.ok(stoppedAfter >= leaseMs - SHARED_TICK_MS, `stopped ${stoppedAfter} ms after the cut, not before its lease could have lapsed`);
  await run.done;
  assert.equal((await b.run(run.runId)).status, 'interrupted', "A's late end wrote nothing over B's");
});

test("a follow-up of a busy target does not hold back other targets' runs (one server)", { skip }, async (t) => {
  const { pipeline, firstRunning, releaseFirst } = heldFirstRun();
  const a = await createTestExecutor(t, { pipeline, targets: [{ app: 'one', host: 'h1' }, { app: 'two', host: 'h2' }], config: { maxConcurrency: 2 }, shared: { serverId: 'only' } });
  const held = await a.executor.requestDeploy({ app: 'one', host: 'h1', trigger: 'api', commit: 'c0' });
  await firstRunning.promise;
  const followUp = await a.executor.requestDeploy({ app: 'one', host: 'h1', trigger: 'api', commit: 'c1' });
  await new Promise((resolve) => setTimeout(resolve, 300)); // the follow-up's job is the oldest waiting one
  const other = await a.executor.requestDeploy({ app: 'two', host: 'h2', trigger: 'api', commit: 'c2' });
  try {
    await until(async () => (await a.run(other.runId)).status === 'success', 10_000);
  } finally {
    releaseFirst.open();
  }
  assert.equal((await a.run(followUp.runId)).status, 'queued', 'the follow-up waits for the running run of its target');
  assert.deepEqual((await Promise.all([held.done, followUp.done])).map((o) => o.status), ['success', 'success']);
});

test("follow-ups of busy targets on two servers do not hold back another target's run", { skip }, async (t) => {
  const release = gate();
  let holding = 0;
  const pipeline = definePipeline({ work: { run: async ({ deploy }: StepContext) => {
    if (deploy.commit === 'hold') { holding++; await release.promise; }
  } } });
  const targets = ['h1', 'h2', 'h3', 'h4', 'h5'].map((host) => ({ app: 'app', host }));
  const { a, b } = await twoServers(t, { pipeline, targets });
  const runs = [];
  for (const host of ['h1', 'h2', 'h3', 'h4']) runs.push(await a.executor.requestDeploy({ app: 'app', host, trigger: 'api', commit: 'hold' }));
  await until(() => holding === 4, 10_000);
  for (const host of ['h1', 'h2', 'h3', 'h4']) runs.push(await b.executor.requestDeploy({ app: 'app', host, trigger: 'api', commit: 'next' }));
  await new Promise((resolve) => setTimeout(resolve, 300));
  const other = await b.executor.requestDeploy({ app: 'app', host: 'h5', trigger: 'api', commit: 'x' });
  try {
    await until(async () => (await a.run(other.runId)).status === 'success', 10_000);
  } finally {
    release.open();
  }
  assert.ok((await Promise.all(runs.map((run) => run.done))).every((o) => o.status === 'success'));
});

test('a job a dead server held (fetched, its run not yet claimed) does not hold its target back', { skip }, async (t) => {
  const ran: (string | null)[] = [];
  const pipeline = definePipeline({ work: { run: async ({ deploy }: StepContext) => void ran.push(deploy.commit) } });
  const { a } = await twoServers(t, { pipeline }, 1500);
  // The dead server: a lease that lapses, and the target's job it fetched (active) before it died.
  await a.orm.em.getConnection().execute(`insert into deploy_server (id, started_at, heartbeat_at) values ('server-dead', now(), now())`);
  const dead = new PgBoss({ connectionString: a.dbUrl, schema: 'pgboss', supervise: false, schedule: false });
  await dead.start();
  try {
    await dead.send('deploy', { app: 'app', host: 'h1' }, { singletonKey: 'app@h1' });
    assert.equal((await dead.fetch('deploy')).length, 1);
    const run = await a.executor.requestDeploy({ app: 'app', host: 'h1', trigger: 'api', commit: 'c1' });
    await until(async () => (await a.run(run.runId)).status === 'success', 10_000);
    assert.deepEqual(ran, ['c1']);
  } finally {
    await dead.stop({ graceful: false, wait: true });
  }
});

test('shutdown waits out the grace for a running run (longer than pg-boss\'s own stop timeout), then drops the lease', { skip }, async (t) => {
  const started = gate();
  const pipeline = definePipeline({ work: { run: async () => { started.open(); await new Promise((resolve) => setTimeout(resolve, 7000)); } } });
  const a = await createTestExecutor(t, { pipeline, shared: { serverId: 'only' } });
  const run = await a.executor.requestDeploy({ app: 'app', host: 'h1', trigger: 'api' });
  await started.promise;
  await a.executor.shutdown(60_000);
  assert.equal((await a.run(run.runId)).status, 'success', 'the run had ended (and its end was written) when shutdown returned');
  assert.deepEqual(await a.orm.em.getConnection().execute(`select id from deploy_server`), [], 'the lease dropped');
});

test('shutdown cancels a run still running after the grace, waits for its end, and leaves queued runs to the others', { skip }, async (t) => {
  const { step: long, started, sawAbort } = stepUntilAborted();
  const { a, b } = await twoServers(t, { pipeline: definePipeline({ long }), targets: [{ app: 'app', host: 'h1' }, { app: 'app', host: 'h2' }], config: { maxConcurrency: 1 } });
  const run = await a.executor.requestDeploy({ app: 'app', host: 'h1', trigger: 'api' });
  await started.promise;
  const owner = (await a.run(run.runId)).owner === 'server-a' ? a : b;
  const survivor = owner === a ? b : a;
  const queued = await survivor.executor.requestDeploy({ app: 'app', host: 'h2', trigger: 'api' });
  await owner.executor.shutdown(1500);
  assert.ok(sawAbort(), 'the step was stopped');
  const row = await a.run(run.runId);
  assert.equal(row.status, 'cancelled');
  assert.equal(row.error, 'deploy_server shut down');
  // The queued run is the survivor's to run: it starts once the place is free (maxConcurrency 1).
  await until(async () => (await a.run(queued.runId)).status === 'running', 10_000);
  assert.equal((await a.run(queued.runId)).owner, survivor === a ? 'server-a' : 'server-b');
  await survivor.executor.cancel(queued.runId);
});

test("without a queue worker (the CLI's deploy) a process runs the runs it requested, never another target's queued run", { skip }, async (t) => {
  const ran: string[] = [];
  const pipeline = definePipeline({ work: { run: async ({ deploy }: StepContext) => void ran.push(`${deploy.target.app}@${deploy.target.host}`) } });
  const cli = await createTestExecutor(t, { pipeline, targets: [{ app: 'one', host: 'h1' }, { app: 'two', host: 'h2' }], shared: { serverId: 'cli', workQueue: false } });
  // A run another process requested (its server gone): the servers' to run, not this one's.
  const [theirs] = await cli.store.queue([{ app: 'two', host: 'h2', strategy: 'systemd', trigger: 'webhook', ref: null, commit: null, rollback_to: null }], 1);
  const mine = await cli.executor.requestDeploy({ app: 'one', host: 'h1', trigger: 'manual' });
  assert.equal((await mine.done).status, 'success');
  await new Promise((resolve) => setTimeout(resolve, 2 * SHARED_TICK_MS + 500)); // ticks, each waking the queued target
  assert.equal((await cli.run(theirs)).status, 'queued');
  assert.deepEqual(ran, ['one@h1']);
});

test('a target removed while its run is queued: the run fails, naming the missing target', { skip }, async (t) => {
  const { pipeline, firstRunning, releaseFirst } = heldFirstRun();
  const a = await createTestExecutor(t, { pipeline, shared: { serverId: 'only' } });
  const held = await a.executor.requestDeploy({ app: 'app', host: 'h1', trigger: 'api', commit: 'c0' });
  await firstRunning.promise;
  const followUp = await a.executor.requestDeploy({ app: 'app', host: 'h1', trigger: 'api', commit: 'c1' });
  await removeTargets(a.orm.em.fork(), 'app', 'h1');
  releaseFirst.open();
  assert.equal((await held.done).status, 'success');
  const outcome = await followUp.done;
  assert.equal(outcome.status, 'failure');
  assert.equal(outcome.error, 'no target for app "app" on host "h1"');
  assert.equal((await a.run(followUp.runId)).error, 'no target for app "app" on host "h1"');
});

test('servers starting at once on a fresh database all start (pg-boss schema and queue created once)', { skip }, async (t) => {
  const dbUrl = await createTestDatabaseUrl(t, 'postgresql');
  const queues = [1, 2, 3].map(() => new PgBossRunQueue({ url: dbUrl, onError: () => undefined }));
  t.after(async () => { await Promise.all(queues.map((queue) => queue.stop())); });
  const started = await Promise.allSettled(queues.map((queue) => queue.start()));
  assert.deepEqual(started.map((s) => s.status === 'rejected' ? String(s.reason) : s.status), ['fulfilled', 'fulfilled', 'fulfilled']);
});
