// Several servers on PostgreSQL against the default, SQLite with one: webhook intake (autocannon, as
// bench/webhook-intake.ts) and a fan-out of one app to 50 hosts, for SQLite + one `serve`, PostgreSQL +
// one `serve` and PostgreSQL + two `serve`s on one database — real serve processes (serve-checkout.ts)
// deploying over the loopback sshd, limits 16 in all and 2 per host (across all servers together on
// PostgreSQL), a throwaway PostgreSQL cluster (test/helpers/postgres.ts). One invocation; SQLite + one
// server is the baseline of every ratio; the rounds interleave the setups.
//   node --import tsx bench/multi-server.ts   (BENCH_SECONDS=3 per round, BENCH_CONNECTIONS=16, BENCH_FANOUT_N=50, BENCH_ROUNDS=3)
import { once } from 'node:events';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type autocannon from 'autocannon';
import { openDatabase } from '../src/db/orm.ts';
import { DeployRun } from '../src/db/entities/DeployRun.ts';
import { saveTarget } from '../src/domain/targets.ts';
import { createTestPostgresDatabase } from '../test/helpers/postgres.ts';
import { startSshdHarness } from '../test/helpers/sshd.ts';
import { fanTargets } from './fan-targets.ts';
import { serveCheckout, type ServedCheckout } from './serve-checkout.ts';
import { loadWebhook, signedPushes } from './webhook-load.ts';

const SECONDS = Number(process.env.BENCH_SECONDS ?? 3);
const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 16);
const FAN = Number(process.env.BENCH_FANOUT_N ?? 50);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const SECRET = 'bench-secret';
const TOKEN = 'bench-token';
const APPS = ['alpha', 'beta', 'gamma', 'delta'];
const root = fileURLToPath(new URL('..', import.meta.url));
const aliases = Array.from({ length: FAN }, (_, i) => `host${i + 1}`);
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

interface Setup {
  setup: string;
  db: string;
  count: number;
}

interface Live extends Setup {
  orm: Awaited<ReturnType<typeof openDatabase>>;
  servers: ServedCheckout[];
  intake: autocannon.Result[][];
  fanMs: number[];
  failed: number;
  owners: Map<number, number>;
}

const loadAtStart = os.loadavg()[0];
const harness = await startSshdHarness({ aliases });
const drops: (() => Promise<void>)[] = [];
const lives: Live[] = [];
try {
  const targets = [...APPS.flatMap((app) => fanTargets(harness, app, ['host1'])), ...fanTargets(harness, 'fan', aliases)];
  const testContext = { after: (drop: () => Promise<void>) => void drops.push(drop) };
  const setups: Setup[] = [
    { setup: 'SQLite, one server', db: path.join(harness.tmpDir, 'bench.db'), count: 1 },
    { setup: 'PostgreSQL, one server', db: await createTestPostgresDatabase(testContext), count: 1 },
    { setup: 'PostgreSQL, two servers', db: await createTestPostgresDatabase(testContext), count: 2 },
  ];
  // Every setup's servers run the whole time: the rounds interleave the setups, so a change in the
  // machine's load (it is shared) weighs on each alike.
  for (const setup of setups) {
    const orm = await openDatabase({ dbPath: setup.db });
    for (const target of targets) await saveTarget(orm.em.fork(), target);
    const env = {
      ...process.env, ...harness.env, DEPLOY_DB: setup.db, DEPLOY_WEBHOOK_SECRET: SECRET, DEPLOY_API_TOKEN: TOKEN,
      DEPLOY_MAX_CONCURRENCY: '16', DEPLOY_HOST_CONCURRENCY: '2',
    };
    const live: Live = { ...setup, orm, servers: [], intake: [], fanMs: [], failed: 0, owners: new Map() };
    lives.push(live);
    for (let i = 0; i < setup.count; i++) live.servers.push(await serveCheckout(root, env));
  }
  const unfinished = (live: Live, where: object = {}) => live.orm.em.fork().count(DeployRun, { ...where, status: { $in: ['queued', 'running'] } });
  const drain = async () => {
    for (const live of lives) {
      for (let waited = 0; (await unfinished(live)) > 0; waited += 200) {
        if (waited > 300_000) throw new Error(`${live.setup}: runs still going after 5 minutes`);
        await sleep(200);
      }
    }
  };
  for (let round = 0; round < ROUNDS; round++) {
    // Intake: the same connections in all, split over the setup's servers, at once.
    for (const live of lives) {
      const pushes = signedPushes(SECRET, APPS);
      live.intake.push(await Promise.all(live.servers.map((s) => loadWebhook(`${s.url}/webhook/push`, pushes, { connections: CONNECTIONS / live.count, seconds: SECONDS }))));
    }
    await drain();
    // Fan-out: one API request to the setup's first server deploys the app to every host; until all ended.
    for (const live of lives) {
      const started = performance.now();
      const response = await fetch(`${live.servers[0].url}/api/deploy/fan`, { method: 'POST', headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' }, body: '{}' });
      const ids = ((await response.json()) as { queued: { run_id: number }[] }).queued.map((q) => q.run_id);
      if (ids.length !== FAN) throw new Error(`${live.setup}: ${ids.length} runs queued for ${FAN} hosts (${response.status})`);
      while ((await unfinished(live, { id: { $in: ids } })) > 0) await sleep(50);
      live.fanMs.push(performance.now() - started);
      const ran = await live.orm.em.fork().find(DeployRun, { id: { $in: ids } }, { fields: ['status', 'owner_pid'] });
      live.failed += ran.filter((run) => run.status !== 'success').length;
      for (const run of ran) live.owners.set(run.owner_pid ?? 0, (live.owners.get(run.owner_pid ?? 0) ?? 0) + 1);
    }
  }

  const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)];
  const rate = (live: Live) => median(live.intake.map((round) => round.reduce((total, r) => total + r.requests.average, 0)));
  const base = lives[0];
  console.log(`intake: autocannon ${CONNECTIONS} connections in all (split over the setup's servers) × ${SECONDS} s per round, each request a distinct signed push touching ${APPS.length} apps on one host;`);
  console.log('  req/s summed over the servers, median of the rounds; p50 the median of the rounds\' worst server, p99 the worst of all');
  console.log(`fan-out: one POST /api/deploy/fan to the setup's first server → ${FAN} docker-compose deploys (one per host), limits 16 in all and 2 per host (all servers together)`);
  console.log(`${ROUNDS} rounds, each: intake of every setup in turn, then (once their runs ended) a fan-out of every setup in turn`);
  console.log('');
  console.log('| setup | intake req/s | vs SQLite | p50 / p99 ms | non-2xx, errors | fan-out ms (median) | vs SQLite | rounds ms | failed | runs per server |');
  console.log('|---|---|---|---|---|---|---|---|---|---|');
  for (const live of lives) {
    const results = live.intake.flat();
    const p50 = median(live.intake.map((round) => Math.max(...round.map((r) => r.latency.p50))));
    const p99 = Math.max(...results.map((r) => r.latency.p99));
    const errors = `${results.reduce((n, r) => n + r.non2xx, 0)}, ${results.reduce((n, r) => n + r.errors, 0)}`;
    const perServer = live.servers.map((s) => live.owners.get(s.child.pid!) ?? 0).join(' + ');
    console.log(`| ${live.setup} | ${rate(live).toFixed(0)} | ${(rate(live) / rate(base)).toFixed(2)}× | ${p50} / ${p99} | ${errors} | ` +
      `${median(live.fanMs).toFixed(0)} | ${(median(live.fanMs) / median(base.fanMs)).toFixed(2)}× | ${live.fanMs.map((ms) => ms.toFixed(0)).join(', ')} | ${live.failed} | ${perServer} |`);
  }
  console.log('');
  console.log(`load average (1 min): ${loadAtStart.toFixed(1)} at the start, ${os.loadavg()[0].toFixed(1)} at the end, on ${os.cpus().length} cores shared with sshd, git, PostgreSQL and the idle servers of the other setups (and whatever else runs here)`);
} finally {
  for (const live of lives) {
    for (const server of live.servers) {
      server.child.kill('SIGTERM');
      if (server.child.exitCode === null && server.child.signalCode === null) await once(server.child, 'exit');
    }
    await live.orm.close();
  }
  for (const drop of drops) await drop().catch(() => undefined);
  await harness.stop();
}
