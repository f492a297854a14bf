// Fan-out: one app to N host aliases over a link with latency (bench/delay-proxy.ts in front of the
// test sshd; every alias reaches it through the proxy), deployed through a real `serve` with the global
// limit DEPLOY_MAX_CONCURRENCY = L (2 per host): one POST /api/deploy/<app>, then every run's event
// stream to its result. The wall time is set against the ideal ⌈N/L⌉ × one deploy alone, measured
// just before with the same serve. CPU: serve's own (/proc/<pid>/stat), this process's (the delay
// proxy and the event streams), and the whole machine's (/proc/stat): the "hosts" (sshd, git, the
// docker stand-in) run on the same cores.
//   node --import tsx bench/fan-out.ts   (BENCH_FANOUT="100:16,200:64" as N:L pairs; BENCH_RTT=50 ms)
import { readFileSync } from 'node:fs';
import { cpus } from 'node:os';
import path from 'node:path';
import { startSshdHarness } from '../test/helpers/sshd.ts';
import { routeAliasesThrough, startDelayProxy } from './delay-proxy.ts';
import { fanTargets } from './fan-targets.ts';
import { loadAverage, median } from './remote-deploy-bench.ts';
import { followRun, requestDeployThroughApi, serveCheckout } from './serve-checkout.ts';

const CASES = (process.env.BENCH_FANOUT ?? '100:16,200:64').split(',').map((pair) => pair.split(':').map(Number) as [number, number]);
const RTT = Number(process.env.BENCH_RTT ?? 50);
const MAX = Math.max(...CASES.map(([hosts]) => hosts));
const TOKEN = 'bench-token';
const ROOT = new URL('..', import.meta.url).pathname;
const aliases = Array.from({ length: MAX }, (_, i) => `host${i + 1}`);

/** Busy and total jiffies of all cores. */
const machineTicks = () => {
  const fields = readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1).map(Number);
  const idle = fields[3] + fields[4];
  const total = fields.reduce((a, b) => a + b, 0);
  return { busy: total - idle, total };
};
const ownCpuMs = () => {
  const usage = process.cpuUsage();
  return (usage.user + usage.system) / 1000;
};

// The harness's sshd runs with MaxStartups 100:30:200 and MaxSessions 100 (OpenSSH's defaults, 10:30:100
// and 10, would refuse connections under this load): enough for 64 handshakes at once.
const harness = await startSshdHarness({ aliases: ['vps1'] });
const proxy = await startDelayProxy(harness.port, RTT);
try {
  routeAliasesThrough(harness, aliases, proxy.port);
  const targets = fanTargets(harness, 'fan', aliases);
  const db = path.join(harness.tmpDir, 'fan.db');
  console.log(`fan-out through serve over a ${RTT} ms link: docker-compose deploys (sshCheck, gitPull, compose pull, up -d, compose ps), 2 per host; ${cpus().length} cores`);
  for (const [hosts, limit] of CASES) {
    const app = `fan${hosts}`;
    const env = { ...process.env, ...harness.env, DEPLOY_DB: db, DEPLOY_API_TOKEN: TOKEN, DEPLOY_MAX_CONCURRENCY: String(limit), DEPLOY_HOST_CONCURRENCY: '2' };
    const serve = await serveCheckout(ROOT, env);
    try {
      for (const target of targets.slice(0, hosts)) {
        const response = await fetch(`${serve.url}/api/targets`, {
          method: 'POST',
          headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
          body: JSON.stringify({ ...target, app }),
        });
        if (!response.ok) throw new Error(`POST /api/targets: ${response.status} ${await response.text()}`);
      }
      /** Deploys the app to `host` (or to every host of it) and follows every run to its result. */
      const deploy = async (host?: string) => {
        const started = performance.now();
        const [machine, serveCpu, own] = [machineTicks(), serve.cpuMs(), ownCpuMs()];
        const runIds = await requestDeployThroughApi(serve.url, TOKEN, app, host);
        const results = await Promise.all(runIds.map(async (runId) => (await followRun(serve.url, TOKEN, runId)).at(-1)!.data));
        const after = machineTicks();
        return {
          ms: performance.now() - started,
          runs: runIds.length,
          failed: results.filter((result) => result.status !== 'success').map((result) => String(result.error)),
          machineBusy: (after.busy - machine.busy) / (after.total - machine.total),
          serveCpuMs: serve.cpuMs() - serveCpu,
          ownCpuMs: ownCpuMs() - own,
        };
      };
      await deploy('host1'); // warm-up: serve loads the SSH client on its first connection
      const singles = [];
      for (let i = 0; i < 5; i++) singles.push(await deploy(`host${i + 2}`));
      const one = median(singles.map((s) => s.ms));
      const oneCpu = median(singles.map((s) => s.serveCpuMs));
      const loadBefore = loadAverage();
      const all = await deploy();
      const ideal = Math.ceil(hosts / limit) * one;
      const wallS = all.ms / 1000;
      console.log(
        `  N=${hosts} hosts, limit ${limit}: ${all.ms.toFixed(0)} ms for all; one deploy alone ${one.toFixed(0)} ms (serve's CPU ${oneCpu.toFixed(0)} ms); ` +
          `ideal ⌈${hosts}/${limit}⌉ × one = ${ideal.toFixed(0)} ms, ratio ${(all.ms / ideal).toFixed(2)}×; ${all.runs} runs, ${all.failed.length} failed${all.failed.length ? ` (${all.failed[0]})` : ''}`,
      );
      console.log(
        `    CPU during the fan-out: machine ${(all.machineBusy * 100).toFixed(0)}% of ${cpus().length} cores busy; serve ${(all.serveCpuMs / hosts).toFixed(0)} ms per deploy ` +
          `(${((all.serveCpuMs / 1000 / wallS) * 100).toFixed(0)}% of one core); this process (delay proxy, event streams) ${((all.ownCpuMs / 1000 / wallS) * 100).toFixed(0)}% of one core; ` +
          `the rest (sshd, git, the stand-ins, other users) ${((all.machineBusy * cpus().length - (all.serveCpuMs + all.ownCpuMs) / 1000 / wallS) * 100).toFixed(0)}% of one core; ` +
          `load average ${loadBefore} → ${loadAverage()}`,
      );
    } finally {
      serve.child.kill('SIGTERM');
      await new Promise((resolve) => serve.child.once('exit', resolve));
    }
  }
} finally {
  await proxy.close();
  await harness.stop();
}
