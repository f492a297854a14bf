// One systemd-remote deploy through deploy_server against the same commands run by plain OpenSSH:
// (a) deploy_server: a real `serve` (POST /api/deploy → the run's result on its event stream)
// (b) the same commands in one `ssh` session
// (c) one new `ssh` process per command, as the Go original did.
// All three against the same loopback sshd, interleaved, each iteration pulling a fresh commit.
//   node --import tsx bench/deploy-overhead.ts [before-checkout]   (BENCH_RUNS=N, default 15; BENCH_STEPS=1 for step medians)
// With another checkout's path (its node_modules in place), a serve of it is measured too, interleaved.
import path from 'node:path';
import { startSshdHarness } from '../test/helpers/sshd.ts';
import { loadAverage, setUpRemoteDeployBench } from './remote-deploy-bench.ts';

const RUNS = Number(process.env.BENCH_RUNS ?? 15);
const BEFORE = process.argv[2] === undefined ? undefined : path.resolve(process.argv[2]);

const harness = await startSshdHarness({ aliases: ['vps1'] });
try {
  const bench = await setUpRemoteDeployBench(harness, 'vps1', BEFORE);
  try {
    await bench.setup();
    const loadBefore = loadAverage();
    const { deployServer: a, before, oneSession: b, sshPerCommand: c, serveCpuMs, beforeCpuMs, stepMedians } = await bench.measure(RUNS, 'loopback');
    if (process.env.BENCH_STEPS) console.log(`  step medians (ms): ${stepMedians}`);
    console.log(`systemd-remote deploy (git pull, build, restart, health check) over loopback sshd, ${RUNS} runs each, medians (load average ${loadBefore} → ${loadAverage()}):`);
    console.log(`  deploy_server (serve)         ${a.toFixed(0).padStart(5)} ms   ${(a / b).toFixed(2)}× one ssh session; serve's CPU ${serveCpuMs.toFixed(0)} ms per deploy`);
    if (before !== undefined) console.log(`  deploy_server before          ${before.toFixed(0).padStart(5)} ms   ${(before / b).toFixed(2)}× one ssh session; serve's CPU ${beforeCpuMs!.toFixed(0)} ms per deploy (${BEFORE})`);
    console.log(`  plain ssh, one session        ${b.toFixed(0).padStart(5)} ms   1.00×`);
    console.log(`  plain ssh, one per command    ${c.toFixed(0).padStart(5)} ms   ${(c / b).toFixed(2)}× one ssh session`);
  } finally {
    bench.close();
  }
} finally {
  await harness.stop();
}
