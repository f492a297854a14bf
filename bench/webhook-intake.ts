// Webhook intake under load: autocannon against POST /webhook/push with valid signatures (every request
// a distinct push touching 4 apps, so each queues 4 runs that coalesce), against a bare route of the
// same server that only reads the body and answers 202 — twice: idle, and while the same 4 targets
// deploy one run after another (the deploys the webhook phase starts, over the same sshd, without the
// webhooks). Same process, same port, same invocation.
//   node --import tsx bench/webhook-intake.ts   (BENCH_SECONDS=5, BENCH_CONNECTIONS=16; BENCH_SSH_PERSIST_SECONDS=N:
//   the runtime keeps SSH connections between runs, as serve does with DEPLOY_SSH_PERSIST_SECONDS=N; off by default)
import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { Session } from 'node:inspector/promises';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import type autocannon from 'autocannon';
import express from 'express';
import { pino } from 'pino';
import { loadConfig } from '../src/support/config.ts';
import { startRuntime } from '../src/engine/runtime.ts';
import type { Executor } from '../src/engine/executor.ts';
import { createApp } from '../src/server/app.ts';
import { saveTarget } from '../src/domain/targets.ts';
import { DeployRun } from '../src/db/entities/DeployRun.ts';
import { createOrigin } from '../test/helpers/deploy-fixture.ts';
import { runCliInProcess } from '../test/helpers/cli.ts';
import { startSshdHarness } from '../test/helpers/sshd.ts';
import { loadWebhook, signedPushes } from './webhook-load.ts';
import { loadAverage } from './remote-deploy-bench.ts';

const SECONDS = Number(process.env.BENCH_SECONDS ?? 5);
const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 16);
const PERSIST_SECONDS = Number(process.env.BENCH_SSH_PERSIST_SECONDS ?? 0);
const SECRET = 'bench-secret';
const APPS = ['alpha', 'beta', 'gamma', 'delta'];

/** BENCH_PROFILE=FILE: a CPU profile (.cpuprofile) of the webhook phase alone. */
async function startProfile(): Promise<() => Promise<object>> {
  const session = new Session();
  session.connect();
  await session.post('Profiler.enable');
  await session.post('Profiler.start');
  return async () => (await session.post('Profiler.stop')).profile;
}

/**
 * Keeps every target of APPS deploying, one run after another (each with a commit of its own), until
 * stop(): how many deploys succeeded. A run that fails stops the bench.
 */
function keepDeploying(executor: Executor) {
  let stopping = false;
  let succeeded = 0;
  let commit = 0;
  const loops = APPS.map(async (app) => {
    while (!stopping) {
      const { done } = await executor.requestDeploy({ app, host: 'vps1', trigger: 'api', commit: (++commit).toString(16).padStart(40, 'b') });
      const result = await done;
      if (result.status !== 'success') throw new Error(`a baseline deploy of ${app} ended ${result.status}: ${result.error}`);
      succeeded++;
    }
  });
  return { stop: async () => ((stopping = true), await Promise.all(loops), succeeded) };
}

const harness = await startSshdHarness({ aliases: ['vps1'] });
try {
  // The registry root is a git repository of its own, whatever the bench runs from: elsewhere git
  // (asked which pushed commits it has) fails at once and is started again for every batch.
  const registryRoot = path.join(harness.tmpDir, 'registry');
  mkdirSync(registryRoot);
  execFileSync('git', ['init', '-q', registryRoot]);
  const env = { HOME: harness.home, DEPLOY_DB: path.join(harness.tmpDir, 'intake.db'), DEPLOY_WEBHOOK_SECRET: SECRET, DEPLOY_REGISTRY_ROOT: registryRoot, DEPLOY_SSH_PERSIST_SECONDS: String(PERSIST_SECONDS) };
  const config = loadConfig(env);
  const { orm, store, executor, closeConnections } = await startRuntime(config, undefined, undefined, true, { persistConnections: PERSIST_SECONDS > 0 });
  for (const app of APPS) {
    const repo = createOrigin(harness, app, { 'docker-compose.yml': 'services: {}\n' });
    await saveTarget(orm.em.fork(), { app, host: 'vps1', strategy: 'docker-compose', remote_dir: path.join(harness.workDir, app), repo: repo.origin });
    const setup = await runCliInProcess(['setup', app, '--host', 'vps1'], env);
    if (setup.code !== 0) throw new Error(setup.stderr);
  }
  const server = express();
  server.post('/bare', express.raw({ type: () => true, limit: '5mb' }), (_req, res) => void res.status(202).json({ queued: [] }));
  server.use(createApp({ orm, store, config, executor, logger: pino({ level: 'warn' }) }));
  const listening = server.listen(0, '127.0.0.1');
  await new Promise((resolve) => listening.once('listening', resolve));
  const base = `http://127.0.0.1:${(listening.address() as AddressInfo).port}`;

  const pushes = signedPushes(SECRET, APPS);
  // Every 202 from the webhook route names its queued runs: kept, to check after the load that none was lost or doubled.
  const answered: number[][] = [];
  const onAnswer = (status: number, body: string) => {
    if (status === 202) answered.push((JSON.parse(body) as { queued: { run_id: number }[] }).queued.map((q) => q.run_id));
  };
  const load = (url: string, options: { onAnswer?: typeof onAnswer } = {}) => loadWebhook(url, pushes, { connections: CONNECTIONS, seconds: SECONDS, ...options });
  // CPU of this process (server, deploys and autocannon) per answered request: less at the mercy of a busy machine than req/s.
  const cpuPerRequest = async (run: () => Promise<autocannon.Result>) => {
    const before = process.cpuUsage();
    const result = await run();
    const used = process.cpuUsage(before);
    return { result, cpuMs: (used.user + used.system) / 1000 / Math.max(1, result.requests.total) };
  };
  const { result: bare, cpuMs: bareCpu } = await cpuPerRequest(() => load(`${base}/bare`));
  const deploying = keepDeploying(executor);
  const { result: bareBusy, cpuMs: bareBusyCpu } = await cpuPerRequest(() => load(`${base}/bare`));
  const baselineDeploys = await deploying.stop();
  const pushesBefore = pushes.count();
  const profile = process.env.BENCH_PROFILE ? await startProfile() : undefined;
  const { result: webhook, cpuMs: webhookCpu } = await cpuPerRequest(() => load(`${base}/webhook/push`, { onAnswer }));
  if (profile) writeFileSync(process.env.BENCH_PROFILE!, JSON.stringify(await profile()));
  const runs = await orm.em.fork().count(DeployRun, { trigger: 'webhook' });
  // Lost: a run a 202 named that is not in the database. Doubled: a run named twice, a push recorded
  // twice, or a push with more runs than the apps it touched.
  const named = answered.flat();
  const found = await orm.em.fork().count(DeployRun, { id: { $in: named } });
  const sql = orm.em.getConnection();
  const doubledPushes = await sql.execute('select "after" from webhook_delivery group by repository, ref, "after" having count(*) > 1');
  const doubledRuns = await sql.execute(`select "commit" from deploy_run group by "commit" having count(*) > ${APPS.length}`);
  const short = answered.filter((ids) => ids.length !== APPS.length).length;
  await executor.shutdown(30_000);
  closeConnections();
  listening.close();
  await orm.close();

  const line = (name: string, r: autocannon.Result, cpuMs: number) =>
    `  ${name.padEnd(32)} ${r.requests.average.toFixed(0).padStart(6)} req/s, p50 ${String(r.latency.p50).padStart(4)} ms, p99 ${String(r.latency.p99).padStart(4)} ms, CPU ${cpuMs.toFixed(2)} ms/request, non-2xx ${r.non2xx}, errors ${r.errors}`;
  const persist = PERSIST_SECONDS > 0 ? `; SSH connections kept ${PERSIST_SECONDS} s between runs` : '';
  console.log(`webhook intake, autocannon ${CONNECTIONS} connections × ${SECONDS} s, each request a distinct signed push touching ${APPS.length} apps${persist}:`);
  console.log(line('bare route (read body, 202)', bare, bareCpu));
  console.log(line('bare route, 4 targets deploying', bareBusy, bareBusyCpu));
  console.log(line('POST /webhook/push', webhook, webhookCpu));
  const ratio = (of: autocannon.Result, ofCpu: number, to: autocannon.Result, toCpu: number) =>
    `${(of.requests.average / to.requests.average).toFixed(2)}× its requests/s, p99 ${(of.latency.p99 / Math.max(1, to.latency.p99)).toFixed(1)}× its p99, ${(ofCpu / toCpu).toFixed(1)}× its CPU per request`;
  console.log(`  webhook against the bare route: ${ratio(webhook, webhookCpu, bare, bareCpu)}`);
  console.log(`  webhook against the bare route while deploying: ${ratio(webhook, webhookCpu, bareBusy, bareBusyCpu)}`);
  console.log(`  the deploys alone, on the bare route: ${ratio(bareBusy, bareBusyCpu, bare, bareCpu)} (${baselineDeploys} deploys ran; load average ${loadAverage()})`);
  console.log(`  ${pushes.count() - pushesBefore} pushes sent, ${answered.length} answered 202 (the rest cut by the end of the load) → ${runs} webhook runs recorded (${APPS.length} per push; all but the last of each target coalesced away)`);
  console.log(`  lost: ${named.length - found} of the ${named.length} runs the 202s named; doubled: ${named.length - new Set(named).size} runs named twice, ${doubledPushes.length} pushes recorded twice, ${doubledRuns.length} pushes with more than ${APPS.length} runs; answers naming fewer than ${APPS.length} runs: ${short}`);
} finally {
  await harness.stop();
}
