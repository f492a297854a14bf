// End to end over a real sshd on 127.0.0.1: real git, real rsync, the real CLI; systemctl and docker
// are stand-ins on the remote PATH (the systemctl one really starts the app).
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { addServingApp, BUILD_SCRIPT, createOrigin, freePort, git, httpText, startDeployWorld, stepStatuses, writeAppSource, type DeployReport, type DeployWorld } from '../helpers/deploy-fixture.ts';
import { processAlive, skipWithoutSshd, skipWithoutSudo, startSshdHarness } from '../helpers/sshd.ts';
import { runBin, runCliInProcess } from '../helpers/cli.ts';
import { until } from '../helpers/engine.ts';
import { startSilentListener } from '../helpers/silent-listener.ts';

const skip = skipWithoutSshd();
let world: DeployWorld;

before(async () => {
  if (!skip) world = await startDeployWorld();
});
after(async () => {
  await world?.stop();
});

test('systemd: setup, then build locally, rsync, restart, health check; a second deploy keeps the previous binary', { skip }, async () => {
  const port = await freePort();
  const remoteDir = path.join(world.harness.workDir, 'shop');
  writeAppSource(path.join(world.registryRoot, 'apps', 'shop'), 'v1');
  const add = await world.cli('target', 'add', '--app', 'shop', '--host', world.harness.alias, '--remote-dir', remoteDir,
    '--build', 'sh build.sh shop', '--port', String(port), '--health', '/health', '--env', JSON.stringify({ PORT: String(port), API_KEY: 'k-123456' }));
  assert.equal(add.code, 0, add.stderr);
  const setup = await world.cli('setup', 'shop', '--host', world.harness.alias);
  assert.equal(setup.code, 0, setup.stderr);
  assert.match(setup.stdout, /✓ create .*shop\n/);
  assert.match(fs.readFileSync(path.join(world.harness.unitDir, 'shop.service'), 'utf8'), /Environment="API_KEY=k-123456"/);

  const first = await world.deploy('shop');
  assert.equal(first.code, 0, JSON.stringify(first.runs));
  assert.deepEqual(stepStatuses(first.runs[0]), {
    sshCheck: 'success', build: 'success', rsync: 'success', chmod: 'success', restart: 'success', healthCheck: 'success',
    rollback: 'skipped', restartPrevious: 'skipped', healthCheckPrevious: 'skipped',
  });
  assert.deepEqual(await httpText(port, '/health'), { status: 200, body: 'v1' });

  writeAppSource(path.join(world.registryRoot, 'apps', 'shop'), 'v2');
  const second = await world.deploy('shop', '--host', world.harness.alias);
  assert.equal(second.runs[0].status, 'success');
  assert.deepEqual(await httpText(port, '/health'), { status: 200, body: 'v2' });
  assert.match(fs.readFileSync(path.join(remoteDir, 'shop'), 'utf8'), /const v = "v2"/);
  const [firstRun, secondRun] = [first.runs[0].id, second.runs[0].id];
  assert.equal(fs.readlinkSync(path.join(remoteDir, 'shop')), `.releases/${secondRun}/shop`, 'the binary is a link to the current release');
  assert.match(fs.readFileSync(path.join(remoteDir, '.releases', String(firstRun), 'shop'), 'utf8'), /const v = "v1"/, 'the previous release is kept for rollback');
  const restarts = world.harness.callDetails().filter((c) => c.line === 'systemctl restart shop');
  assert.equal(restarts.length, 2);
  assert.equal(restarts[0].user, world.harness.systemctlUser, 'systemctl through sudo -n for an SSH user with sudo, as the user itself with DEPLOY_SUDO=never');
  const logs = await world.cli('status', 'shop');
  assert.equal(logs.code, 0, logs.stderr);
  assert.match(logs.stdout, /== shop on testhost \(systemd\) — last deploy: run #\d+ success/);
  assert.match(logs.stdout, /Active: active \(running\)/);
});

test('the deploy CLI prints each step live with ✓ and its duration, and the step history is in the database', { skip }, async () => {
  writeAppSource(path.join(world.registryRoot, 'apps', 'live'), 'v1');
  await addServingApp(world, 'live');
  const result = await runBin(['deploy', 'live', '--verbose'], world.env);
  assert.equal(result.code, 0, result.stdout + result.stderr);
  const lines = result.stdout.split('\n');
  assert.match(lines[0], /^deploying live to testhost \(systemd, run #\d+\)$/);
  for (const step of ['sshCheck', 'build', 'rsync', 'chmod', 'restart', 'healthCheck']) {
    assert.ok(lines.some((line) => new RegExp(`^  ✓ ${step} +\\d+\\.\\d+s$`).test(line)), `a ✓ line for ${step}`);
  }
  assert.ok(lines.some((line) => /^ {4}│ built .*live v1$/.test(line)), '--verbose streams the build output');
  assert.match(result.stdout, /live@testhost: deployed in \d+\.\d+s\n$/);
});

test('systemd-remote: setup clones --repo, deploy pulls the new commit, builds on the host, restarts, checks health', { skip }, async () => {
  const repo = createOrigin(world.harness, 'api', { 'build.sh': BUILD_SCRIPT, 'version.txt': 'r1' });
  const { port, remoteDir, setup } = await addServingApp(world, 'api', {
    strategy: 'systemd-remote', repo: repo.origin, remoteDir: path.join(world.harness.workDir, 'api checkout'),
  });
  assert.equal(setup.code, 0, setup.stderr);
  assert.match(setup.stdout, /✓ clone /);
  const again = await world.cli('setup', 'api', '--host', world.harness.alias);
  assert.match(again.stdout, /- clone .*\(already a git checkout\)/, 'setup is safe to run twice');

  const second = repo.commit({ 'version.txt': 'r2' }, 'second');
  const result = await world.deploy('api');
  assert.equal(result.code, 0, JSON.stringify(result.runs));
  assert.deepEqual(stepStatuses(result.runs[0]), {
    sshCheck: 'success', gitPull: 'success', build: 'success', restart: 'success', healthCheck: 'success',
    rollback: 'skipped', buildPrevious: 'skipped', restartPrevious: 'skipped', healthCheckPrevious: 'skipped',
  });
  assert.equal(git(remoteDir, 'rev-parse', 'HEAD'), second);
  assert.deepEqual(await httpText(port, '/'), { status: 200, body: 'r2' });
});

test('docker-compose: git pull, compose pull and up -d with the extra files in order, in remote_dir', { skip }, async () => {
  const repo = createOrigin(world.harness, 'chat', { 'docker-compose.yml': 'services: {}\n', 'prod.yml': 'services: {}\n' });
  const remoteDir = path.join(world.harness.workDir, 'chat');
  await world.cli('target', 'add', '--app', 'chat', '--host', world.harness.alias, '--strategy', 'docker-compose', '--remote-dir', remoteDir,
    '--repo', repo.origin, '--compose-files', 'prod.yml');
  assert.equal((await world.cli('setup', 'chat', '--host', world.harness.alias)).code, 0);
  world.harness.clearCalls();
  const result = await world.deploy('chat');
  assert.equal(result.code, 0, JSON.stringify(result.runs));
  assert.deepEqual(stepStatuses(result.runs[0]), {
    sshCheck: 'success', gitPull: 'success', pull: 'success', up: 'success', healthCheck: 'success',
    rollback: 'skipped', upPrevious: 'skipped', healthCheckPrevious: 'skipped',
  });
  const calls = world.harness.callDetails();
  assert.deepEqual(calls.map((c) => c.line), [
    'docker compose -f docker-compose.yml -f prod.yml pull',
    'docker compose -f docker-compose.yml -f prod.yml up -d',
    'docker compose -f docker-compose.yml -f prod.yml ps --all --format json',
  ]);
  assert.ok(calls.every((c) => c.cwd === remoteDir));
});

test('a failing build fails the run at build with its exit code, and nothing is restarted', { skip }, async () => {
  fs.mkdirSync(path.join(world.registryRoot, 'apps', 'broken-build'), { recursive: true });
  await world.cli('target', 'add', '--app', 'broken-build', '--host', world.harness.alias, '--remote-dir', path.join(world.harness.workDir, 'bb'),
    '--build', 'echo compiling; echo "main.go:3: syntax error" >&2; exit 3');
  world.harness.clearCalls();
  const result = await world.deploy('broken-build');
  assert.equal(result.code, 1);
  const [run] = result.runs;
  assert.equal(run.status, 'failure');
  assert.equal(run.failed_step, 'build');
  assert.equal(run.error, 'build exited with 3: main.go:3: syntax error');
  assert.equal(run.steps.find((s) => s.step === 'build')!.exit_code, 3);
  assert.deepEqual(stepStatuses(run), {
    sshCheck: 'success', build: 'failure', rsync: 'skipped', chmod: 'skipped', restart: 'skipped', healthCheck: 'skipped',
    rollback: 'skipped', restartPrevious: 'skipped', healthCheckPrevious: 'skipped',
  });
  assert.deepEqual(world.harness.calls(), [], 'no systemctl call at all');
});

test('a health check that never turns green fails the run at healthCheck with the last status and body', { skip }, async () => {
  writeAppSource(path.join(world.registryRoot, 'apps', 'sick'), 'broken-v9');
  await addServingApp(world, 'sick');
  const result = await world.deploy('sick');
  const [run] = result.runs;
  assert.equal(run.status, 'failure');
  assert.equal(run.failed_step, 'healthCheck');
  // The port is also the value of the target's env PORT, so it is masked like every env value.
  assert.equal(run.error, 'health check http://127.0.0.1:***/health on testhost not green after 4 s: last answer HTTP 503: broken-v9');
});

test('a refused connection fails at sshCheck at once', { skip }, async () => {
  await world.cli('target', 'add', '--app', 'far', '--host', 'unreachable', '--strategy', 'systemd-remote');
  const [run] = (await world.deploy('far')).runs;
  assert.equal(run.failed_step, 'sshCheck');
  assert.match(run.error!, new RegExp(`^cannot connect to unreachable \\(${world.harness.user}@127\\.0\\.0\\.1:\\d+\\): connect ECONNREFUSED`));
  assert.ok(run.duration_ms! < 5000, `ended in ${run.duration_ms} ms`);
});

test('a host that accepts TCP and never answers fails at sshCheck within DEPLOY_SSH_TIMEOUT', { skip }, async (t) => {
  const silent = await startSilentListener(t);
  fs.appendFileSync(world.harness.sshConfigFile, `\nHost silent\n  HostName 127.0.0.1\n  Port ${silent.port}\n  User ${world.harness.user}\n  IdentityFile ${world.harness.identityFile}\n`);
  await world.cli('target', 'add', '--app', 'mute-host', '--host', 'silent', '--strategy', 'systemd-remote');
  const env = { ...world.env, DEPLOY_SSH_TIMEOUT: '2' };
  const result = await runCliInProcess(['deploy', 'mute-host', '--json'], env);
  const [run] = JSON.parse(result.stdout) as DeployReport[];
  assert.equal(silent.connections(), 1, 'the TCP connection was accepted (and never answered)');
  assert.deepEqual([run.status, run.failed_step], ['failure', 'sshCheck']);
  assert.match(run.error!, new RegExp(`^cannot connect to silent \\(${world.harness.user}@127\\.0\\.0\\.1:\\d+\\): Timed out while waiting for handshake$`));
  assert.ok(run.duration_ms! >= 2000 && run.duration_ms! < 6000, `failed after ${run.duration_ms} ms: DEPLOY_SSH_TIMEOUT is 2 s`);
  assert.deepEqual(stepStatuses(run), { sshCheck: 'failure', gitPull: 'skipped', build: 'skipped', restart: 'skipped', healthCheck: 'skipped',
    rollback: 'skipped', buildPrevious: 'skipped', restartPrevious: 'skipped', healthCheckPrevious: 'skipped' });
});

test('an unknown host key fails sshCheck with how to trust it', { skip }, async () => {
  await world.cli('target', 'add', '--app', 'shady', '--host', 'stranger', '--strategy', 'systemd-remote');
  const [run] = (await world.deploy('shady')).runs;
  assert.equal(run.failed_step, 'sshCheck');
  assert.match(run.error!, new RegExp(`^host key of \\[127\\.0\\.0\\.1\\]:${world.harness.port} is unknown: check it, then trust it with: ssh-keyscan -p ${world.harness.port} 127\\.0\\.0\\.1 >> `));
});

test('cancel during a long remote build kills the remote process', { skip }, async () => {
  const repo = createOrigin(world.harness, 'slow', { 'README': 'slow\n' });
  const remoteDir = path.join(world.harness.workDir, 'slow');
  await world.cli('target', 'add', '--app', 'slow', '--host', world.harness.alias, '--strategy', 'systemd-remote', '--remote-dir', remoteDir,
    '--repo', repo.origin, '--build', 'sleep 300 & echo $! > sleep.pid; wait');
  await world.cli('setup', 'slow', '--host', world.harness.alias);
  const { startRuntime } = await import('../../src/engine/runtime.ts');
  const { loadConfig } = await import('../../src/support/config.ts');
  const { orm, executor } = await startRuntime(loadConfig(world.env));
  try {
    const { runId, done } = await executor.requestDeploy({ app: 'slow', host: world.harness.alias, trigger: 'api' });
    const pidFile = path.join(remoteDir, 'sleep.pid');
    await until(() => fs.existsSync(pidFile) && fs.readFileSync(pidFile, 'utf8').trim() !== '', 15_000);
    const pid = Number(fs.readFileSync(pidFile, 'utf8'));
    assert.ok(processAlive(pid));
    await executor.cancel(runId);
    const outcome = await done;
    assert.equal(outcome.status, 'cancelled');
    await until(() => !processAlive(pid), 5000);
  } finally {
    await orm.close();
  }
});

test('a remote dir with spaces and shell syntax is used literally; a branch carrying a command runs nothing', { skip }, async () => {
  const port = await freePort();
  const marker = path.join(world.harness.tmpDir, 'pwned');
  const repo = createOrigin(world.harness, 'odd', { 'build.sh': BUILD_SCRIPT, 'version.txt': 'odd1' });
  const remoteDir = path.join(world.harness.workDir, `odd dir; $(touch ${marker}) \`touch ${marker}\` it's`);
  await world.cli('target', 'add', '--app', 'odd', '--host', world.harness.alias, '--strategy', 'systemd-remote', '--remote-dir', remoteDir,
    '--repo', repo.origin, '--build', 'sh build.sh odd', '--port', String(port), '--health', '/health', '--env', JSON.stringify({ PORT: String(port) }));
  assert.equal((await world.cli('setup', 'odd', '--host', world.harness.alias)).code, 0);
  const good = await world.deploy('odd');
  assert.equal(good.runs[0].status, 'success', JSON.stringify(good.runs));
  assert.deepEqual(await httpText(port, '/'), { status: 200, body: 'odd1' });
  assert.ok(fs.existsSync(path.join(remoteDir, 'odd')));

  await world.cli('target', 'add', '--app', 'odd', '--host', world.harness.alias, '--branch', `main;touch ${marker}`);
  const bad = await world.deploy('odd');
  assert.equal(bad.runs[0].failed_step, 'gitPull');
  assert.ok(!fs.existsSync(marker), 'nothing in the branch or the directory was executed');
});

test('a health endpoint that accepts but never answers fails at healthCheck within DEPLOY_HEALTH_TIMEOUT', { skip }, async (t) => {
  const { port } = await startSilentListener(t);
  const repo = createOrigin(world.harness, 'mute-origin', { 'docker-compose.yml': 'services: {}\n' });
  await world.cli('target', 'add', '--app', 'mute', '--host', world.harness.alias, '--strategy', 'docker-compose',
    '--remote-dir', path.join(world.harness.workDir, 'mute'), '--port', String(port), '--health', '/health', '--repo', repo.origin);
  assert.equal((await world.cli('setup', 'mute', '--host', world.harness.alias)).code, 0);
  const started = Date.now();
  const [run] = (await world.deploy('mute')).runs;
  assert.equal(run.failed_step, 'healthCheck');
  assert.match(run.error!, /not green after 4 s: last answer no answer within \d+ ms/);
  assert.ok(Date.now() - started < 15_000, 'bounded by the health timeout, not the 10-minute step timeout');
});

test('systemd with a requested commit builds exactly that commit (a worktree), whatever the registry root has checked out', { skip }, async () => {
  const port = await freePort();
  const root = world.registryRoot;
  if (!fs.existsSync(path.join(root, '.git'))) git(root, 'init', '-q', '-b', 'main');
  writeAppSource(path.join(root, 'apps', 'pinned'), 'p1');
  git(root, 'add', 'apps/pinned');
  git(root, 'commit', '-q', '-m', 'pinned p1');
  const wanted = git(root, 'rev-parse', 'HEAD');
  writeAppSource(path.join(root, 'apps', 'pinned'), 'p2');
  git(root, 'commit', '-q', '-am', 'pinned p2');
  writeAppSource(path.join(root, 'apps', 'pinned'), 'p3-uncommitted');
  await world.cli('target', 'add', '--app', 'pinned', '--host', world.harness.alias, '--remote-dir', path.join(world.harness.workDir, 'pinned'),
    '--build', 'sh build.sh pinned', '--port', String(port), '--health', '/health', '--env', JSON.stringify({ PORT: String(port) }));
  await world.cli('setup', 'pinned', '--host', world.harness.alias);
  const { startRuntime } = await import('../../src/engine/runtime.ts');
  const { loadConfig } = await import('../../src/support/config.ts');
  const { orm, executor } = await startRuntime(loadConfig(world.env));
  try {
    const { runId, done } = await executor.requestDeploy({ app: 'pinned', host: world.harness.alias, trigger: 'webhook', commit: wanted });
    assert.equal((await done).status, 'success');
    assert.equal((await httpText(port, '/')).body, 'p1');
    const { DeployRun } = await import('../../src/db/entities/DeployRun.ts');
    assert.equal((await orm.em.fork().findOneOrFail(DeployRun, { id: runId })).commit_after, wanted);
    assert.deepEqual(git(root, 'worktree', 'list', '--porcelain').split('\n').filter((l) => l.startsWith('worktree ')).length, 1, 'the build worktree is gone');
  } finally {
    await orm.close();
  }
  const manual = await world.deploy('pinned');
  assert.equal(manual.runs[0].status, 'success');
  assert.equal((await httpText(port, '/')).body, 'p3-uncommitted', 'without a commit, the CLI deploys the tree on disk');
});

test('--source-dir: the systemd build runs in that directory of the registry root, not apps/<app>', { skip }, async () => {
  writeAppSource(path.join(world.registryRoot, 'services', 'billing-api'), 'from-source-dir');
  writeAppSource(path.join(world.registryRoot, 'apps', 'billing'), 'from-apps-dir');
  const { port } = await addServingApp(world, 'billing', { flags: ['--source-dir', 'services/billing-api'] });
  const result = await world.deploy('billing');
  assert.equal(result.runs[0].status, 'success', JSON.stringify(result.runs));
  assert.equal((await httpText(port, '/')).body, 'from-source-dir');
  assert.ok(fs.existsSync(path.join(world.registryRoot, 'services', 'billing-api', 'billing')), 'built in the source dir');
});

test('a deploy to two hosts runs both at once (each build waits for the other to arrive), one run per host', { skip }, async () => {
  // The second host is a second sshd of its own (its own systemctl state), reached as `otherhost`.
  const other = await startSshdHarness({ aliases: ['otherhost'] });
  try {
    fs.appendFileSync(world.harness.sshConfigFile, ['', 'Host otherhost', '  HostName 127.0.0.1', `  Port ${other.port}`, `  User ${other.user}`,
      `  IdentityFile ${other.identityFile}`, `  UserKnownHostsFile ${other.knownHostsFile}`, ''].join('\n'));
    const barrier = path.join(world.harness.workDir, 'twin-barrier');
    fs.mkdirSync(barrier, { mode: 0o777 });
    fs.chmodSync(barrier, 0o777);
    const repo = createOrigin(world.harness, 'twin', { 'README': 'twin\n' });
    // Each host's build announces itself and waits (at most 30 s) for the other: run one after the other, the first would fail.
    const build = (me: string, them: string) => `touch '${barrier}/${me}'; i=0; while [ ! -e '${barrier}/${them}' ] && [ $i -lt 600 ]; do sleep 0.05; i=$((i+1)); done; [ -e '${barrier}/${them}' ] && printf '#!/bin/sh\\nexec sleep 300\\n' > twin && chmod +x twin`;
    for (const [host, them, workDir] of [['testhost', 'otherhost', world.harness.workDir], ['otherhost', 'testhost', other.workDir]]) {
      const add = await world.cli('target', 'add', '--app', 'twin', '--host', host, '--strategy', 'systemd-remote', '--remote-dir', path.join(workDir, 'twin'),
        '--repo', repo.origin, '--build', build(host, them));
      assert.equal(add.code, 0, add.stderr);
    }
    assert.equal((await world.cli('setup', 'twin', '--host', 'testhost')).code, 0);
    assert.equal((await runCliInProcess(['setup', 'twin', '--host', 'otherhost'], { ...world.env, DEPLOY_UNIT_DIR: other.unitDir })).code, 0);
    const result = await runCliInProcess(['deploy', 'twin', '--json'], world.env);
    const runs = JSON.parse(result.stdout) as DeployReport[];
    assert.equal(result.code, 0, JSON.stringify(runs.map((r) => [r.host, r.status, r.error])));
    assert.deepEqual(runs.map((r) => [r.host, r.status]).sort(), [['otherhost', 'success'], ['testhost', 'success']]);
    const [a, b] = runs;
    assert.ok(new Date(a.started_at!) < new Date(b.finished_at!) && new Date(b.started_at!) < new Date(a.finished_at!), 'the two runs overlapped');
    assert.deepEqual([world.harness.calls().includes('systemctl restart twin'), other.calls().includes('systemctl restart twin')], [true, true], 'restarted on each host');
  } finally {
    await other.stop();
  }
});

test('setup of a remote dir the SSH user cannot create goes through sudo -n install -d, owned by the SSH user', { skip: skip || skipWithoutSudo('sudo -n install -d') }, async () => {
  const parent = path.join(world.harness.tmpDir, 'root-owned');
  fs.mkdirSync(parent, { mode: 0o755 });
  const remoteDir = path.join(parent, 'vault');
  assert.equal((await world.harness.ssh(`mkdir ${remoteDir}`)).code, 1, 'the SSH user cannot create it itself');
  const add = await world.cli('target', 'add', '--app', 'vault', '--host', world.harness.alias, '--strategy', 'docker-compose', '--remote-dir', remoteDir,
    '--repo', createOrigin(world.harness, 'vault', { 'docker-compose.yml': 'services: {}\n' }).origin);
  assert.equal(add.code, 0, add.stderr);
  const setup = await world.cli('setup', 'vault', '--host', world.harness.alias);
  assert.equal(setup.code, 0, setup.stdout + setup.stderr);
  assert.match(setup.stdout, /✓ create .*vault\n/);
  const uid = Number((await world.harness.ssh('id -u')).stdout);
  assert.equal(fs.statSync(remoteDir).uid, uid, 'install -d -o gave it to the SSH user');
  assert.ok(fs.existsSync(path.join(remoteDir, '.git')), 'and the clone went into it');
});

test('DEPLOY_SUDO=never: setup, restart and status reach systemctl as the SSH user, never through sudo', { skip }, async () => {
  const env = { ...world.env, DEPLOY_SUDO: 'never' };
  const cli = (...args: string[]) => runCliInProcess(args, env);
  const port = await freePort();
  writeAppSource(path.join(world.registryRoot, 'apps', 'nosudo'), 'n1');
  const add = await cli('target', 'add', '--app', 'nosudo', '--host', world.harness.alias, '--remote-dir', path.join(world.harness.workDir, 'nosudo'),
    '--build', 'sh build.sh nosudo', '--port', String(port), '--health', '/health', '--env', JSON.stringify({ PORT: String(port) }));
  assert.equal(add.code, 0, add.stderr);
  world.harness.allowUserSystemctl(true); // the host lets the SSH user manage units (a polkit rule, say)
  try {
    world.harness.clearCalls();
    const setup = await cli('setup', 'nosudo', '--host', world.harness.alias);
    assert.equal(setup.code, 0, setup.stdout + setup.stderr);
    const deployed = await runCliInProcess(['deploy', 'nosudo', '--json'], env);
    assert.equal(JSON.parse(deployed.stdout)[0].status, 'success', deployed.stdout + deployed.stderr);
    assert.deepEqual((await httpText(port, '/')).body, 'n1');
    assert.equal((await cli('status', 'nosudo')).code, 0);
    const calls = world.harness.callDetails();
    const user = world.harness.user;
    assert.deepEqual(calls.map((c) => [c.line, c.user]), [
      ['systemctl daemon-reload', user],
      ['systemctl enable nosudo', user],
      ['systemctl restart nosudo', user],
      ['systemctl status --no-pager nosudo', user],
    ]);
    assert.equal(fs.statSync(path.join(world.harness.unitDir, 'nosudo.service')).uid, Number((await world.harness.ssh('id -u')).stdout), 'the unit written by the SSH user itself');
  } finally {
    world.harness.allowUserSystemctl(false);
  }
  try {
    // Without the host's permission, the restart is refused: it really was not run through sudo.
    const refused = JSON.parse((await runCliInProcess(['deploy', 'nosudo', '--json', '--host', world.harness.alias], env)).stdout)[0];
    assert.equal(refused.failed_step, 'restart');
    assert.match(refused.error, /Interactive authentication required/);
  } finally {
    world.harness.allowUserSystemctl(!world.harness.sudo); // the harness's own setting back, for any test after this one
  }
});
