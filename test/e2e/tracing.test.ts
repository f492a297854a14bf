// One trace per deploy, end to end: `serve` (with otel/ loaded by OTEL_EXPORTER_OTLP_ENDPOINT) takes a
// signed webhook and deploys over the test sshd; a real OTLP/HTTP receiver on 127.0.0.1 gets the spans.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { BUILD_SCRIPT, createOrigin, freePort, startDeployWorld, type DeployWorld } from '../helpers/deploy-fixture.ts';
import { skipWithoutSshd } from '../helpers/sshd.ts';
import { startServe, stopChild } from '../helpers/cli.ts';
import { sign } from '../helpers/api.ts';
import { until } from '../helpers/engine.ts';

const skip = skipWithoutSshd();
const SECRET = 'webhook-secret-for-tracing';
const ENV_SECRET = 'db-password-9f8e7d';

interface OtlpSpan {
  traceId: string;
  spanId: string;
  parentSpanId?: string;
  name: string;
  kind: number;
  attributes: { key: string; value: Record<string, unknown> }[];
  status?: { code?: number; message?: string };
  events?: { name: string }[];
  links?: unknown[];
}

let world: DeployWorld;
let receiver: http.Server;
const bodies: { resourceSpans: { resource: { attributes: OtlpSpan['attributes'] }; scopeSpans: { spans: OtlpSpan[] }[] }[] }[] = [];

before(async () => {
  if (skip) return;
  world = await startDeployWorld();
  receiver = http.createServer((req, res) => {
    let body = '';
    req.on('data', (chunk) => (body += chunk));
    req.on('end', () => {
      if (req.method === 'POST' && req.url === '/v1/traces' && req.headers['content-type']?.startsWith('application/json')) {
        bodies.push(JSON.parse(body));
        res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
      } else {
        res.writeHead(404).end();
      }
    });
  });
  await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve));
});
after(async () => {
  receiver?.close();
  await world?.stop();
});

const attr = (span: OtlpSpan, key: string) => {
  const value = span.attributes.find((a) => a.key === key)?.value;
  return value && (value.stringValue ?? value.intValue ?? value.boolValue);
};

test('webhook request → run spans → step spans → remote command spans, in one trace per deploy', { skip }, async () => {
  const port = await freePort();
  const good = createOrigin(world.harness, 'traced', { 'build.sh': BUILD_SCRIPT, 'version.txt': 't1' });
  const bad = createOrigin(world.harness, 'untraced', { 'README': 'x\n' });
  const common = ['--host', world.harness.alias, '--strategy', 'systemd-remote'];
  await world.cli('target', 'add', '--app', 'traced', ...common, '--remote-dir', path.join(world.harness.workDir, 'traced'), '--repo', good.origin,
    '--build', 'sh build.sh traced', '--port', String(port), '--health', '/health', '--env', JSON.stringify({ PORT: String(port), DB_PASSWORD: ENV_SECRET }));
  await world.cli('target', 'add', '--app', 'untraced', ...common, '--remote-dir', path.join(world.harness.workDir, 'untraced'), '--repo', bad.origin,
    '--build', `echo using ${ENV_SECRET}; exit 7`, '--env', JSON.stringify({ DB_PASSWORD: ENV_SECRET }));
  for (const app of ['traced', 'untraced']) assert.equal((await world.cli('setup', app, '--host', world.harness.alias)).code, 0);

  const endpoint = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}`;
  const serve = await startServe({ ...world.env, DEPLOY_WEBHOOK_SECRET: SECRET, OTEL_EXPORTER_OTLP_ENDPOINT: endpoint, DEPLOY_JAEGER_URL: 'http://jaeger.test:16686', DEPLOY_API_READ_TOKEN: 'read-trace' });
  const after = 'ab'.repeat(20);
  const payload = JSON.stringify({
    ref: 'refs/heads/main', before: 'cd'.repeat(20), after, total_commits: 1,
    commits: [{ id: after, added: ['apps/traced/main.go'], removed: [], modified: ['apps/untraced/main.go'] }],
    repository: { name: 'registry', full_name: 'acme/registry' },
  });
  const response = await fetch(`${serve.url}/webhook/push`, {
    method: 'POST', body: payload, headers: { 'content-type': 'application/json', 'x-gitea-event': 'push', 'x-gitea-signature': sign(payload, SECRET) },
  });
  assert.equal(response.status, 202);
  const { queued } = (await response.json()) as { queued: { app: string; run_id: number }[] };
  const runs: Record<string, { status: string; trace_id: string; trace_url: string }> = {};
  for (const { app, run_id: runId } of queued) {
    await until(async () => {
      runs[app] = (await (await fetch(`${serve.url}/api/runs/${runId}`, { headers: { authorization: 'Bearer read-trace' } })).json()) as typeof runs[string];
      return !['queued', 'running'].includes(runs[app].status);
    }, 30_000);
  }
  assert.equal(runs.traced.status, 'success');
  assert.equal(runs.untraced.status, 'failure');
  assert.equal(await stopChild(serve.child), 0, serve.output()); // SIGTERM flushes the spans

  const spans = bodies.flatMap((b) => b.resourceSpans.flatMap((r) => r.scopeSpans.flatMap((s) => s.spans)));
  const resource = bodies[0].resourceSpans[0].resource.attributes.find((a) => a.key === 'service.name');
  assert.equal(resource?.value.stringValue, 'deploy_server');
  const byName = (name: string) => spans.filter((s) => s.name === name);
  const childrenOf = (parent: OtlpSpan) => spans.filter((s) => s.parentSpanId === parent.spanId);

  const [request] = byName('POST /webhook/push');
  assert.ok(request, 'a span for the webhook request');
  assert.equal(request.kind, 2, 'SERVER');
  assert.equal(attr(request, 'http.response.status_code'), 202);

  // untraced: its build fails, so the compensation path resets the checkout and builds again (and fails again).
  for (const [app, steps] of [['traced', ['sshCheck', 'gitPull', 'build', 'restart', 'healthCheck']], ['untraced', ['sshCheck', 'gitPull', 'build', 'rollback', 'buildPrevious']]] as const) {
    const [run] = byName(`deploy ${app}@testhost`);
    assert.ok(run, `run span of ${app}`);
    assert.equal(run.parentSpanId, request.spanId, 'the run is a child of the request that queued it');
    assert.equal(run.traceId, request.traceId);
    assert.equal(runs[app].trace_id, run.traceId, 'the run row has the trace id');
    assert.equal(runs[app].trace_url, `http://jaeger.test:16686/trace/${run.traceId}`);
    assert.equal(attr(run, 'deploy.strategy'), 'systemd-remote');
    assert.equal(attr(run, 'deploy.trigger'), 'webhook');
    assert.equal(attr(run, 'vcs.ref'), 'refs/heads/main');
    assert.equal(attr(run, 'vcs.revision'), after);
    assert.deepEqual(childrenOf(run).map((s) => s.name), steps.map((s) => `step ${s}`));
  }

  const traced = byName('deploy traced@testhost')[0];
  const gitPull = childrenOf(traced).find((s) => s.name === 'step gitPull')!;
  const [pull] = childrenOf(gitPull);
  assert.equal(pull.name, 'ssh git rev-parse && git pull && git rev-parse');
  assert.equal(attr(pull, 'deploy.host'), 'testhost');
  assert.equal(attr(pull, 'process.exit.code'), 0);
  const restart = childrenOf(childrenOf(traced).find((s) => s.name === 'step restart')!);
  assert.deepEqual(restart.map((s) => [s.name, attr(s, 'deploy.command')]), [['ssh systemctl restart', 'systemctl restart']]);

  const untraced = byName('deploy untraced@testhost')[0];
  assert.equal(untraced.status?.code, 2, 'the failed run has an error status');
  const build = childrenOf(untraced).find((s) => s.name === 'step build')!;
  assert.equal(build.status?.code, 2, 'the failing step has an error status');
  assert.ok(build.events?.some((e) => e.name === 'exception'));
  const [buildCommand] = childrenOf(build);
  assert.equal(buildCommand.name, 'ssh build');
  assert.equal(attr(buildCommand, 'process.exit.code'), 7);
  assert.equal(buildCommand.status?.code, 2);
  assert.match(build.status!.message!, /build exited with 7: using \*\*\*/);

  assert.ok(!JSON.stringify(bodies).includes(ENV_SECRET), 'no env value in any span');
  assert.ok(!JSON.stringify(bodies).includes(SECRET), 'no webhook secret in any span');
});
