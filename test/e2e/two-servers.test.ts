// Two `serve` processes on one PostgreSQL database, deploying over the real sshd harness: a burst of
// signed pushes spread over both. (A server gone mid-run and a cancel through the other server are
// tested in-process: test/engine/shared-queue.test.ts, test/server/two-servers.test.ts.)
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { BUILD_SCRIPT, createOrigin, freePort, startDeployWorld, type DeployWorld } from '../helpers/deploy-fixture.ts';
import { skipWithoutSshd } from '../helpers/sshd.ts';
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
  env = { ...world.env, DEPLOY_DB: dbUrl, DEPLOY_WEBHOOK_SECRET: SECRET, DEPLOY_API_TOKEN: TOKEN, DEPLOY_LEASE_TIMEOUT: '3' };
  orm = await openDatabase({ dbPath: dbUrl });
});
after(async () => {
  await orm?.close();
  for (const drop of dropLater) await drop();
  await world?.stop();
});

/** A systemd-remote app whose build takes `seconds`, then builds a healthy server. */
async function slowApp(app: string, seconds: number) {
  const port = await freePort();
  const repo = createOrigin(world.harness, app, { 'build.sh': BUILD_SCRIPT, 'version.txt': app });
  // target add and setup through PostgreSQL too: the CLI reads DEPLOY_DB like serve.
  const { runCliInProcess } = await import('../helpers/cli.ts');
  const add = await runCliInProcess(['target', 'add', '--app', app, '--host', world.harness.alias, '--strategy', 'systemd-remote',
    '--remote-dir', path.join(world.harness.workDir, app), '--repo', repo.origin, '--build', `sleep ${seconds} && sh build.sh ${app}`,
    '--port', String(port), '--health', '/health', '--env', JSON.stringify({ PORT: String(port) })], env);
  assert.equal(add.code, 0, add.stderr);
  assert.equal((await runCliInProcess(['setup', app, '--host', world.harness.alias], env)).code, 0);
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
  await slowApp('burst', 8);
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
    const spans = deployed.map((run) => [run.started_at!.getTime(), run.finished_at!.getTime()]).sort((x, y) => x[0] - y[0]);
    for (let i = 1; i < spans.length; i++) assert.ok(spans[i][0] >= spans[i - 1][1], 'two runs of the target overlapped');
    const steps = await orm.em.fork().find(StepRun, { run: { $in: deployed.map((run) => run.id) } });
    assert.ok(steps.every((step) => step.status === 'success' || step.status === 'skipped'), 'the deploys ran clean (compensation steps skipped)');
  } finally {
    await Promise.all(servers.map((server) => stopChild(server.child)));
  }
});
