// Locks and metrics end to end over the real sshd: a locked target refuses the CLI deploy, `--force`
// deploys it (recorded), and /metrics counts a real deploy through the real runtime.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { Registry } from 'prom-client';
import { startRuntime } from '../../src/engine/runtime.ts';
import { createApp } from '../../src/server/app.ts';
import { createMetrics } from '../../src/server/metrics.ts';
import { loadConfig } from '../../src/support/config.ts';
import { addServingApp, httpText, startDeployWorld, writeAppSource, type DeployWorld } from '../helpers/deploy-fixture.ts';
import { skipWithoutSshd } from '../helpers/sshd.ts';
import { until } from '../helpers/engine.ts';
import { parsePrometheusText, sampleValue } from '../helpers/prometheus-text.ts';

const skip = skipWithoutSshd();
let world: DeployWorld;

before(async () => {
  if (!skip) world = await startDeployWorld();
});
after(async () => {
  await world?.stop();
});

test('a locked target refuses `deploy`; `deploy --force` deploys it and the run records that it was forced', { skip }, async () => {
  writeAppSource(path.join(world.registryRoot, 'apps', 'frozen'), 'v1');
  const { port } = await addServingApp(world, 'frozen');
  const lock = await world.cli('lock', 'frozen', '--reason', 'quarter close', '--by', 'ops');
  assert.equal(lock.code, 0, lock.stderr);

  const refused = await world.deploy('frozen');
  assert.equal(refused.code, 1);
  assert.match(refused.stderr, /^error: frozen@testhost is locked by ops: quarter close — use --force/);
  assert.deepEqual(refused.runs, []);

  const forced = await world.deploy('frozen', '--force');
  assert.equal(forced.code, 0, forced.stderr + JSON.stringify(forced.runs));
  assert.equal(forced.runs[0].status, 'success');
  assert.equal(forced.runs[0].forced, true);
  assert.deepEqual(await httpText(port, '/health'), { status: 200, body: 'v1' });
  assert.equal((await world.cli('unlock', 'frozen')).code, 0);
});

test('/metrics counts a real deploy over SSH: runs_total, run and step histograms, gauges back to 0', { skip }, async (t) => {
  writeAppSource(path.join(world.registryRoot, 'apps', 'counted'), 'v1');
  await addServingApp(world, 'counted');
  const config = loadConfig(world.env);
  const { orm, store, executor } = await startRuntime(config);
  t.after(async () => {
    await executor.shutdown(0);
    await orm.close();
  });
  const metrics = createMetrics({ registry: new Registry() });
  const logger = pino({ level: 'silent' }, new Writable({ write: (_c, _e, done) => done() }));
  const server = createApp({ orm, store, config, executor, logger, insecureApi: true, metrics }).listen(0, '127.0.0.1');
  await new Promise((resolve) => server.once('listening', resolve));
  t.after(() => new Promise((resolve) => server.close(resolve)));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const scrape = async () => parsePrometheusText(await (await fetch(`${url}/metrics`)).text());

  const labels = { app: 'counted', host: 'testhost', strategy: 'systemd', trigger: 'api', status: 'success' };
  assert.equal(sampleValue(await scrape(), 'deploy_server_runs_total', labels), 0);
  const queued = await fetch(`${url}/api/deploy/counted`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' });
  const runId = ((await queued.json()) as { queued: { run_id: number }[] }).queued[0].run_id;
  await until(async () => (await store.findResult(runId))?.status === 'success', 60_000);
  await until(async () => sampleValue(await scrape(), 'deploy_server_runs_total', labels) === 1);

  const families = await scrape();
  assert.equal(sampleValue(families, 'deploy_server_run_duration_seconds_count', labels), 1);
  assert.ok(sampleValue(families, 'deploy_server_run_duration_seconds_sum', labels) > 0);
  for (const step of ['sshCheck', 'build', 'rsync', 'chmod', 'restart', 'healthCheck']) {
    assert.equal(sampleValue(families, 'deploy_server_step_duration_seconds_count', { strategy: 'systemd', step, status: 'success' }), 1, step);
  }
  assert.equal(sampleValue(families, 'deploy_server_runs_running'), 0);
  assert.equal(sampleValue(families, 'deploy_server_runs_queued'), 0);
});
