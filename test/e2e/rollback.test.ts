// Releases and rollback, end to end over the test sshd: automatic rollback when the health check
// fails, `rollback`, pruning, the per-target lock, and bad releases never chosen.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { addServingApp, BUILD_SCRIPT, createOrigin, git, httpText, startDeployWorld, stepStatuses, writeAppSource, type DeployWorld } from '../helpers/deploy-fixture.ts';
import { skipWithoutSshd } from '../helpers/sshd.ts';
import { until } from '../helpers/engine.ts';

const skip = skipWithoutSshd();
let world: DeployWorld;

before(async () => {
  if (!skip) world = await startDeployWorld({ healthTimeoutS: 2 });
});
after(async () => {
  await world?.stop();
});

/** A systemd target whose app answers its version; `version('broken…')` makes its health check red. */
async function systemdApp(app: string, extra: string[] = []) {
  const source = path.join(world.registryRoot, 'apps', app);
  writeAppSource(source, 'v1');
  const { port, remoteDir } = await addServingApp(world, app, { flags: extra });
  return {
    port,
    remoteDir,
    version: (v: string) => writeAppSource(source, v),
    serving: async () => (await httpText(port, '/')).body,
    releases: () => fs.readdirSync(path.join(remoteDir, '.releases')).map(Number).sort((a, b) => a - b),
    current: () => Number(/\.releases\/(\d+)\//.exec(fs.readlinkSync(path.join(remoteDir, app)))![1]),
  };
}

test('systemd: a deploy whose health check fails puts the previous release back by itself', { skip }, async () => {
  const app = await systemdApp('phoenix');
  const v1 = await world.deploy('phoenix');
  assert.equal(v1.runs[0].status, 'success');
  app.version('broken-v2');
  const v2 = await world.deploy('phoenix');
  const [run] = v2.runs;
  assert.equal(v2.code, 1);
  assert.deepEqual([run.status, run.failed_step, run.rolled_back], ['failure', 'healthCheck', true]);
  assert.deepEqual(stepStatuses(run), {
    sshCheck: 'success', build: 'success', rsync: 'success', chmod: 'success', restart: 'success',
    healthCheck: 'failure', rollback: 'success', restartPrevious: 'success', healthCheckPrevious: 'success',
  });
  assert.equal(await app.serving(), 'v1', 'the old version is serving again');
  assert.equal(app.current(), v1.runs[0].id);
});

test('systemd-remote: a red health check resets the checkout to the commit it came from, rebuilds, restarts', { skip }, async () => {
  const repo = createOrigin(world.harness, 'lazarus', { 'build.sh': BUILD_SCRIPT, 'version.txt': 'c1' });
  const { port, remoteDir } = await addServingApp(world, 'lazarus', { strategy: 'systemd-remote', repo: repo.origin });
  const good = repo.commit({ 'version.txt': 'c2' }, 'good');
  assert.equal((await world.deploy('lazarus')).runs[0].status, 'success');
  const bad = repo.commit({ 'version.txt': 'broken-c3' }, 'bad');
  const [run] = (await world.deploy('lazarus')).runs;
  assert.deepEqual([run.status, run.failed_step, run.rolled_back], ['failure', 'healthCheck', true]);
  assert.deepEqual(stepStatuses(run), {
    sshCheck: 'success', gitPull: 'success', build: 'success', restart: 'success', healthCheck: 'failure',
    rollback: 'success', buildPrevious: 'success', restartPrevious: 'success', healthCheckPrevious: 'success',
  });
  assert.equal(git(remoteDir, 'rev-parse', 'HEAD'), good);
  assert.equal((await httpText(port, '/')).body, 'c2');
  const releases = JSON.parse((await world.cli('releases', 'lazarus', '--json')).stdout);
  assert.deepEqual(releases[0].releases.map((r: { release: string; current: boolean; bad: boolean }) => [r.release, r.current, r.bad]), [
    [bad.slice(0, 12), false, true],
    [good.slice(0, 12), true, false],
  ]);
});

test('rollback after two good deploys puts the first back; releases shows what each host keeps', { skip }, async () => {
  const app = await systemdApp('pendulum');
  const first = (await world.deploy('pendulum')).runs[0];
  app.version('v2');
  const second = (await world.deploy('pendulum')).runs[0];
  assert.equal(await app.serving(), 'v2');
  const rollback = await world.cli('rollback', 'pendulum');
  assert.equal(rollback.code, 0, rollback.stdout + rollback.stderr);
  assert.match(rollback.stdout, /^rolling back pendulum on testhost \(systemd, run #\d+\)\n/);
  assert.match(rollback.stdout, /✓ switchRelease/);
  assert.match(rollback.stdout, /pendulum@testhost: rolled back in/);
  assert.equal(await app.serving(), 'v1');
  assert.equal(app.current(), first.id);
  const listed = await world.cli('releases', 'pendulum');
  assert.match(listed.stdout, new RegExp(`${first.id} +#${first.id} .* success +current`));
  assert.match(listed.stdout, new RegExp(`${second.id} +#${second.id} .* success\\n`));
  const logs = (await world.cli('rollback', 'pendulum', '--to', String(second.id), '--json'));
  assert.equal(JSON.parse(logs.stdout)[0].status, 'success');
  assert.equal(await app.serving(), 'v2', '--to names the release');
});

test('--keep 2 leaves exactly two releases on the host', { skip }, async () => {
  const app = await systemdApp('trimmed', ['--keep', '2']);
  const runs = [];
  for (const v of ['v1', 'v2', 'v3', 'v4']) {
    app.version(v);
    runs.push((await world.deploy('trimmed')).runs[0].id);
  }
  assert.deepEqual(app.releases(), runs.slice(-2));
  assert.equal(await app.serving(), 'v4');
});

test('a release whose deploy failed is never the target of a plain rollback', { skip }, async () => {
  const app = await systemdApp('skipper');
  const v1 = (await world.deploy('skipper')).runs[0];
  // v2 fails and stays current (no auto-rollback): then v3 ships, and v2 is the release right before it.
  assert.equal((await world.cli('target', 'add', '--app', 'skipper', '--host', world.harness.alias, '--no-auto-rollback')).code, 0);
  app.version('broken-v2');
  const v2 = (await world.deploy('skipper')).runs[0];
  assert.deepEqual([v2.status, v2.rolled_back, app.current()], ['failure', false, v2.id]);
  assert.equal((await world.cli('target', 'add', '--app', 'skipper', '--host', world.harness.alias, '--auto-rollback')).code, 0);
  app.version('v3');
  assert.equal((await world.deploy('skipper')).runs[0].status, 'success');
  assert.ok(app.releases().includes(v2.id), 'the bad release is still on the host');
  const [rollback] = JSON.parse((await world.cli('rollback', 'skipper', '--json')).stdout);
  assert.equal(rollback.status, 'success');
  assert.equal(app.current(), v1.id, 'back to v1, past the bad v2');
  assert.equal(await app.serving(), 'v1');
});

test('--no-auto-rollback: a red deploy fails and stays, its rollback steps skipped', { skip }, async () => {
  const app = await systemdApp('stubborn', ['--no-auto-rollback']);
  await world.deploy('stubborn');
  app.version('broken-v2');
  const [run] = (await world.deploy('stubborn')).runs;
  assert.deepEqual([run.status, run.rolled_back], ['failure', false]);
  assert.equal(run.steps.find((s) => s.step === 'rollback')!.error, 'skipped: not enabled for this target');
  assert.equal(await app.serving(), 'broken-v2');
});

test('a rollback from the CLI while another process deploys that target waits for it (one lock per target, across processes)', { skip }, async () => {
  await systemdApp('queued');
  await world.deploy('queued');
  // The deploy's build holds until the test opens the gate (bounded: 60 s), so the deploy is running
  // for as long as the test needs, however fast or slow the CLI child is.
  const gateFile = path.join(world.harness.tmpDir, 'queued.gate');
  await world.cli('target', 'add', '--app', 'queued', '--host', world.harness.alias,
    '--build', `i=0; while [ ! -e '${gateFile}' ] && [ $i -lt 1200 ]; do sleep 0.05; i=$((i+1)); done; sh build.sh queued`);
  const { startRuntime } = await import('../../src/engine/runtime.ts');
  const { loadConfig } = await import('../../src/support/config.ts');
  const { runBin } = await import('../helpers/cli.ts');
  const { orm, executor } = await startRuntime(loadConfig(world.env));
  const { DeployRun } = await import('../../src/db/entities/DeployRun.ts');
  try {
    const building: string[] = [];
    executor.subscribe((e) => e.type === 'step' && e.status === 'running' && building.push(e.step));
    const deploy = await executor.requestDeploy({ app: 'queued', host: world.harness.alias, trigger: 'api' });
    await until(() => building.includes('build'), 30_000);
    const rollback = runBin(['rollback', 'queued', '--json'], world.env); // another process, the same operations.db
    // Gated on the rollback's own row, not on how fast the CLI child starts: once it is queued, its
    // process tries the target every 500 ms (an atomic claim that leaves it queued while the deploy
    // holds a live lease). Four tries' worth later it must still be queued: a broken lock would have
    // started it at once, and the start-after-end check below would fail.
    const rollbackRow = async () => (await orm.em.fork().find(DeployRun, { app: 'queued', trigger: 'rollback' }))[0];
    await until(async () => (await rollbackRow())?.status === 'queued', 60_000);
    await new Promise((resolve) => setTimeout(resolve, 2_000));
    assert.equal((await rollbackRow()).status, 'queued', 'the rollback waited while the deploy held the target');
    const [deployRow] = await orm.em.fork().find(DeployRun, { id: deploy.runId });
    assert.equal(deployRow.status, 'running', 'the deploy still held the target while the rollback waited');
    fs.writeFileSync(gateFile, '');
    const [deployed, rolledBack] = await Promise.all([deploy.done, rollback]);
    assert.equal(deployed.status, 'success');
    const [rollbackRun] = JSON.parse(rolledBack.stdout);
    assert.equal(rollbackRun.status, 'success', rolledBack.stdout + rolledBack.stderr);
    const rows = await orm.em.fork().find(DeployRun, { id: { $in: [deploy.runId, rollbackRun.id] } }, { orderBy: { id: 'asc' } });
    assert.equal(rows[1].trigger, 'rollback');
    assert.ok(rows[1].started_at! >= rows[0].finished_at!, 'the rollback started after the deploy ended');
  } finally {
    fs.writeFileSync(gateFile, '');
    await orm.close();
  }
});

test('docker-compose: a service that exits after `up` fails healthCheck; auto-rollback resets the checkout and brings the previous files up', { skip }, async () => {
  const repo = createOrigin(world.harness, 'harbor', { 'docker-compose.yml': 'services: {}\n' });
  const remoteDir = path.join(world.harness.workDir, 'harbor');
  const add = await world.cli('target', 'add', '--app', 'harbor', '--host', world.harness.alias, '--strategy', 'docker-compose', '--remote-dir', remoteDir, '--repo', repo.origin);
  assert.equal(add.code, 0, add.stderr);
  assert.equal((await world.cli('setup', 'harbor', '--host', world.harness.alias)).code, 0);
  const good = repo.commit({ 'docker-compose.yml': 'services: {}\n# standin-service: web running healthy\n' }, 'good');
  assert.equal((await world.deploy('harbor')).runs[0].status, 'success');
  // The docker stand-in reports what the compose files last brought `up` declare (test/fixtures/standins/docker).
  repo.commit({ 'docker-compose.yml': 'services: {}\n# standin-service: web exited\n# standin-service: db running unhealthy\n' }, 'bad');
  const [run] = (await world.deploy('harbor')).runs;
  assert.deepEqual([run.status, run.failed_step, run.rolled_back], ['failure', 'healthCheck', true]);
  assert.equal(run.error, 'docker compose services on testhost not healthy after 2 s: web exited (Exited (1) 3 seconds ago), db unhealthy');
  assert.deepEqual(stepStatuses(run), {
    sshCheck: 'success', gitPull: 'success', pull: 'success', up: 'success', healthCheck: 'failure',
    rollback: 'success', upPrevious: 'success', healthCheckPrevious: 'success',
  });
  assert.equal(git(remoteDir, 'rev-parse', 'HEAD'), good);
  const ps = await world.harness.ssh(`cd '${remoteDir}' && docker compose ps --all --format json`);
  assert.deepEqual(ps.stdout.trim().split('\n').map((line) => [JSON.parse(line).Service, JSON.parse(line).State]), [['web', 'running']]);
});

test('systemd: a restart that fails puts the previous release back and restarts it', { skip }, async () => {
  const app = await systemdApp('reviver');
  const v1 = (await world.deploy('reviver')).runs[0];
  app.version('v2');
  world.harness.failNextSystemctl('restart');
  const [run] = (await world.deploy('reviver')).runs;
  assert.deepEqual([run.status, run.failed_step, run.rolled_back], ['failure', 'restart', true]);
  assert.match(run.error!, /^systemctl restart exited with 1: Job for reviver\.service failed/);
  assert.deepEqual(stepStatuses(run), {
    sshCheck: 'success', build: 'success', rsync: 'success', chmod: 'success', restart: 'failure',
    healthCheck: 'skipped', rollback: 'success', restartPrevious: 'success', healthCheckPrevious: 'success',
  });
  assert.equal(app.current(), v1.id, 'the link is back on v1');
  assert.equal(await app.serving(), 'v1');
  assert.equal(world.harness.calls().filter((line) => line === 'systemctl restart reviver').length, 3, 'v1, the failed v2, v1 again');
});

/** A systemd-remote app on its own origin, deployed at three commits; returns the runs and commits. */
async function remoteAppAtThreeCommits(app: string) {
  const repo = createOrigin(world.harness, app, { 'build.sh': BUILD_SCRIPT, 'version.txt': 'c1' });
  const { port, remoteDir } = await addServingApp(world, app, { strategy: 'systemd-remote', repo: repo.origin });
  const commits = [git(repo.work, 'rev-parse', 'HEAD')];
  const runs = [(await world.deploy(app)).runs[0]];
  for (const version of ['c2', 'c3']) {
    commits.push(repo.commit({ 'version.txt': version }, version));
    runs.push((await world.deploy(app)).runs[0]);
  }
  assert.deepEqual(runs.map((r) => r.status), ['success', 'success', 'success']);
  return { port, remoteDir, commits, runs };
}

test('systemd-remote: rollback goes back one good commit and rebuilds; --to names the run whose commit to go back to', { skip }, async () => {
  const { port, remoteDir, commits, runs } = await remoteAppAtThreeCommits('yoyo');
  const back = await world.cli('rollback', 'yoyo', '--json');
  assert.equal(back.code, 0, back.stdout + back.stderr);
  assert.equal(JSON.parse(back.stdout)[0].status, 'success');
  assert.equal(git(remoteDir, 'rev-parse', 'HEAD'), commits[1]);
  assert.equal((await httpText(port, '/')).body, 'c2');
  const to = await world.cli('rollback', 'yoyo', '--to', String(runs[0].id), '--json');
  assert.equal(JSON.parse(to.stdout)[0].status, 'success', to.stdout + to.stderr);
  assert.equal(git(remoteDir, 'rev-parse', 'HEAD'), commits[0]);
  assert.equal((await httpText(port, '/')).body, 'c1');
});

test('docker-compose: rollback brings the previous good commit\'s files up; --to names the run', { skip }, async () => {
  const repo = createOrigin(world.harness, 'tide', { 'docker-compose.yml': 'services: {}\n# standin-service: web-c1 running\n' });
  const remoteDir = path.join(world.harness.workDir, 'tide');
  assert.equal((await world.cli('target', 'add', '--app', 'tide', '--host', world.harness.alias, '--strategy', 'docker-compose', '--remote-dir', remoteDir, '--repo', repo.origin)).code, 0);
  assert.equal((await world.cli('setup', 'tide', '--host', world.harness.alias)).code, 0);
  const commits = [git(repo.work, 'rev-parse', 'HEAD')];
  const runs = [(await world.deploy('tide')).runs[0]];
  for (const version of ['c2', 'c3']) {
    commits.push(repo.commit({ 'docker-compose.yml': `services: {}\n# standin-service: web-${version} running\n` }, version));
    runs.push((await world.deploy('tide')).runs[0]);
  }
  assert.deepEqual(runs.map((r) => r.status), ['success', 'success', 'success']);
  const services = async () => (await world.harness.ssh(`cd '${remoteDir}' && docker compose ps --format json`)).stdout.trim().split('\n').map((line) => JSON.parse(line).Service);
  assert.deepEqual(await services(), ['web-c3']);

  const back = JSON.parse((await world.cli('rollback', 'tide', '--json')).stdout)[0];
  assert.equal(back.status, 'success');
  assert.deepEqual(back.steps.map((s: { step: string; status: string }) => [s.step, s.status]), [
    ['sshCheck', 'success'], ['resetCheckout', 'success'], ['up', 'success'], ['healthCheck', 'success'],
  ]);
  assert.equal(git(remoteDir, 'rev-parse', 'HEAD'), commits[1]);
  assert.deepEqual(await services(), ['web-c2'], 'the services of the c2 files are up');

  const to = JSON.parse((await world.cli('rollback', 'tide', '--to', String(runs[0].id), '--json')).stdout)[0];
  assert.equal(to.status, 'success');
  assert.equal(git(remoteDir, 'rev-parse', 'HEAD'), commits[0]);
  assert.deepEqual(await services(), ['web-c1']);
});

test('POST /api/rollback/:app: the token is required, `host` picks the host, `to` the release', { skip }, async () => {
  const app = await systemdApp('boomerang');
  const runs = [(await world.deploy('boomerang')).runs[0]];
  for (const v of ['v2', 'v3']) {
    app.version(v);
    runs.push((await world.deploy('boomerang')).runs[0]);
  }
  assert.equal(await app.serving(), 'v3');
  const { startServe, stopChild } = await import('../helpers/cli.ts');
  const serve = await startServe({ ...world.env, DEPLOY_API_TOKEN: 'tok-rollback' });
  const post = (body: object, token: string | null = 'tok-rollback') => fetch(`${serve.url}/api/rollback/boomerang`, {
    method: 'POST', body: JSON.stringify(body), headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) },
  });
  const finished = async (id: number) => {
    let run: { status: string; trigger: string } | undefined;
    await until(async () => {
      run = (await (await fetch(`${serve.url}/api/runs/${id}`, { headers: { authorization: 'Bearer tok-rollback' } })).json()) as { status: string; trigger: string };
      return !['queued', 'running'].includes(run.status);
    }, 60_000);
    return run!;
  };
  try {
    assert.equal((await post({}, null)).status, 401);
    assert.equal((await post({}, 'wrong')).status, 401);
    assert.equal(await app.serving(), 'v3', 'a refused request changes nothing');
    const wrongHost = await post({ host: 'elsewhere' });
    assert.deepEqual([wrongHost.status, await wrongHost.json()], [404, { error: 'no target for app "boomerang" on host "elsewhere"' }]);

    const one = await post({ host: 'testhost' });
    assert.equal(one.status, 202);
    const { queued } = (await one.json()) as { queued: { app: string; host: string; run_id: number }[] };
    assert.deepEqual(queued.map((q) => [q.app, q.host]), [['boomerang', 'testhost']]);
    assert.deepEqual(await finished(queued[0].run_id).then((r) => [r.status, r.trigger]), ['success', 'rollback']);
    assert.equal(await app.serving(), 'v2');

    const to = await post({ to: runs[0].id });
    assert.equal(to.status, 202);
    const [{ run_id }] = ((await to.json()) as { queued: { run_id: number }[] }).queued;
    assert.equal((await finished(run_id)).status, 'success');
    assert.equal(await app.serving(), 'v1');
    assert.equal(app.current(), runs[0].id);
    assert.equal((await post({ to: 'yesterday' })).status, 400);
  } finally {
    await stopChild(serve.child);
  }
});

test('systemd: a chmod that fails puts the previous release back before anything restarts', { skip }, async () => {
  const app = await systemdApp('sealed');
  const v1 = (await world.deploy('sealed')).runs[0];
  app.version('v2');
  world.harness.failNextCommand('chmod', "chmod: changing permissions of 'sealed': Operation not permitted");
  world.harness.clearCalls();
  const [run] = (await world.deploy('sealed')).runs;
  assert.deepEqual([run.status, run.failed_step, run.rolled_back], ['failure', 'chmod', true]);
  assert.equal(run.error, "chmod exited with 1: chmod: changing permissions of 'sealed': Operation not permitted");
  assert.deepEqual(stepStatuses(run), {
    sshCheck: 'success', build: 'success', rsync: 'success', chmod: 'failure', restart: 'skipped',
    healthCheck: 'skipped', rollback: 'success', restartPrevious: 'success', healthCheckPrevious: 'success',
  });
  assert.equal(app.current(), v1.id, 'the link is back on v1');
  assert.equal(await app.serving(), 'v1');
  assert.deepEqual(world.harness.calls(), ['systemctl restart sealed'], 'only the restart of the previous release');
});
