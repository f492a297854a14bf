// The real readServiceStatus (src/domain/service-status.ts) over the test sshd: `systemctl status` and
// `docker compose ps` read on the host, env values masked, a status that hangs cut at its timeout
// with the remote command killed, an unreachable host; `deploy_server status` (one app, --all) and
// its exit 1, and GET /api/status/:app of a real `serve`.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { startDeployWorld, type DeployWorld } from '../helpers/deploy-fixture.ts';
import { processAlive, skipWithoutSshd } from '../helpers/sshd.ts';
import { startServe, stopChild } from '../helpers/cli.ts';
import { until } from '../helpers/engine.ts';
import type { TargetFields } from '../../src/domain/target-schema.ts';

const skip = skipWithoutSshd();
let world: DeployWorld;
const KEY = 'sk-live-7f3a9c21';

before(async () => {
  if (!skip) world = await startDeployWorld();
});
after(async () => {
  await world?.stop();
});

/** The stored target, as the CLI and the API read it. */
async function storedTarget(app: string): Promise<TargetFields> {
  const { openDatabase } = await import('../../src/db/orm.ts');
  const { findTargets } = await import('../../src/domain/targets.ts');
  const orm = await openDatabase({ dbPath: world.env.DEPLOY_DB! });
  try {
    const [target] = await findTargets(orm.em.fork(), app);
    return target;
  } finally {
    await orm.close();
  }
}

async function readStatus(app: string, options?: { timeoutMs?: number }) {
  const { readServiceStatus } = await import('../../src/domain/service-status.ts');
  const { loadConfig } = await import('../../src/support/config.ts');
  const { createConnector } = await import('../../src/transport/ssh/connect.ts');
  const config = loadConfig(world.env);
  return readServiceStatus(await storedTarget(app), config, createConnector(config), options);
}

/**
 * A systemd app whose service prints its API_KEY at start (into the stand-in's journal, which
 * `systemctl status` shows), deployed; no HTTP check, so its health check is `systemctl is-active`.
 */
async function deployTeller(): Promise<void> {
  const source = path.join(world.registryRoot, 'apps', 'teller');
  fs.mkdirSync(source, { recursive: true });
  fs.writeFileSync(path.join(source, 'build.sh'), 'printf \'#!/bin/sh\\necho "starting with key $API_KEY"\\nexec sleep 300\\n\' > teller\n');
  const add = await world.cli('target', 'add', '--app', 'teller', '--host', world.harness.alias, '--remote-dir', path.join(world.harness.workDir, 'teller'),
    '--build', 'sh build.sh', '--env', JSON.stringify({ API_KEY: KEY }));
  assert.equal(add.code, 0, add.stderr);
  assert.equal((await world.cli('setup', 'teller', '--host', world.harness.alias)).code, 0);
  const deployed = await world.deploy('teller');
  assert.equal(deployed.runs[0].status, 'success', JSON.stringify(deployed.runs));
}

test('status of a systemd service is the real `systemctl status` from the host, env values masked in it (function, CLI and API)', { skip }, async () => {
  await deployTeller();
  const logFile = path.join(world.harness.unitDir, 'teller.log');
  await until(() => fs.existsSync(logFile) && fs.readFileSync(logFile, 'utf8').includes(KEY), 10_000);

  const status = await readStatus('teller');
  assert.equal(status.error, undefined);
  assert.deepEqual([status.host, status.strategy, status.active], ['testhost', 'systemd', true]);
  assert.match(status.output, /● teller\.service - teller \(deployed by deploy_server\)\n/);
  assert.match(status.output, /Active: active \(running\)/);
  assert.match(status.output, /starting with key \*\*\*\n/, 'the journal line is there, its secret masked');
  assert.ok(!status.output.includes(KEY));
  assert.ok(world.harness.callDetails().some((c) => c.line === 'systemctl status --no-pager teller' && c.user === world.harness.systemctlUser), 'through sudo -n when the SSH user has sudo');

  const cli = await world.cli('status', 'teller');
  assert.equal(cli.code, 0, cli.stderr);
  assert.match(cli.stdout, /^== teller on testhost \(systemd\) — last deploy: run #\d+ success, /);
  assert.match(cli.stdout, /starting with key \*\*\*\n/);
  assert.ok(!cli.stdout.includes(KEY));

  const serve = await startServe({ ...world.env, DEPLOY_API_READ_TOKEN: 'tok-read-status' });
  try {
    assert.equal((await fetch(`${serve.url}/api/status/teller`)).status, 401, 'reads need a token');
    const response = await fetch(`${serve.url}/api/status/teller`, { headers: { authorization: 'Bearer tok-read-status' } });
    assert.equal(response.status, 200);
    const body = (await response.json()) as { host: string; active: boolean; output: string }[];
    assert.deepEqual(body.map((s) => [s.host, s.active]), [['testhost', true]]);
    assert.match(body[0].output, /starting with key \*\*\*\n/);
    assert.ok(!JSON.stringify(body).includes(KEY));
  } finally {
    await stopChild(serve.child);
  }
});

test('a status that hangs is cut at the timeout: an error saying so, and the remote command killed', { skip }, async () => {
  const add = await world.cli('target', 'add', '--app', 'frozen', '--host', world.harness.alias, '--strategy', 'docker-compose', '--remote-dir', world.harness.workDir);
  assert.equal(add.code, 0, add.stderr);
  world.harness.setDockerHang(['ps']);
  try {
    const started = Date.now();
    const status = await readStatus('frozen', { timeoutMs: 1000 });
    const elapsed = Date.now() - started;
    assert.deepEqual([status.active, status.output, status.error], [false, '', 'docker compose ps on testhost did not answer within 1 s']);
    assert.ok(elapsed >= 1000 && elapsed < 5000, `answered after ${elapsed} ms`);
    const hung = world.harness.dockerHangPid();
    assert.ok(hung !== null, 'the stand-in did hang');
    await until(() => !processAlive(hung), 5000);
  } finally {
    world.harness.setDockerHang([]);
    await world.cli('target', 'remove', 'frozen');
  }
});

test('an unreachable host: status says so; `status <app>` and `status --all` exit 1 and still show every other target', { skip }, async () => {
  const add = await world.cli('target', 'add', '--app', 'yonder', '--host', 'unreachable', '--strategy', 'docker-compose');
  assert.equal(add.code, 0, add.stderr);
  const compose = await world.cli('target', 'add', '--app', 'harbour', '--host', world.harness.alias, '--strategy', 'docker-compose', '--remote-dir', world.harness.workDir);
  assert.equal(compose.code, 0, compose.stderr);

  const status = await readStatus('yonder');
  assert.equal(status.active, false);
  assert.match(status.error!, new RegExp(`^cannot connect to unreachable \\(${world.harness.user}@127\\.0\\.0\\.1:\\d+\\): connect ECONNREFUSED`));

  const reachable = await world.cli('status', 'harbour');
  assert.equal(reachable.code, 0, reachable.stdout + reachable.stderr);
  assert.match(reachable.stdout, /^== harbour on testhost \(docker-compose\) — never deployed\nNAME +IMAGE .*\nremote-app-1 /);

  const one = await world.cli('status', 'yonder');
  assert.equal(one.code, 1);
  assert.match(one.stdout, /^== yonder on unreachable \(docker-compose\) — never deployed\nunreachable: cannot connect to unreachable /);

  const all = await world.cli('status', '--all');
  assert.equal(all.code, 1, 'one unreachable host fails the whole --all');
  const headers = all.stdout.split('\n').filter((line) => line.startsWith('== ')).map((line) => line.slice(3, line.indexOf(' (')));
  assert.ok(headers.includes('harbour on testhost') && headers.includes('yonder on unreachable'), headers.join(', '));
  assert.match(all.stdout, /== harbour on testhost \(docker-compose\) — never deployed\nNAME .*\nremote-app-1 /, 'the reachable hosts are still shown');

  await world.cli('target', 'remove', 'yonder');
  const allGood = await world.cli('status', '--all');
  assert.equal(allGood.code, 0, allGood.stdout);
});
