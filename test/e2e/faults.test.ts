// Faults and bad input against real parts: sshd killed mid-step, serve killed mid-run, a burst of
// signed deliveries, and hostile refs, branches and file names that must never run on the host.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { BUILD_SCRIPT, createOrigin, freePort, startDeployWorld, type DeployWorld } from '../helpers/deploy-fixture.ts';
import { processAlive, skipWithoutSshd } from '../helpers/sshd.ts';
import { startServe, stopChild } from '../helpers/cli.ts';
import { sign } from '../helpers/api.ts';
import { until } from '../helpers/engine.ts';

const skip = skipWithoutSshd();
const SECRET = 'fault-secret';
let world: DeployWorld;

before(async () => {
  if (!skip) world = await startDeployWorld();
});
after(async () => {
  await world?.stop();
});

/** A systemd-remote app that builds a healthy server (or runs `build` instead), or a docker-compose one. */
async function remoteApp(app: string, build: string, strategy: 'systemd-remote' | 'docker-compose' = 'systemd-remote') {
  const port = await freePort();
  const files: Record<string, string> = strategy === 'docker-compose' ? { 'docker-compose.yml': 'services: {}\n' } : { 'build.sh': BUILD_SCRIPT, 'version.txt': app };
  const repo = createOrigin(world.harness, app, files);
  const add = await world.cli('target', 'add', '--app', app, '--host', world.harness.alias, '--strategy', strategy,
    '--remote-dir', path.join(world.harness.workDir, app), '--repo', repo.origin, '--build', build,
    ...(strategy === 'systemd-remote' ? ['--port', String(port), '--health', '/health', '--env', JSON.stringify({ PORT: String(port) })] : []));
  assert.equal(add.code, 0, add.stderr);
  assert.equal((await world.cli('setup', app, '--host', world.harness.alias)).code, 0);
  return repo;
}

type RunRow = { status: string; failed_step: string | null; error: string | null; steps: { step: string; status: string }[] };
/** The API's reads need a token: every serve here gets this read-only one. */
const READ_TOKEN = 'read-fault';
const READ = { headers: { authorization: `Bearer ${READ_TOKEN}` } };
const getRun = async (url: string, id: number) => (await (await fetch(`${url}/api/runs/${id}`, READ)).json()) as RunRow;

function signedPush(payload: object): { body: string; headers: Record<string, string> } {
  const body = JSON.stringify(payload);
  return { body, headers: { 'content-type': 'application/json', 'x-gitea-event': 'push', 'x-gitea-signature': sign(body, SECRET) } };
}

test('sshd killed in the middle of a step: the run fails at that step, the lock is released, the next deploy succeeds once sshd is back', { skip }, async () => {
  await remoteApp('crash', 'sleep 3');
  const { startRuntime } = await import('../../src/engine/runtime.ts');
  const { loadConfig } = await import('../../src/support/config.ts');
  const { orm, executor } = await startRuntime(loadConfig(world.env));
  try {
    const events: string[] = [];
    executor.subscribe((e) => e.type === 'step' && e.status === 'running' && events.push(e.step));
    const first = await executor.requestDeploy({ app: 'crash', host: world.harness.alias, trigger: 'api' });
    await until(() => events.includes('build'), 15_000);
    await world.harness.stopSshd();
    const outcome = await first.done;
    assert.equal(outcome.status, 'failure');
    assert.equal(outcome.failed_step, 'build');
    assert.match(outcome.error!, /^the SSH connection to testhost \(127\.0\.0\.1:\d+\) was lost while running build( \(.+\))?$/);

    await world.harness.startSshd();
    await world.cli('target', 'add', '--app', 'crash', '--host', world.harness.alias, '--build', 'sh build.sh crash');
    const second = await executor.requestDeploy({ app: 'crash', host: world.harness.alias, trigger: 'api' });
    assert.equal((await second.done).status, 'success', 'the lock was released and the host is usable again');
  } finally {
    await orm.close();
    await world.harness.startSshd().catch(() => undefined);
  }
});

test('serve killed with SIGKILL in the middle of a run: restarted, that run is interrupted and everything before it is still there', { skip }, async () => {
  // The build records its remote shell's pid, which is its process group (sshd setsid()s): the test
  // kills that group, the one it started, when serve's death leaves it behind.
  await remoteApp('killed', 'echo $$ > build.pgid; sleep 30');
  await remoteApp('survivor', 'sh build.sh survivor');
  const env = { ...world.env, DEPLOY_WEBHOOK_SECRET: SECRET, DEPLOY_API_TOKEN: 'tok-fault', DEPLOY_API_READ_TOKEN: READ_TOKEN };
  const auth = { authorization: 'Bearer tok-fault', 'content-type': 'application/json' };
  const serve = await startServe(env);
  let earlierId: number;
  let doomedId: number;
  try {
    const earlier = (await (await fetch(`${serve.url}/api/deploy/survivor`, { method: 'POST', headers: auth, body: '{}' })).json()) as { queued: { run_id: number }[] };
    earlierId = earlier.queued[0].run_id;
    await until(async () => (await getRun(serve.url, earlierId)).status === 'success', 20_000);
    const doomed = (await (await fetch(`${serve.url}/api/deploy/killed`, { method: 'POST', headers: auth, body: '{}' })).json()) as { queued: { run_id: number }[] };
    doomedId = doomed.queued[0].run_id;
    await until(async () => (await getRun(serve.url, doomedId)).steps.some((s) => s.step === 'build' && s.status === 'running'), 20_000);
  } finally {
    await stopChild(serve.child, 'SIGKILL');
  }

  const again = await startServe(env);
  try {
    assert.match(again.output(), new RegExp(`marked 1 unfinished run\\(s\\) of a stopped process as interrupted: #${doomedId}`));
    const run = await getRun(again.url, doomedId);
    assert.equal(run.status, 'interrupted');
    assert.deepEqual(run.steps.map((s) => [s.step, s.status]).slice(0, 3), [['sshCheck', 'success'], ['gitPull', 'success'], ['build', 'cancelled']]);
    const before = await getRun(again.url, earlierId);
    assert.equal(before.status, 'success');
    assert.ok(before.steps.filter((s) => s.status === 'success').length >= 5, 'the earlier run and its steps are intact');
  } finally {
    await stopChild(again.child);
    const pgidFile = path.join(world.harness.workDir, 'killed', 'build.pgid');
    const pgid = fs.existsSync(pgidFile) ? Number(fs.readFileSync(pgidFile, 'utf8')) : 0;
    if (pgid > 1) {
      try {
        process.kill(-pgid, 'SIGKILL');
      } catch {
        // already gone
      }
      await until(() => !processAlive(pgid), 5000);
    }
  }
});

test('2,000 signed deliveries in a burst: every one answered 2xx, each distinct push queued exactly once, no run lost', { skip }, async () => {
  await remoteApp('burst', '', 'docker-compose');
  const serve = await startServe({ ...world.env, DEPLOY_WEBHOOK_SECRET: SECRET, DEPLOY_API_READ_TOKEN: READ_TOKEN });
  try {
    const DISTINCT = 500;
    const deliveries = Array.from({ length: 2000 }, (_, i) => (i % DISTINCT) + 1); // each push delivered 4 times
    const statuses = new Map<number, number>();
    const runsByPush = new Map<number, Set<number>>();
    let next = 0;
    const worker = async () => {
      while (next < deliveries.length) {
        const push = deliveries[next++];
        const after = push.toString(16).padStart(40, '0');
        const { body, headers } = signedPush({
          ref: 'refs/heads/main', before: 'b'.repeat(40), after, total_commits: 1,
          commits: [{ id: after, added: [], removed: [], modified: ['README'] }],
          repository: { name: 'burst', full_name: 'acme/burst' },
        });
        const response = await fetch(`${serve.url}/webhook/push`, { method: 'POST', headers, body });
        statuses.set(response.status, (statuses.get(response.status) ?? 0) + 1);
        const answer = (await response.json()) as { queued: { run_id: number }[] };
        const ids = runsByPush.get(push) ?? new Set();
        for (const run of answer.queued) ids.add(run.run_id);
        runsByPush.set(push, ids);
      }
    };
    await Promise.all(Array.from({ length: 32 }, worker));
    assert.deepEqual([...statuses.keys()].filter((s) => s < 200 || s >= 300), [], `answers: ${JSON.stringify([...statuses])}`);
    assert.equal(runsByPush.size, DISTINCT);
    for (const [push, ids] of runsByPush) assert.equal(ids.size, 1, `push ${push} was queued once, its replays answered with the same run`);
    const runIds = [...runsByPush.values()].map((ids) => [...ids][0]);
    assert.equal(new Set(runIds).size, DISTINCT);
    await until(async () => {
      const logs = (await (await fetch(`${serve.url}/api/logs/burst?limit=200`, READ)).json()) as { status: string }[];
      return logs.every((r) => !['queued', 'running'].includes(r.status));
    }, 60_000);
    const counts = new Map<string, number>();
    for (const id of runIds) {
      const { status } = await getRun(serve.url, id);
      counts.set(status, (counts.get(status) ?? 0) + 1);
    }
    assert.equal((counts.get('success') ?? 0) + (counts.get('cancelled') ?? 0), DISTINCT, `every run ended: ${JSON.stringify([...counts])}`);
    const { openDatabase } = await import('../../src/db/orm.ts');
    const { DeployRun } = await import('../../src/db/entities/DeployRun.ts');
    const orm = await openDatabase({ dbPath: world.env.DEPLOY_DB! });
    try {
      const rows = await orm.em.fork().find(DeployRun, { app: 'burst' });
      assert.equal(rows.length, DISTINCT, 'exactly one run per distinct push in the database');
      assert.equal(new Set(rows.map((r) => r.commit)).size, DISTINCT);
    } finally {
      await orm.close();
    }
    assert.ok((counts.get('success') ?? 0) >= 1);
  } finally {
    await stopChild(serve.child);
  }
});

test('hostile signatures, bodies, refs, branches and file names: 4xx or 200-ignored, and nothing runs on the host', { skip }, async () => {
  const marker = path.join(world.harness.workDir, 'PWNED');
  const touch = `touch ${marker}`;
  const port = await freePort();
  await remoteApp('target', 'true');
  await world.cli('target', 'add', '--app', 'target', '--host', world.harness.alias, '--branch', `main;${touch}`, '--port', String(port), '--health', '/health');
  const serve = await startServe({ ...world.env, DEPLOY_WEBHOOK_SECRET: SECRET, DEPLOY_HEALTH_TIMEOUT: '1', DEPLOY_API_READ_TOKEN: READ_TOKEN });
  const post = (body: string | Buffer, headers: Record<string, string>) => fetch(`${serve.url}/webhook/push`, { method: 'POST', body, headers });
  const push = (overrides: object) => signedPush({
    ref: 'refs/heads/main', before: 'c'.repeat(40), after: 'd'.repeat(40), total_commits: 1,
    commits: [{ id: 'd'.repeat(40), added: [], removed: [], modified: ['apps/target/x'] }], repository: { name: 'target', full_name: 'acme/target' },
    ...overrides,
  });
  try {
    const good = push({});
    const cases: [string, Promise<Response>, number[]][] = [
      ['wrong signature', post(good.body, { ...good.headers, 'x-gitea-signature': sign(good.body, 'nope') }), [401]],
      ['missing signature', post(good.body, { 'content-type': 'application/json', 'x-gitea-event': 'push' }), [401]],
      ['empty signature', post(good.body, { ...good.headers, 'x-gitea-signature': '' }), [401]],
      ['malformed JSON', post('{"ref": [', { 'x-gitea-event': 'push', 'x-gitea-signature': sign('{"ref": [', SECRET) }), [400]],
      ['truncated JSON', post(good.body.slice(0, 40), { 'x-gitea-event': 'push', 'x-gitea-signature': sign(good.body.slice(0, 40), SECRET) }), [400]],
      ['a 10 MB body', post(Buffer.alloc(10 * 1024 * 1024, '{'), { 'x-gitea-event': 'push', 'x-gitea-signature': 'x' }), [413]],
    ];
    const hostile = [
      `refs/heads/main;${touch}`,
      `refs/heads/$(${touch})`,
      `refs/heads/\`${touch}\``,
      `refs/heads/main\n${touch}`,
    ];
    for (const ref of hostile) {
      const p = push({ ref, after: `${'e'.repeat(39)}${hostile.indexOf(ref)}` });
      cases.push([`ref ${JSON.stringify(ref)}`, post(p.body, p.headers), [200, 202]]);
    }
    const files = push({ after: 'f'.repeat(40), commits: [{ id: 'f'.repeat(40), added: [`apps/$(${touch})/x`, `apps/\`${touch}\`/y`, `apps/a;${touch}/z`], removed: [], modified: [] }] });
    cases.push(['file names with commands', post(files.body, files.headers), [200]]);
    const truncated = push({ before: `$(${touch})`, total_commits: 9, after: '1'.repeat(40) });
    cases.push(['a truncated push whose before is a command', post(truncated.body, truncated.headers), [400, 200, 202]]);
    for (const [name, response, expected] of cases) {
      const r = await response;
      assert.ok(expected.includes(r.status), `${name}: ${r.status} ${await r.text()}`);
    }
    // The target whose branch carries a command is deployed by the push to that very branch: its
    // `git pull` gets the branch as one quoted word, and fails.
    const runs = (await (await fetch(`${serve.url}/api/logs/target`, READ)).json()) as { id: number; status: string; failed_step: string | null }[];
    await until(async () => {
      const all = await Promise.all(runs.map((r) => getRun(serve.url, r.id)));
      return all.every((r) => !['queued', 'running'].includes(r.status));
    }, 30_000);
    assert.ok(runs.length >= 1, 'the push to the branch that carries a command did deploy that target');
    for (const run of runs) {
      const row = await getRun(serve.url, run.id);
      assert.ok(row.status === 'cancelled' || (row.status === 'failure' && row.failed_step === 'gitPull'), JSON.stringify(row));
    }
    assert.ok(!fs.existsSync(marker), 'no command from a payload or a target field ran on the host');
    assert.equal((await world.harness.ssh(`test -e ${marker}; echo $?`)).stdout.trim(), '1');
  } finally {
    await stopChild(serve.child);
  }
});

/** Reads the runs of an app straight from the database (after the process that ran them is gone). */
async function runsOf(app: string): Promise<{ id: number; status: string; error: string | null }[]> {
  const { openDatabase } = await import('../../src/db/orm.ts');
  const { DeployRun } = await import('../../src/db/entities/DeployRun.ts');
  const orm = await openDatabase({ dbPath: world.env.DEPLOY_DB! });
  try {
    return (await orm.em.fork().find(DeployRun, { app }, { orderBy: { id: 'asc' } })).map((r) => ({ id: r.id, status: r.status, error: r.error ?? null }));
  } finally {
    await orm.close();
  }
}

/** The process group of a remote build that wrote `echo $$ > build.pgid` (its remote shell: sshd setsid()s). */
function remotePgid(app: string): number {
  const file = path.join(world.harness.workDir, app, 'build.pgid');
  return fs.existsSync(file) ? Number(fs.readFileSync(file, 'utf8')) : 0;
}

test('SIGTERM on serve during a deploy: the running deploy finishes within DEPLOY_SHUTDOWN_TIMEOUT, the queued one is interrupted, the port closes', { skip }, async () => {
  const gateFile = path.join(world.harness.workDir, 'graceful.gate');
  await remoteApp('graceful', `echo $$ > build.pgid; i=0; while [ ! -e '${gateFile}' ] && [ $i -lt 1200 ]; do sleep 0.05; i=$((i+1)); done; sh build.sh graceful`);
  const auth = { authorization: 'Bearer tok-term', 'content-type': 'application/json' };
  const serve = await startServe({ ...world.env, DEPLOY_API_TOKEN: 'tok-term', DEPLOY_API_READ_TOKEN: READ_TOKEN, DEPLOY_SHUTDOWN_TIMEOUT: '60' });
  let exited: Promise<unknown> | undefined;
  try {
    const deploy = async () => ((await (await fetch(`${serve.url}/api/deploy/graceful`, { method: 'POST', headers: auth, body: '{}' })).json()) as { queued: { run_id: number }[] }).queued[0].run_id;
    const running = await deploy();
    await until(async () => (await getRun(serve.url, running)).steps.some((s) => s.step === 'build' && s.status === 'running') && remotePgid('graceful') > 0, 20_000);
    const queued = await deploy(); // waits behind the running one, in its target's slot
    exited = new Promise((resolve) => serve.child.once('exit', (code) => resolve(code)));
    serve.child.kill('SIGTERM');
    await until(() => /SIGTERM: shutting down/.test(serve.output()), 10_000);
    await until(async () => (await fetch(`${serve.url}/api/health`).then(() => false, () => true)), 10_000); // no new requests
    assert.equal(serve.child.exitCode, null, 'serve waits for the running deploy');
    fs.writeFileSync(gateFile, '');
    assert.equal(await exited, 0, serve.output());
    const runs = await runsOf('graceful');
    assert.deepEqual(runs.map((r) => [r.id, r.status]), [[running, 'success'], [queued, 'interrupted']]);
    assert.equal(runs[1].error, 'deploy_server shut down before this run started');
  } finally {
    fs.writeFileSync(gateFile, '');
    if (serve.child.exitCode === null) await stopChild(serve.child, 'SIGKILL');
  }
});

test('SIGTERM on serve past DEPLOY_SHUTDOWN_TIMEOUT: the running deploy is cancelled and its remote command killed', { skip }, async () => {
  await remoteApp('stubborn-build', 'echo $$ > build.pgid; sleep 300');
  const serve = await startServe({ ...world.env, DEPLOY_API_TOKEN: 'tok-term', DEPLOY_SHUTDOWN_TIMEOUT: '1' });
  try {
    const answer = await fetch(`${serve.url}/api/deploy/stubborn-build`, { method: 'POST', headers: { authorization: 'Bearer tok-term', 'content-type': 'application/json' }, body: '{}' });
    const runId = ((await answer.json()) as { queued: { run_id: number }[] }).queued[0].run_id;
    await until(() => remotePgid('stubborn-build') > 0, 20_000);
    const pgid = remotePgid('stubborn-build');
    assert.ok(processAlive(pgid));
    const started = Date.now();
    assert.equal(await stopChild(serve.child, 'SIGTERM'), 0, serve.output());
    assert.ok(Date.now() - started < 10_000, `serve exited ${Date.now() - started} ms after SIGTERM (DEPLOY_SHUTDOWN_TIMEOUT=1)`);
    const [run] = await runsOf('stubborn-build');
    assert.deepEqual([run.id, run.status, run.error], [runId, 'cancelled', 'deploy_server shut down']);
    await until(() => !processAlive(pgid), 5000);
  } finally {
    if (serve.child.exitCode === null) await stopChild(serve.child, 'SIGKILL');
    const pgid = remotePgid('stubborn-build');
    if (pgid > 1 && processAlive(pgid)) process.kill(-pgid, 'SIGKILL');
  }
});

test('Ctrl-C (SIGINT) on a CLI deploy cancels the run and kills its remote command; the CLI exits 1', { skip }, async () => {
  await remoteApp('interrupted-cli', 'echo $$ > build.pgid; sleep 300');
  const { spawn } = await import('node:child_process');
  const { BIN, CHILD_TIMEOUT_MS } = await import('../helpers/cli.ts');
  const child = spawn(process.execPath, [BIN, 'deploy', 'interrupted-cli', '--json'], { env: { ...process.env, ...world.env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  child.stdout!.on('data', (chunk) => (stdout += chunk));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const timer = setTimeout(() => child.kill('SIGKILL'), CHILD_TIMEOUT_MS);
  try {
    await until(() => remotePgid('interrupted-cli') > 0, 30_000);
    const pgid = remotePgid('interrupted-cli');
    assert.ok(processAlive(pgid));
    child.kill('SIGINT');
    assert.equal(await exited, 1);
    const [run] = JSON.parse(stdout) as { status: string; failed_step: string | null; steps: { step: string; status: string }[] }[];
    assert.equal(run.status, 'cancelled');
    assert.equal(run.steps.find((s) => s.step === 'build')!.status, 'cancelled');
    await until(() => !processAlive(pgid), 5000);
    assert.deepEqual((await runsOf('interrupted-cli')).map((r) => r.status), ['cancelled']);
  } finally {
    clearTimeout(timer);
    if (child.exitCode === null) child.kill('SIGKILL');
    const pgid = remotePgid('interrupted-cli');
    if (pgid > 1 && processAlive(pgid)) process.kill(-pgid, 'SIGKILL');
  }
});
