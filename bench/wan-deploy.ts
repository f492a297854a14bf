// One systemd-remote deploy over a link with latency (bench/delay-proxy.ts in front of the test sshd):
// (a) deploy_server: a real `serve` (POST /api/deploy → the run's result on its event stream)
// (b) the same commands in one plain `ssh` session
// (c) one new `ssh` process per command (the seed's way)
// at each round trip time of BENCH_RTTS (default "0,50" ms), interleaved, each iteration pulling a
// fresh commit. The host alias `wan` reaches sshd through the proxy.
//   node --import tsx bench/wan-deploy.ts [before-checkout]   (BENCH_RUNS=N, default 9; BENCH_RTTS=0,50;
//   BENCH_STEPS=1: step medians, and when each step / command ended in one more instrumented run)
// With another checkout's path (its node_modules in place), a serve of it is measured too, interleaved.
import path from 'node:path';
import { startSshdHarness } from '../test/helpers/sshd.ts';
import { routeAliasesThrough, startDelayProxy } from './delay-proxy.ts';
import { loadAverage, setUpRemoteDeployBench } from './remote-deploy-bench.ts';

const RUNS = Number(process.env.BENCH_RUNS ?? 9);
const RTTS = (process.env.BENCH_RTTS ?? '0,50').split(',').map(Number);
const BEFORE = process.argv[2] === undefined ? undefined : path.resolve(process.argv[2]);

const harness = await startSshdHarness({ aliases: ['vps1'] });
try {
  const bench = await setUpRemoteDeployBench(harness, 'wan', BEFORE);
  try {
    const rows: string[] = [];
    let setUp = false;
    for (const rtt of RTTS) {
      const proxy = await startDelayProxy(harness.port, rtt);
      routeAliasesThrough(harness, ['wan'], proxy.port);
      if (!setUp) {
        await bench.setup();
        setUp = true;
      }
      const loadBefore = loadAverage();
      const { deployServer: a, before, oneSession: b, sshPerCommand: c, serveCpuMs, beforeCpuMs, stepMedians } = await bench.measure(RUNS, `rtt${rtt}`);
      if (process.env.BENCH_STEPS) {
        const timelines = await bench.timelines(`rtt${rtt}`);
        console.log(`RTT ${rtt} ms, step medians (ms): ${stepMedians}`);
        console.log(`  one instrumented run, ms after the start: deploy_server: ${timelines.deployServer}`);
        console.log(`                                            one ssh session: ${timelines.oneSession}`);
      }
      await proxy.close();
      rows.push(
        `  RTT ${String(rtt).padStart(3)} ms  deploy_server ${a.toFixed(0).padStart(5)} ms ${(a / b).toFixed(2)}×   ` +
          (before === undefined ? '' : `before (${BEFORE}) ${before.toFixed(0).padStart(5)} ms ${(before / b).toFixed(2)}×   `) +
          `one ssh session ${b.toFixed(0).padStart(5)} ms 1.00×   ssh per command ${c.toFixed(0).padStart(5)} ms ${(c / b).toFixed(2)}×   ` +
          `serve's CPU ${serveCpuMs.toFixed(0)} ms per deploy${beforeCpuMs === undefined ? '' : ` (before ${beforeCpuMs.toFixed(0)} ms)`}; load average ${loadBefore} → ${loadAverage()}`,
      );
    }
    console.log(`systemd-remote deploy (git pull, build, restart, health check) through a delay proxy, ${RUNS} runs each, medians:`);
    for (const row of rows) console.log(row);
  } finally {
    bench.close();
  }
} finally {
  await harness.stop();
}
