// One systemd-remote deploy over a link with latency (bench/delay-proxy.ts in front of the test sshd):
// (a) deploy_server (the executor, one SSH connection, history in SQLite)
// (b) the same commands in one plain `ssh` session
// (c) one new `ssh` process per command (the seed's way)
// at each round trip time of BENCH_RTTS (default "0,50" ms), interleaved, each iteration pulling a
// fresh commit. The host alias `wan` reaches sshd through the proxy (HostKeyAlias keeps known_hosts).
//   node --import tsx bench/wan-deploy.ts   (BENCH_RUNS=N, default 9; BENCH_RTTS=0,50; BENCH_STEPS=1 for step medians)
import fs from 'node:fs';
import { startSshdHarness } from '../test/helpers/sshd.ts';
import { startDelayProxy } from './delay-proxy.ts';
import { setUpRemoteDeployBench, stepMedians } from './remote-deploy-bench.ts';

const RUNS = Number(process.env.BENCH_RUNS ?? 9);
const RTTS = (process.env.BENCH_RTTS ?? '0,50').split(',').map(Number);

const harness = await startSshdHarness({ aliases: ['vps1'] });
try {
  const bench = await setUpRemoteDeployBench(harness, 'wan');
  const rows: string[] = [];
  let setUp = false;
  for (const rtt of RTTS) {
    const proxy = await startDelayProxy(harness.port, rtt);
    // The alias through the proxy: known_hosts names the sshd's real port, hence HostKeyAlias.
    const config = fs.readFileSync(harness.sshConfigFile, 'utf8').replace(/\nHost wan\n[^]*$/, '');
    fs.writeFileSync(harness.sshConfigFile, `${config}\nHost wan\n  HostName 127.0.0.1\n  Port ${proxy.port}\n  HostKeyAlias [127.0.0.1]:${harness.port}\n` +
      `  User ${harness.user}\n  IdentityFile ${harness.identityFile}\n  IdentitiesOnly yes\n  UserKnownHostsFile ${harness.knownHostsFile}\n  BatchMode yes\n`);
    if (!setUp) {
      await bench.setup();
      setUp = true;
    }
    const { deployServer: a, oneSession: b, sshPerCommand: c } = await bench.measure(RUNS, `rtt${rtt}`);
    await proxy.close();
    if (process.env.BENCH_STEPS) console.log(`RTT ${rtt} ms, step medians: ${await stepMedians(bench.runtime, (RUNS + 1) * 9)}`);
    rows.push(
      `  RTT ${String(rtt).padStart(3)} ms  deploy_server ${a.toFixed(0).padStart(5)} ms ${(a / b).toFixed(2)}×   ` +
        `one ssh session ${b.toFixed(0).padStart(5)} ms 1.00×   ssh per command ${c.toFixed(0).padStart(5)} ms ${(c / b).toFixed(2)}×`,
    );
  }
  await bench.runtime.orm.close();
  console.log(`systemd-remote deploy (git pull, build, restart, health check) through a delay proxy, ${RUNS} runs each, medians:`);
  for (const row of rows) console.log(row);
} finally {
  await harness.stop();
}
