// How fast POST /webhook/push answers while deploys run: signed deliveries (each a distinct push
// touching every app) against the real app, whose executor deploys over the loopback sshd meanwhile.
//   node --import tsx bench/webhook-latency.ts   (BENCH_REQUESTS=N, default 400; BENCH_CONCURRENCY=C, default 8)
import { createHmac } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { pino } from 'pino';
import { loadConfig } from '../src/support/config.ts';
import { startRuntime } from '../src/engine/runtime.ts';
import { createApp } from '../src/server/app.ts';
import { saveTarget } from '../src/domain/targets.ts';
import { DeployRun } from '../src/db/entities/DeployRun.ts';
import { BUILD_SCRIPT, createOrigin, freePort } from '../test/helpers/deploy-fixture.ts';
import { runCliInProcess } from '../test/helpers/cli.ts';
import { startSshdHarness } from '../test/helpers/sshd.ts';

const REQUESTS = Number(process.env.BENCH_REQUESTS ?? 400);
const CONCURRENCY = Number(process.env.BENCH_CONCURRENCY ?? 8);
const APPS = ['alpha', 'beta', 'gamma', 'delta'];
const SECRET = 'bench-secret';

const harness = await startSshdHarness({ aliases: ['vps1'] });
try {
  const env = { HOME: harness.home, DEPLOY_DB: path.join(harness.tmpDir, 'bench.db'), DEPLOY_UNIT_DIR: harness.unitDir, DEPLOY_WEBHOOK_SECRET: SECRET };
  const config = loadConfig(env);
  const { orm, store, executor } = await startRuntime(config);
  for (const app of APPS) {
    const port = await freePort();
    const repo = createOrigin(harness, app, { 'build.sh': BUILD_SCRIPT, 'version.txt': app });
    await saveTarget(orm.em.fork(), {
      app, host: 'vps1', strategy: 'systemd-remote', remote_dir: path.join(harness.workDir, app), repo: repo.origin,
      build_cmd: `sh build.sh ${app}`, port, health: '/health', env: { PORT: String(port) },
    });
    const setup = await runCliInProcess(['setup', app, '--host', 'vps1'], env);
    if (setup.code !== 0) throw new Error(setup.stderr);
  }
  const server = createApp({ orm, store, config, executor, logger: pino({ level: 'warn' }) }).listen(0, '127.0.0.1');
  await new Promise((resolve) => server.once('listening', resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/webhook/push`;

  const latencies: number[] = [];
  const statuses = new Map<number, number>();
  let next = 0;
  const worker = async () => {
    while (next < REQUESTS) {
      const i = next++;
      const after = (i + 1).toString(16).padStart(40, '0');
      const body = JSON.stringify({
        ref: 'refs/heads/main', before: 'f'.repeat(40), after, total_commits: 1,
        commits: [{ id: after, added: [], removed: [], modified: APPS.map((app) => `apps/${app}/main.go`) }],
        repository: { name: 'registry', full_name: 'acme/registry' },
      });
      const signature = createHmac('sha256', SECRET).update(body).digest('hex');
      const started = performance.now();
      const response = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json', 'x-gitea-event': 'push', 'x-gitea-signature': signature }, body });
      await response.arrayBuffer();
      latencies.push(performance.now() - started);
      statuses.set(response.status, (statuses.get(response.status) ?? 0) + 1);
    }
  };
  // Baseline, in the same window on the same server: GET /api/health (one query, no webhook work),
  // one request at a time for as long as the deliveries go on.
  const baseline: number[] = [];
  let delivering = true;
  const poller = async () => {
    while (delivering) {
      const started = performance.now();
      await (await fetch(url.replace('/webhook/push', '/api/health'))).arrayBuffer();
      baseline.push(performance.now() - started);
    }
  };
  const polling = poller();
  const started = performance.now();
  await Promise.all(Array.from({ length: CONCURRENCY }, worker));
  const wall = performance.now() - started;
  delivering = false;
  await polling;
  const running = await orm.em.fork().count(DeployRun, { status: { $in: ['running', 'queued'] } });
  await executor.shutdown(60_000);
  const runs = await orm.em.fork().find(DeployRun, {});
  server.close();
  await orm.close();

  const percentile = (values: number[]) => {
    const ordered = [...values].sort((a, b) => a - b);
    return (p: number) => ordered[Math.min(ordered.length - 1, Math.floor(ordered.length * p))].toFixed(1);
  };
  const sorted = [...latencies].sort((a, b) => a - b);
  const pct = percentile(latencies);
  const base = percentile(baseline);
  const count = (status: string) => runs.filter((r) => r.status === status).length;
  console.log(`webhook answer time while deploys run: ${REQUESTS} signed deliveries, ${CONCURRENCY} at a time, ${APPS.length} systemd-remote targets on the loopback sshd`);
  console.log(`  answers: ${[...statuses].map(([s, n]) => `${n}× ${s}`).join(', ')} in ${(wall / 1000).toFixed(1)} s (${(REQUESTS / (wall / 1000)).toFixed(0)} req/s)`);
  console.log(`  latency: median ${pct(0.5)} ms, p90 ${pct(0.9)} ms, p99 ${pct(0.99)} ms, max ${sorted.at(-1)!.toFixed(1)} ms`);
  console.log(`  baseline, GET /api/health in the same window (${baseline.length} requests, one at a time): median ${base(0.5)} ms, p90 ${base(0.9)} ms, p99 ${base(0.99)} ms`);
  console.log(`  runs: ${runs.length} recorded — ${count('success')} success, ${count('cancelled')} cancelled (coalesced), ${count('failure')} failure, ${count('interrupted')} interrupted; ${running} still queued or running when the last answer came`);
} finally {
  await harness.stop();
}
