import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Registry } from 'prom-client';
import { definePipeline } from '../../src/engine/pipeline.ts';
import { createMetrics } from '../../src/server/metrics.ts';
import { gate, until } from '../helpers/engine.ts';
import { postJson, postWebhook, sign, startTestApi } from '../helpers/api.ts';
import { fixture, SECRET, SIGNATURES } from '../helpers/gitea-fixtures.ts';
import { parsePrometheusText, sampleValue } from '../helpers/prometheus-text.ts';

async function scrape(url: string, token?: string) {
  const response = await fetch(`${url}/metrics`, { headers: token ? { authorization: `Bearer ${token}` } : {} });
  return { status: response.status, type: response.headers.get('content-type'), text: await response.text() };
}

test('the strict reader refuses what Prometheus refuses', () => {
  const bad = [
    'no_newline 1',
    'untyped_sample 1\n',
    '# TYPE a counter\na{b="x} 1\n',
    '# TYPE a counter\na{b="x\\q"} 1\n',
    '# TYPE a counter\na{1b="x"} 1\n',
    '# TYPE a counter\na 1\na 2\n',
    '# TYPE a counter\na one\n',
    '# TYPE a-b counter\n',
    '# TYPE a counter\n# TYPE b counter\na 1\n',
    '# TYPE h histogram\nh_bucket{le="1"} 2\nh_bucket{le="+Inf"} 1\nh_sum 1\nh_count 1\n',
  ];
  for (const body of bad) assert.throws(() => parsePrometheusText(body), assert.AssertionError, JSON.stringify(body));
  const good = parsePrometheusText('# HELP a A thing.\n# TYPE a counter\na{x="1",y="q\\"\\n"} 3\n# TYPE h histogram\nh_bucket{le="1"} 1\nh_bucket{le="+Inf"} 2\nh_sum 3.5\nh_count 2\n');
  assert.equal(sampleValue(good, 'a', { y: 'q"\n' }), 3);
  assert.equal(sampleValue(good, 'h_count'), 2);
});

test('/metrics parses by the text-format rules, and its counters, histograms and gauges move with real runs and webhooks', async (t) => {
  const hold = gate();
  let held = true;
  const pipeline = definePipeline({
    prepare: { run: async () => undefined },
    work: { run: async () => { if (held) await hold.promise; }, needs: ['prepare'] },
  });
  const metrics = createMetrics({ registry: new Registry() });
  const api = await startTestApi(t, {
    pipeline, targets: [{ app: 'my_app', host: 'vps1' }, { app: 'other', host: 'vps1' }], config: { webhookSecret: SECRET }, metrics,
  });

  const before = await scrape(api.url);
  assert.equal(before.status, 200);
  assert.match(before.type ?? '', /^text\/plain; version=0\.0\.4/);
  const empty = parsePrometheusText(before.text);
  for (const name of ['deploy_server_runs_total', 'deploy_server_run_duration_seconds', 'deploy_server_step_duration_seconds', 'deploy_server_runs_queued', 'deploy_server_runs_running', 'deploy_server_webhook_deliveries_total', 'process_cpu_user_seconds_total', 'nodejs_heap_size_total_bytes']) {
    assert.ok(empty.has(name), `${name} is exposed`);
    assert.ok(empty.get(name)!.help, `${name} has HELP`);
  }
  assert.equal(empty.get('deploy_server_runs_total')!.type, 'counter');
  assert.equal(empty.get('deploy_server_run_duration_seconds')!.type, 'histogram');
  assert.equal(empty.get('deploy_server_runs_queued')!.type, 'gauge');

  // One run held in its second step, one more request for the same target waiting behind it.
  const first = await postJson(`${api.url}/api/deploy/my_app`, {});
  await until(() => api.events.some((e) => e.type === 'step' && e.step === 'work' && e.status === 'running'));
  const second = await postJson(`${api.url}/api/deploy/my_app`, {});
  let during = parsePrometheusText((await scrape(api.url)).text);
  assert.equal(sampleValue(during, 'deploy_server_runs_running'), 1);
  assert.equal(sampleValue(during, 'deploy_server_runs_queued'), 1);
  held = false;
  hold.open();
  for (const run of [first, second]) await until(async () => (await api.run(run.body.queued[0].run_id)).status === 'success');

  // Webhooks: one queued, one skipped by its marker, one with a bad signature, one tag push.
  const push = fixture('push-monorepo.json');
  assert.equal((await postWebhook(api.url, push, { 'x-gitea-event': 'push', 'x-gitea-signature': SIGNATURES['push-monorepo.json'] })).status, 202);
  const skip = JSON.parse(push.toString('utf8'));
  skip.after = 'e'.repeat(40);
  skip.head_commit.message = 'wip [skip deploy]';
  const skipBody = JSON.stringify(skip);
  assert.equal((await postWebhook(api.url, skipBody, { 'x-gitea-event': 'push', 'x-gitea-signature': sign(skipBody, SECRET) })).status, 200);
  assert.equal((await postWebhook(api.url, push, { 'x-gitea-event': 'push', 'x-gitea-signature': 'bad' })).status, 401);
  assert.equal((await postWebhook(api.url, fixture('push-tag.json'), { 'x-gitea-event': 'push', 'x-gitea-signature': SIGNATURES['push-tag.json'] })).status, 200);
  await until(async () => (await api.runs()).every((r) => r.status !== 'queued' && r.status !== 'running'));

  const after = parsePrometheusText((await scrape(api.url)).text);
  const mine = { app: 'my_app', host: 'vps1', strategy: 'systemd' };
  assert.equal(sampleValue(after, 'deploy_server_runs_total', { ...mine, trigger: 'api', status: 'success' }), 2);
  assert.equal(sampleValue(after, 'deploy_server_runs_total', { ...mine, trigger: 'webhook', status: 'success' }), 1);
  assert.equal(sampleValue(after, 'deploy_server_runs_total', { ...mine, trigger: 'webhook', status: 'skipped' }), 1);
  assert.equal(sampleValue(after, 'deploy_server_runs_total', { app: 'other', trigger: 'webhook', status: 'skipped' }), 1);
  assert.equal(sampleValue(after, 'deploy_server_run_duration_seconds_count', { ...mine, trigger: 'api', status: 'success' }), 2);
  assert.equal(sampleValue(after, 'deploy_server_run_duration_seconds_count', { ...mine, trigger: 'webhook', status: 'skipped' }), 0, 'a skipped run never ran');
  assert.equal(sampleValue(after, 'deploy_server_step_duration_seconds_count', { strategy: 'systemd', step: 'work', status: 'success' }), 4);
  assert.equal(sampleValue(after, 'deploy_server_runs_running'), 0);
  assert.equal(sampleValue(after, 'deploy_server_runs_queued'), 0);
  for (const [outcome, count] of [['queued', 1], ['skipped', 1], ['unauthorized', 1], ['ignored', 1]] as const) {
    assert.equal(sampleValue(after, 'deploy_server_webhook_deliveries_total', { outcome }), count, outcome);
  }
});

test('with DEPLOY_METRICS_TOKEN (or DEPLOY_API_TOKEN) set, a scrape needs one of them as bearer token', async (t) => {
  const pipeline = definePipeline({ work: { run: async () => undefined } });
  const api = await startTestApi(t, { pipeline, config: { metricsToken: 'm-token-1', apiToken: 'a-token-1' } });
  assert.equal((await scrape(api.url)).status, 401);
  assert.equal((await scrape(api.url, 'wrong')).status, 401);
  assert.equal((await scrape(api.url, 'm-token-1')).status, 200);
  assert.equal((await scrape(api.url, 'a-token-1')).status, 200);
  assert.ok(!api.log().includes('m-token-1'));
});
