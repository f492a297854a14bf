// One systemd-remote deploy over a link with latency (bench/delay-proxy.ts in front of the test sshd):
// (a) deploy_server (the executor, one SSH connection, history in SQLite)
// (b) the same commands in one plain `ssh` session
// (c) one new `ssh` process per command (the seed's way)
// at each round trip time of BENCH_RTTS (default "0,50" ms), interleaved, each iteration pulling a
// fresh commit. The host alias `wan` reaches sshd through the proxy (HostKeyAlias keeps known_hosts).
//   node --import tsx bench/wan-deploy.ts   (BENCH_RUNS=N, default 9; BENCH_RTTS=0,50; BENCH_STEPS=1 for step medians)
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { loadConfig } from '../src/support/config.ts';
import { startRuntime } from '../src/engine/runtime.ts';
import { saveTarget } from '../src/domain/targets.ts';
import { gitHead, gitPull } from '../src/transport/remote/git.ts';
import { remoteBuild } from '../src/transport/remote/build.ts';
import { restartService } from '../src/transport/remote/systemd.ts';
import { BUILD_SCRIPT, createOrigin, freePort } from '../test/helpers/deploy-fixture.ts';
import { startSshdHarness } from '../test/helpers/sshd.ts';
import { startDelayProxy } from './delay-proxy.ts';

const RUNS = Number(process.env.BENCH_RUNS ?? 9);
const RTTS = (process.env.BENCH_RTTS ?? '0,50').split(',').map(Number);
const run = promisify(execFile);
const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)];

const harness = await startSshdHarness({ aliases: ['vps1'] });
try {
  const port = await freePort();
  const repo = createOrigin(harness, 'bench', { 'build.sh': BUILD_SCRIPT, 'version.txt': 'b0' });
  const dir = path.join(harness.workDir, 'bench');
  const env = { HOME: harness.home, DEPLOY_DB: path.join(harness.tmpDir, 'bench.db'), DEPLOY_UNIT_DIR: harness.unitDir };
  const config = loadConfig(env);
  const { orm, executor } = await startRuntime(config);
  await saveTarget(orm.em.fork(), {
    app: 'bench', host: 'wan', strategy: 'systemd-remote', remote_dir: dir, repo: repo.origin,
    build_cmd: 'sh build.sh bench', port, health: '/health', env: { PORT: String(port) },
  });

  // The same commands deploy_server runs, built by the same functions.
  const health = `until curl -fsS -o /dev/null http://127.0.0.1:${port}/health; do sleep 0.1; done`;
  const commands = [gitHead(dir), gitPull(dir, 'main'), gitHead(dir), remoteBuild(dir, 'sh build.sh bench'), restartService('bench', true), { command: health }].map((c) => c.command);
  const ssh = (command: string) => run('ssh', [...harness.sshArgs, 'wan', command]);

  const rows: string[] = [];
  let setUp = false;
  for (const rtt of RTTS) {
    const proxy = await startDelayProxy(harness.port, rtt);
    // The alias through the proxy: known_hosts names the sshd's real port, hence HostKeyAlias.
    const config = fs.readFileSync(harness.sshConfigFile, 'utf8').replace(/\nHost wan\n[^]*$/, '');
    fs.writeFileSync(harness.sshConfigFile, `${config}\nHost wan\n  HostName 127.0.0.1\n  Port ${proxy.port}\n  HostKeyAlias [127.0.0.1]:${harness.port}\n` +
      `  User ${harness.user}\n  IdentityFile ${harness.identityFile}\n  IdentitiesOnly yes\n  UserKnownHostsFile ${harness.knownHostsFile}\n  BatchMode yes\n`);
    if (!setUp) {
      const { runCliInProcess } = await import('../test/helpers/cli.ts');
      const setup = await runCliInProcess(['setup', 'bench', '--host', 'wan'], env);
      if (setup.code !== 0) throw new Error(setup.stderr);
      setUp = true;
    }
    const timings = { deployServer: [] as number[], oneSession: [] as number[], sshPerCommand: [] as number[] };
    const variants: [keyof typeof timings, () => Promise<void>][] = [
      ['deployServer', async () => {
        const { done } = await executor.requestDeploy({ app: 'bench', host: 'wan', trigger: 'manual' });
        const outcome = await done;
        if (outcome.status !== 'success') throw new Error(`deploy failed: ${outcome.error}`);
      }],
      ['oneSession', async () => void (await ssh(commands.map((c) => `(${c})`).join(' && ')))],
      ['sshPerCommand', async () => { for (const command of commands) await ssh(command); }],
    ];
    for (let i = 0; i < RUNS + 1; i++) {
      for (const [name, deploy] of i % 2 ? variants : [...variants].reverse()) {
        repo.commit({ 'version.txt': `b${rtt}-${i}-${name}` }, `${name} ${i}`);
        const started = performance.now();
        await deploy();
        if (i > 0) timings[name].push(performance.now() - started); // the first round warms up
      }
    }
    await proxy.close();
    if (process.env.BENCH_STEPS) {
      // Step medians of this RTT's deploys (BENCH_STEPS=1): where the time goes.
      const { StepRun } = await import('../src/db/entities/StepRun.ts');
      const steps = await orm.em.fork().find(StepRun, {}, { orderBy: { id: 'desc' }, limit: (RUNS + 1) * 9 });
      const byStep = new Map<string, number[]>();
      for (const row of steps) if (row.status === 'success') byStep.set(row.step, [...(byStep.get(row.step) ?? []), row.duration_ms ?? 0]);
      console.log(`RTT ${rtt} ms, step medians: ${[...byStep].map(([step, values]) => `${step} ${median(values)} ms`).join(', ')}`);
    }
    const [a, b, c] = [median(timings.deployServer), median(timings.oneSession), median(timings.sshPerCommand)];
    rows.push(
      `  RTT ${String(rtt).padStart(3)} ms  deploy_server ${a.toFixed(0).padStart(5)} ms ${(a / b).toFixed(2)}×   ` +
        `one ssh session ${b.toFixed(0).padStart(5)} ms 1.00×   ssh per command ${c.toFixed(0).padStart(5)} ms ${(c / b).toFixed(2)}×`,
    );
  }
  await orm.close();
  console.log(`systemd-remote deploy (git pull, build, restart, health check) through a delay proxy, ${RUNS} runs each, medians:`);
  for (const row of rows) console.log(row);
} finally {
  await harness.stop();
}
