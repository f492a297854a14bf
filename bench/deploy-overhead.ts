// One systemd-remote deploy through deploy_server against the same commands run by plain OpenSSH:
// (a) deploy_server (executor, one node-ssh connection, history in SQLite)
// (b) the same commands in one `ssh` session
// (c) one new `ssh` process per command, as the Go original did.
// All three against the same loopback sshd, interleaved, each iteration pulling a fresh commit.
//   node --import tsx bench/deploy-overhead.ts   (BENCH_RUNS=N, default 15)
import { execFile } from 'node:child_process';
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

const RUNS = Number(process.env.BENCH_RUNS ?? 15);
const run = promisify(execFile);

const harness = await startSshdHarness({ aliases: ['vps1'] });
try {
  const port = await freePort();
  const repo = createOrigin(harness, 'bench', { 'build.sh': BUILD_SCRIPT, 'version.txt': 'b0' });
  const dir = path.join(harness.workDir, 'bench');
  const env = { HOME: harness.home, DEPLOY_DB: path.join(harness.tmpDir, 'bench.db'), DEPLOY_UNIT_DIR: harness.unitDir };
  const config = loadConfig(env);
  const { orm, executor } = await startRuntime(config);
  await saveTarget(orm.em.fork(), {
    app: 'bench', host: 'vps1', strategy: 'systemd-remote', remote_dir: dir, repo: repo.origin,
    build_cmd: 'sh build.sh bench', port, health: '/health', env: { PORT: String(port) },
  });
  const { runCliInProcess } = await import('../test/helpers/cli.ts');
  const setup = await runCliInProcess(['setup', 'bench', '--host', 'vps1'], env);
  if (setup.code !== 0) throw new Error(setup.stderr);

  // The same commands deploy_server runs, built by the same functions.
  const health = `until curl -fsS -o /dev/null http://127.0.0.1:${port}/health; do sleep 0.1; done`;
  const commands = [gitHead(dir), gitPull(dir, 'main'), gitHead(dir), remoteBuild(dir, 'sh build.sh bench'), restartService('bench', true), { command: health }].map((c) => c.command);
  const ssh = (command: string) => run('ssh', [...harness.sshArgs, 'vps1', command]);

  const timings = { deployServer: [] as number[], oneSession: [] as number[], sshPerCommand: [] as number[] };
  const variants: [keyof typeof timings, () => Promise<void>][] = [
    ['deployServer', async () => {
      const { done } = await executor.requestDeploy({ app: 'bench', host: 'vps1', trigger: 'manual' });
      const outcome = await done;
      if (outcome.status !== 'success') throw new Error(`deploy failed: ${outcome.error}`);
    }],
    ['oneSession', async () => void (await ssh(commands.map((c) => `(${c})`).join(' && ')))],
    ['sshPerCommand', async () => { for (const command of commands) await ssh(command); }],
  ];
  for (let i = 0; i < RUNS + 1; i++) {
    for (const [name, deploy] of i % 2 ? variants : [...variants].reverse()) {
      repo.commit({ 'version.txt': `b${i}-${name}` }, `${name} ${i}`);
      const started = performance.now();
      await deploy();
      if (i > 0) timings[name].push(performance.now() - started); // the first round warms up
    }
  }
  if (process.env.BENCH_STEPS) {
    const { StepRun } = await import('../src/db/entities/StepRun.ts');
    const rows = await orm.em.fork().find(StepRun, {});
    const byStep = new Map<string, number[]>();
    for (const row of rows) byStep.set(row.step, [...(byStep.get(row.step) ?? []), row.duration_ms ?? 0]);
    for (const [step, values] of byStep) console.log(`  step ${step}: median ${[...values].sort((x, y) => x - y)[Math.floor(values.length / 2)]} ms`);
  }
  await orm.close();
  const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)];
  const [a, b, c] = [median(timings.deployServer), median(timings.oneSession), median(timings.sshPerCommand)];
  console.log(`systemd-remote deploy (git pull, build, restart, health check) over loopback sshd, ${RUNS} runs each, medians:`);
  console.log(`  deploy_server                 ${a.toFixed(0).padStart(5)} ms   ${(a / b).toFixed(2)}× one ssh session`);
  console.log(`  plain ssh, one session        ${b.toFixed(0).padStart(5)} ms   1.00×`);
  console.log(`  plain ssh, one per command    ${c.toFixed(0).padStart(5)} ms   ${(c / b).toFixed(2)}× one ssh session`);
} finally {
  await harness.stop();
}
