// What one SSH connection costs against one command on a connection already open: deploy_server's
// connector (connect.ts) against the test sshd, N times each way, alternated. CPU is the whole
// machine's (from /proc/stat: sshd, the remote shells and this process) and this process's alone.
// Every run opens a connection of its own today: this is what keeping one open between runs to the
// same host (as OpenSSH's ControlPersist does) would save per run. A diagnostic: not in npm run bench.
//   node --import tsx bench/ssh-connection-cost.ts   (BENCH_TIMES=40)
import { startSshdHarness } from '../test/helpers/sshd.ts';
import { createConnector } from '../src/transport/ssh/connect.ts';
import type { ShellCommand } from '../src/transport/remote/shell-command.ts';
import { machineCpuMs } from './remote-deploy-bench.ts';

const TIMES = Number(process.env.BENCH_TIMES ?? 40);
const TRUE: ShellCommand = { name: 'true', command: 'true' };

const harness = await startSshdHarness({ aliases: ['vps1'] });
try {
  const connect = createConnector({ home: harness.home, sshConnectTimeoutMs: 10_000 });
  const ways: [string, () => Promise<void>][] = [
    ['a connection per command (connect, true, close)', async () => {
      for (let i = 0; i < TIMES; i++) {
        const host = await connect('vps1', { commands: 1 });
        const { code } = await host.exec(TRUE);
        if (code !== 0) throw new Error(`true exited ${code}`);
        await host.close();
      }
    }],
    ['one connection, a command at a time (true)', async () => {
      const host = await connect('vps1', { commands: TIMES });
      for (let i = 0; i < TIMES; i++) {
        const { code } = await host.exec(TRUE);
        if (code !== 0) throw new Error(`true exited ${code}`);
      }
      await host.close();
    }],
  ];
  console.log(`one SSH connection against one command on an open connection (the test sshd on 127.0.0.1), ${TIMES} each, per command:`);
  for (const round of [1, 2]) {
    for (const [name, way] of ways) {
      const machine = machineCpuMs();
      const own = process.cpuUsage();
      const started = performance.now();
      await way();
      const wall = (performance.now() - started) / TIMES;
      const used = process.cpuUsage(own);
      console.log(`  round ${round}, ${name.padEnd(48)} wall ${wall.toFixed(1).padStart(5)} ms, machine CPU ${((machineCpuMs() - machine) / TIMES).toFixed(1).padStart(5)} ms, of which deploy_server ${((used.user + used.system) / 1000 / TIMES).toFixed(1).padStart(4)} ms`);
    }
  }
} finally {
  await harness.stop();
}
