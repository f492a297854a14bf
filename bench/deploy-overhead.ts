// One systemd-remote deploy through deploy_server against the same commands run by plain OpenSSH:
// (a) deploy_server (executor, one SSH connection, history in SQLite)
// (b) the same commands in one `ssh` session
// (c) one new `ssh` process per command, as the Go original did.
// All three against the same loopback sshd, interleaved, each iteration pulling a fresh commit.
//   node --import tsx bench/deploy-overhead.ts   (BENCH_RUNS=N, default 15; BENCH_STEPS=1 for step medians)
import { startSshdHarness } from '../test/helpers/sshd.ts';
import { setUpRemoteDeployBench, stepMedians } from './remote-deploy-bench.ts';

const RUNS = Number(process.env.BENCH_RUNS ?? 15);

const harness = await startSshdHarness({ aliases: ['vps1'] });
try {
  const bench = await setUpRemoteDeployBench(harness, 'vps1');
  await bench.setup();
  const { deployServer: a, oneSession: b, sshPerCommand: c } = await bench.measure(RUNS, 'loopback');
  if (process.env.BENCH_STEPS) console.log(`  step medians: ${await stepMedians(bench.runtime, (RUNS + 1) * 9)}`);
  await bench.runtime.orm.close();
  console.log(`systemd-remote deploy (git pull, build, restart, health check) over loopback sshd, ${RUNS} runs each, medians:`);
  console.log(`  deploy_server                 ${a.toFixed(0).padStart(5)} ms   ${(a / b).toFixed(2)}× one ssh session`);
  console.log(`  plain ssh, one session        ${b.toFixed(0).padStart(5)} ms   1.00×`);
  console.log(`  plain ssh, one per command    ${c.toFixed(0).padStart(5)} ms   ${(c / b).toFixed(2)}× one ssh session`);
} finally {
  await harness.stop();
}
