// Two `serve` processes on one PostgreSQL database, deploying over the real sshd harness: a burst of
// signed pushes spread over both; `kill -9` of the server running a deploy; a cancel through the
// server that does not run it. (The same rules in-process: test/engine/shared-queue.test.ts,
// test/server/two-servers.test.ts.)
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { BUILD_SCRIPT, createOrigin, freePort, startDeployWorld, type DeployWorld } from '../helpers/deploy-fixture.ts';
import { processAlive, skipWithoutSshd } from '../helpers/sshd.ts';
import { startServe, stopChild } from '../helpers/cli.ts';
import { sign } from '../helpers/api.ts';
import { createTestDatabaseUrl, until } from '../helpers/engine.ts';
import { skipWithoutPostgres } from '../helpers/postgres.ts';
import { openDatabase, type MikroORM } from '../../src/db/orm.ts';
import { DeployRun } from '../../src/db/entities/DeployRun.ts';
import { StepRun } from '../../src/db/entities/StepRun.ts';

const skip = skipWithoutSshd() || skipWithoutPostgres();
const SECRET = 'two-servers-secret';
const TOKEN = 'tok-two-servers';
let world: DeployWorld;
let env: NodeJS.ProcessEnv;
let orm: MikroORM;
const dropLater: (() => unknown)[] = [];

before(async () => {
  if (skip) return;
  world = await startDeployWorld();
  const dbUrl = await createTestDatabaseUrl({ after: (fn: () => unknown) => void dropLater.push(fn) }, 'postgresql');
  env = { ...world.env, DEPLOY_DB: dbUrl, DEPLOY_WEBHOOK_SECRET: SECRET, DEPLOY_API_TOKEN: TOKEN, DEPLOY_LEASE_TIMEOUT: '5' };
  orm = await openDatabase({ dbPath: dbUrl });
});
after(async () => {
  await orm?.close();
  for (const drop of dropLater) await drop();
  await world?.stop();
});

/** A systemd-remote app whose build runs `slow` (a shell line), then builds a healthy server. */
async function slowApp(app: string, slow: string) {
  const port = await freePort();
  const repo = createOrigin(world.harness, app, { 'build.sh': BUILD_SCRIPT, 'version.txt': app });
  // target add and setup through PostgreSQL too: the CLI reads DEPLOY_DB like serve.
  const { runCliInProcess } = await import('../helpers/cli.ts');
  const add = await runCliInProcess(['target', 'add', '--app', app, '--host', world.harness.alias, '--strategy', 'systemd-remote',
    '--remote-dir', path.join(world.harness.workDir, app), '--repo', repo.origin, '--build', `${slow}; sh build.sh ${app}`,
    '--port', String(port), '--health', '/health', '--env', JSON.stringify({ PORT: String(port) })], env);
  assert.equal(add.code, 0, add.stderr);
  assert.equal((await runCliInProcess(['setup', app, '--host', world.harness.alias], env)).code, 0);
}

/**
 * A build that hangs while `marker` exists, its remote shell's pid (its process group: sshd setsid()s)
 * in `<app>/build.pgid`; without the marker it builds at once.
 */
function hangWhile(marker: string) {
  return `if [ -e ${marker} ]; then echo $$ > build.pgid; sleep 60; fi`;
}

/** Kills what a hung build left on the host (a server killed with -9 cannot). */
async function killLeftBuild(app: string) {
  const pgidFile = path.join(world.harness.workDir, app, 'build.pgid');
  const pgid = fs.existsSync(pgidFile) ? Number(fs.readFileSync(pgidFile, 'utf8')) : 0;
  if (pgid > 1 && processAlive(pgid)) {
    try {
      process.kill(-pgid, 'SIGKILL');
    } catch {
      // already gone
    }
    await until(() => !processAlive(pgid), 5000);
  }
}

function signedPush(app: string, n: number) {
  const after = n.toString(16).padStart(40, 'a');
  const body = JSON.stringify({
    ref: 'refs/heads/main', before: 'b'.repeat(40), after, total_commits: 1,
    commits: [{ id: after, added: [], removed: [], modified: ['README'] }],
    repository: { name: app, full_name: `acme/${app}` },
  });
  return { body, headers: { 'content-type': 'application/json', 'x-gitea-event': 'push', 'x-gitea-signature': sign(body, SECRET) } };
}

const runs = (app: string) => orm.em.fork().find(DeployRun, { app }, { orderBy: { id: 'asc' } });

test('200 signed pushes over both servers: each queued once, the target deployed at most twice (running + newest), never two runs at once', { skip }, async () => {
  await slowApp('burst', 'sleep 8');
  const servers = await Promise.all([startServe(env), startServe(env)]);
  try {
    const DISTINCT = 100;
    const started = Date.now();
    const answers = await Promise.all(Array.from({ length: 200 }, async (_, i) => {
      const { body, headers } = signedPush('burst', (i % DISTINCT) + 1); // each push twice, once to each server
      const response = await fetch(`${servers[i % 2].url}/webhook/push`, { method: 'POST', headers, body });
      const answer = (await response.json()) as { queued: { run_id: number }[]; reason?: string };
      return { push: (i % DISTINCT) + 1, status: response.status, ids: answer.queued.map((q) => q.run_id), reason: answer.reason };
    }));
    const burstMs = Date.now() - started;
    assert.ok(answers.every((a) => a.status === 200 || a.status === 202), JSON.stringify(answers.filter((a) => a.status >= 300)));
    for (let push = 1; push <= DISTINCT; push++) {
      const both = answers.filter((a) => a.push === push);
      assert.deepEqual(both.map((a) => a.status).sort(), [200, 202], `push ${push}: queued once, its replay answered 200`);
      assert.deepEqual(both[0].ids, both[1].ids, JSON.stringify(both));
    }
    await until(async () => (await runs('burst')).every((run) => !['queued', 'running'].includes(run.status)), 120_000);
    const rows = await runs('burst');
    assert.equal(rows.length, DISTINCT, 'one run per distinct push');
    const deployed = rows.filter((run) => run.status === 'success');
    assert.ok(rows.every((run) => run.status === 'success' || (run.status === 'cancelled' && /^superseded by run #\d+/.test(run.error!))), JSON.stringify(rows.map((r) => [r.status, r.error])));
    // The burst (${burstMs} ms) arrives while the first deploy (8 s of build) runs: that one and the newest.
    assert.ok(deployed.length <= 2, `${deployed.length} deploys after a burst of ${burstMs} ms`);
    assert.equal(deployed.at(-1)!.id, rows.at(-1)!.id, 'the newest push is deployed');
    // No overlap, from the steps' own times: each run's first step start to its last step end.
    const steps = await orm.em.fork().find(StepRun, { run: { $in: deployed.map((run) => run.id) } });
    assert.ok(steps.every((step) => step.status === 'success' || step.status === 'skipped'), 'the deploys ran clean (compensation steps skipped)');
    const spans = deployed.map((run) => {
      const ran = steps.filter((step) => step.run.id === run.id && step.started_at);
      return [Math.min(...ran.map((step) => step.started_at!.getTime())), Math.max(...ran.map((step) => step.started_at!.getTime() + step.duration_ms!))];
    }).sort((x, y) => x[0] - y[0]);
    for (let i = 1; i < spans.length; i++) assert.ok(spans[i][0] >= spans[i - 1][1], `two runs of the target overlapped: ${JSON.stringify(spans)}`);
  } finally {
    await Promise.all(servers.map((server) => stopChild(server.child)));
  }
});

const TOKEN_HEADERS = { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' };

/** Waits for the run's `build` step to be running; returns the run's row (with its owner). */
async function buildRunning(runId: number, ms = 30_000) {
  await until(async () => (await orm.em.fork().find(StepRun, { run: runId, step: 'build', status: 'running' })).length === 1, ms);
  return (await orm.em.fork().findOneOrFail(DeployRun, runId))!;
}

/** Which of the servers owns a run (its owner is `host:pid:…`). */
function ownerOf<T extends { child: { pid?: number } }>(servers: T[], owner: string | null | undefined): T {
  const server = servers.find((s) => owner?.split(':')[1] === String(s.child.pid));
  assert.ok(server, `run owned by ${owner}, none of the servers`);
  return server;
}

/**
 * Two servers, and an app whose build hangs while `marker` exists (it does at first); `work` runs with
 * them, then the servers stop and whatever the build left on the host is killed.
 */
async function withHangingApp(app: string, work: (servers: Awaited<ReturnType<typeof startServe>>[], marker: string) => Promise<void>) {
  const marker = path.join(world.harness.workDir, `${app}.hang`);
  fs.writeFileSync(marker, '');
  await slowApp(app, hangWhile(marker));
  const servers = await Promise.all([startServe(env), startServe(env)]);
  try {
    await work(servers, marker);
  } finally {
    await Promise.all(servers.map((server) => stopChild(server.child)));
    await killLeftBuild(app);
    fs.rmSync(marker, { force: true });
  }
}

test('kill -9 of the server running a deploy: its run ends interrupted within the lease, never retried; the next push deploys through the other', { skip }, async () => {
  await withHangingApp('killed', async (servers, marker) => {
    const first = signedPush('killed', 1);
    const answer = (await (await fetch(`${servers[0].url}/webhook/push`, { method: 'POST', headers: first.headers, body: first.body })).json()) as { queued: { run_id: number }[] };
    const doomed = answer.queued[0].run_id;
    const running = await buildRunning(doomed);
    const victim = ownerOf(servers, running.owner);
    const survivor = servers.find((s) => s !== victim)!;
    const killedAt = Date.now();
    await stopChild(victim.child, 'SIGKILL');
    // DEPLOY_LEASE_TIMEOUT is 5 s, checked every second by the survivor: well within 15 s on a busy machine.
    await until(async () => (await orm.em.fork().findOneOrFail(DeployRun, doomed)).status === 'interrupted', 15_000);
    const interruptedAfterMs = Date.now() - killedAt;
    const row = await orm.em.fork().findOneOrFail(DeployRun, doomed);
    assert.equal(row.error, 'interrupted: the deploy_server running it stopped renewing its lease');
    const steps = await orm.em.fork().find(StepRun, { run: doomed }, { orderBy: { id: 'asc' } });
    assert.deepEqual(steps.slice(0, 3).map((s) => [s.step, s.status]), [['sshCheck', 'success'], ['gitPull', 'success'], ['build', 'cancelled']]);
    assert.ok(steps.every((s) => !['running', 'pending'].includes(s.status)), JSON.stringify(steps.map((s) => [s.step, s.status])));

    await killLeftBuild('killed');
    fs.rmSync(marker);
    const next = signedPush('killed', 2);
    const nextAnswer = (await (await fetch(`${survivor.url}/webhook/push`, { method: 'POST', headers: next.headers, body: next.body })).json()) as { queued: { run_id: number }[] };
    const nextId = nextAnswer.queued[0].run_id;
    await until(async () => !['queued', 'running'].includes((await orm.em.fork().findOneOrFail(DeployRun, nextId)).status), 60_000);
    const deployed = await orm.em.fork().findOneOrFail(DeployRun, nextId);
    assert.equal(deployed.status, 'success', deployed.error ?? '');
    assert.equal(ownerOf(servers, deployed.owner), survivor);
    assert.deepEqual((await runs('killed')).map((r) => [r.id, r.status]), [[doomed, 'interrupted'], [nextId, 'success']], 'the interrupted run was not retried');
    assert.ok(interruptedAfterMs < 15_000, `interrupted ${interruptedAfterMs} ms after the kill`);
  });
});

test('a cancel sent to the server that does not run the deploy stops it on the one that does, remote command included', { skip }, async () => {
  await withHangingApp('cancelled', async (servers) => {
    const queued = (await (await fetch(`${servers[0].url}/api/deploy/cancelled`, { method: 'POST', headers: TOKEN_HEADERS, body: '{}' })).json()) as { queued: { run_id: number }[] };
    const runId = queued.queued[0].run_id;
    const running = await buildRunning(runId);
    const owner = ownerOf(servers, running.owner);
    const other = servers.find((s) => s !== owner)!;
    const pgid = Number(fs.readFileSync(path.join(world.harness.workDir, 'cancelled', 'build.pgid'), 'utf8'));
    const cancel = await fetch(`${other.url}/api/runs/${runId}/cancel`, { method: 'POST', headers: TOKEN_HEADERS, body: '{}' });
    assert.deepEqual([cancel.status, await cancel.json()], [202, { run_id: runId, cancelling: true }]);
    await until(async () => (await orm.em.fork().findOneOrFail(DeployRun, runId)).status === 'cancelled', 15_000);
    const build = await orm.em.fork().findOneOrFail(StepRun, { run: runId, step: 'build' });
    assert.equal(build.status, 'cancelled');
    await until(() => !processAlive(pgid), 10_000); // the remote build was killed, not left running
    const events = await (await fetch(`${other.url}/api/runs/${runId}/events`, { headers: TOKEN_HEADERS })).text();
    assert.match(events, /event: result\ndata: \{"id":\d+,"status":"cancelled"/, 'the other server streams the end');
  });
});
