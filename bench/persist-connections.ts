// DEPLOY_SSH_PERSIST_SECONDS: the same systemd-remote deploy (git pull, build, restart, health check)
// run N times in one process through two runtimes on one database, one with persistent connections
// off (0) and one with them on (10 s), alternated, each deploy pulling a fresh commit. Per deploy: wall
// time, machine CPU (/proc/stat: sshd, the remote shells, git, this process) and this process's CPU.
// A diagnostic: not in npm run bench.
//   node --import tsx bench/persist-connections.ts   (BENCH_RUNS=N, default 15)
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { startSshdHarness } from '../test/helpers/sshd.ts';
import { runCliInProcess } from '../test/helpers/cli.ts';
import { BUILD_SCRIPT, createOrigin, freePort } from '../test/helpers/deploy-fixture.ts';
import { startRuntime, type Runtime } from '../src/engine/runtime.ts';
import { loadConfig } from '../src/support/config.ts';
import { loadAverage, machineCpuMs, median } from './remote-deploy-bench.ts';

const RUNS = Number(process.env.BENCH_RUNS ?? 15);

const harness = await startSshdHarness({ aliases: ['vps1'], sshdConfig: ['LogLevel VERBOSE'] });
const runtimes: Runtime[] = [];
try {
  const port = await freePort();
  const repo = createOrigin(harness, 'bench', { 'build.sh': BUILD_SCRIPT, 'version.txt': 'b0' });
  const env = { ...process.env, ...harness.env, DEPLOY_DB: path.join(harness.tmpDir, 'bench.db'), DEPLOY_UNIT_DIR: harness.unitDir } as Record<string, string>;
  for (const args of [
    ['target', 'add', '--app', 'bench', '--host', 'vps1', '--strategy', 'systemd-remote', '--remote-dir', path.join(harness.workDir, 'bench'), '--repo', repo.origin,
      '--build', 'sh build.sh bench', '--port', String(port), '--health', '/health', '--env', JSON.stringify({ PORT: String(port) })],
    ['setup', 'bench', '--host', 'vps1'],
  ]) {
    const result = await runCliInProcess(args, env);
    if (result.code !== 0) throw new Error(result.stderr);
  }
  const modes: [string, Runtime][] = [];
  for (const seconds of ['0', '10']) {
    const runtime = await startRuntime(loadConfig({ ...env, DEPLOY_SSH_PERSIST_SECONDS: seconds }), undefined, undefined, true, { persistConnections: true });
    runtimes.push(runtime);
    modes.push([`persist ${seconds.padStart(2)}`, runtime]);
  }
  const logins = () => readFileSync(harness.sshdLogFile, 'utf8').split('\n').filter((line) => line.includes('Accepted publickey for ')).length;
  const figures = new Map<string, { wall: number[]; machine: number[]; own: number[]; logins: number }>(modes.map(([name]) => [name, { wall: [], machine: [], own: [], logins: 0 }]));
  for (let i = 0; i < RUNS + 1; i++) {
    for (const [name, runtime] of i % 2 ? modes : [...modes].reverse()) {
      repo.commit({ 'version.txt': `b-${i}-${name}` }, `${name} ${i}`);
      const loginsBefore = logins();
      const machine = machineCpuMs();
      const own = process.cpuUsage();
      const started = performance.now();
      const outcome = await (await runtime.executor.requestDeploy({ app: 'bench', host: 'vps1', trigger: 'api' })).done;
      if (outcome.status !== 'success') throw new Error(`deploy failed: ${outcome.error}`);
      if (i === 0) continue; // the first round warms up (and opens the connection persist 10 keeps)
      const used = process.cpuUsage(own);
      const figure = figures.get(name)!;
      figure.wall.push(performance.now() - started);
      figure.machine.push(machineCpuMs() - machine);
      figure.own.push((used.user + used.system) / 1000);
      figure.logins += logins() - loginsBefore;
    }
  }
  const mean = (values: number[]) => values.reduce((a, b) => a + b, 0) / values.length;
  console.log(`systemd-remote deploy over loopback sshd, ${RUNS} deploys each, alternated, one process (load average ${loadAverage()}):`);
  for (const [name, { wall, machine, own, logins: count }] of figures) {
    console.log(`  ${name}: wall median ${median(wall).toFixed(0).padStart(4)} ms (mean ${mean(wall).toFixed(0)}), machine CPU mean ${mean(machine).toFixed(0).padStart(4)} ms, of which deploy_server ${mean(own).toFixed(0).padStart(3)} ms; sshd logins ${count}`);
  }
} finally {
  for (const runtime of runtimes) {
    runtime.closeConnections();
    await runtime.executor.shutdown(5000);
    await runtime.orm.close();
  }
  await harness.stop();
}
