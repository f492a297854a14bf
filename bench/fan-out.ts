// Fan-out: one app to N host aliases (all the loopback sshd), global limit 16, per host 2: the wall
// time of deploying all N against the ideal ⌈N/16⌉ × one deploy, measured in the same invocation.
//   node --import tsx bench/fan-out.ts   (BENCH_FANOUT="10,50,100")
import { readFileSync } from 'node:fs';
import { cpus } from 'node:os';
import path from 'node:path';
import { loadConfig } from '../src/support/config.ts';
import { startRuntime } from '../src/engine/runtime.ts';
import { saveTarget } from '../src/domain/targets.ts';
import { startSshdHarness } from '../test/helpers/sshd.ts';
import { fanTargets } from './fan-targets.ts';

const SIZES = (process.env.BENCH_FANOUT ?? '10,50,100').split(',').map(Number);
const MAX = Math.max(...SIZES);
const GLOBAL = 16;
const aliases = Array.from({ length: MAX }, (_, i) => `host${i + 1}`);

// The harness's sshd runs with MaxStartups 100:30:200 and MaxSessions 100 (OpenSSH's defaults, 10:30:100
// and 10, would refuse connections under this load).
const harness = await startSshdHarness({ aliases });
try {
  const env = { HOME: harness.home, DEPLOY_DB: path.join(harness.tmpDir, 'fan.db'), DEPLOY_MAX_CONCURRENCY: String(GLOBAL), DEPLOY_HOST_CONCURRENCY: '2' };
  const { orm, executor } = await startRuntime(loadConfig(env));
  for (const target of fanTargets(harness, 'fan', aliases)) await saveTarget(orm.em.fork(), target);

  /** Busy and total jiffies of all cores: the "hosts" share this machine's cores with deploy_server. */
  const cpuTicks = () => {
    const fields = readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1).map(Number);
    const idle = fields[3] + fields[4];
    const total = fields.reduce((a, b) => a + b, 0);
    return { busy: total - idle, total };
  };
  const deployAll = async (hosts: string[]) => {
    const started = performance.now();
    const ticks = cpuTicks();
    const ours = process.cpuUsage();
    const runs = await Promise.all(hosts.map((host) => executor.requestDeploy({ app: 'fan', host, trigger: 'api' })));
    const outcomes = await Promise.all(runs.map((r) => r.done));
    const after = cpuTicks();
    const mine = process.cpuUsage(ours);
    const ms = performance.now() - started;
    return {
      ms,
      errors: outcomes.filter((o) => o.status !== 'success').map((o) => o.error),
      machineBusy: (after.busy - ticks.busy) / (after.total - ticks.total),
      ownCpuMs: (mine.user + mine.system) / 1000,
    };
  };
  await deployAll(['host1']); // warm-up
  const singles = [];
  for (let i = 0; i < 5; i++) singles.push((await deployAll([`host${i + 1}`])).ms);
  const one = [...singles].sort((a, b) => a - b)[2];
  console.log(`fan-out: docker-compose deploys (sshCheck, gitPull, compose pull, up -d, compose ps), global limit ${GLOBAL}, per host 2`);
  console.log(`  one deploy alone: median ${one.toFixed(0)} ms`);
  for (const n of SIZES) {
    const { ms, errors, machineBusy, ownCpuMs } = await deployAll(aliases.slice(0, n));
    const ideal = Math.ceil(n / GLOBAL) * one;
    console.log(
      `  N=${String(n).padStart(3)}: ${ms.toFixed(0).padStart(5)} ms, ideal ⌈N/16⌉×one = ${ideal.toFixed(0).padStart(5)} ms, ratio ${(ms / ideal).toFixed(2)}×, errors ${errors.length}${errors.length ? ` (${errors[0]})` : ''}` +
        `; all ${cpus().length} cores ${(machineBusy * 100).toFixed(0)}% busy, deploy_server's own CPU ${(ownCpuMs / n).toFixed(0)} ms per deploy`,
    );
  }
  await orm.close();
} finally {
  await harness.stop();
}
