// What bench/deploy-overhead.ts and bench/wan-deploy.ts share: a systemd-remote target over the test
// sshd, the commands its deploy runs (built by the same functions deploy_server uses), and the
// interleaved measurement of (a) deploy_server, (b) one plain `ssh` session, (c) one `ssh` per command.
import { execFile } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';
import { loadConfig } from '../src/support/config.ts';
import { startRuntime, type Runtime } from '../src/engine/runtime.ts';
import { saveTarget } from '../src/domain/targets.ts';
import { gitHead, gitPull } from '../src/transport/remote/git.ts';
import { remoteBuild } from '../src/transport/remote/build.ts';
import { restartService } from '../src/transport/remote/systemd.ts';
import { BUILD_SCRIPT, createOrigin, freePort } from '../test/helpers/deploy-fixture.ts';
import type { SshdHarness } from '../test/helpers/sshd.ts';

const run = promisify(execFile);

export const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)];

export interface RemoteDeployBench {
  runtime: Runtime;
  env: Record<string, string>;
  /** `setup` of the target, through the CLI (once the alias resolves). */
  setup: () => Promise<void>;
  /** Medians (ms) of `runs` interleaved rounds, after a warm-up round, each deploying a fresh commit. */
  measure: (runs: number, label: string) => Promise<{ deployServer: number; oneSession: number; sshPerCommand: number }>;
}

/** The app `bench` as a systemd-remote target of `alias` (an alias of the harness's ssh config). */
export async function setUpRemoteDeployBench(harness: SshdHarness, alias: string): Promise<RemoteDeployBench> {
  const port = await freePort();
  const repo = createOrigin(harness, 'bench', { 'build.sh': BUILD_SCRIPT, 'version.txt': 'b0' });
  const dir = path.join(harness.workDir, 'bench');
  const env = { HOME: harness.home, DEPLOY_DB: path.join(harness.tmpDir, 'bench.db'), DEPLOY_UNIT_DIR: harness.unitDir };
  const runtime = await startRuntime(loadConfig(env));
  await saveTarget(runtime.orm.em.fork(), {
    app: 'bench', host: alias, strategy: 'systemd-remote', remote_dir: dir, repo: repo.origin,
    build_cmd: 'sh build.sh bench', port, health: '/health', env: { PORT: String(port) },
  });
  const health = `until curl -fsS -o /dev/null http://127.0.0.1:${port}/health; do sleep 0.1; done`;
  const commands = [gitHead(dir), gitPull(dir, 'main'), gitHead(dir), remoteBuild(dir, 'sh build.sh bench'), restartService('bench', true), { command: health }].map((c) => c.command);
  const ssh = (command: string) => run('ssh', [...harness.sshArgs, alias, command]);
  const variants = {
    deployServer: async () => {
      const { done } = await runtime.executor.requestDeploy({ app: 'bench', host: alias, trigger: 'manual' });
      const result = await done;
      if (result.status !== 'success') throw new Error(`deploy failed: ${result.error}`);
    },
    oneSession: async () => void (await ssh(commands.map((c) => `(${c})`).join(' && '))),
    sshPerCommand: async () => { for (const command of commands) await ssh(command); },
  };
  return {
    runtime,
    env,
    setup: async () => {
      const { runCliInProcess } = await import('../test/helpers/cli.ts');
      const setup = await runCliInProcess(['setup', 'bench', '--host', alias], env);
      if (setup.code !== 0) throw new Error(setup.stderr);
    },
    measure: async (runs, label) => {
      const timings: Record<keyof typeof variants, number[]> = { deployServer: [], oneSession: [], sshPerCommand: [] };
      const order = Object.keys(variants) as (keyof typeof variants)[];
      for (let i = 0; i < runs + 1; i++) {
        for (const name of i % 2 ? order : [...order].reverse()) {
          repo.commit({ 'version.txt': `b${label}-${i}-${name}` }, `${name} ${i}`);
          const started = performance.now();
          await variants[name]();
          if (i > 0) timings[name].push(performance.now() - started); // the first round warms up
        }
      }
      return { deployServer: median(timings.deployServer), oneSession: median(timings.oneSession), sshPerCommand: median(timings.sshPerCommand) };
    },
  };
}

/** BENCH_STEPS=1: the median of each step of the last `limit` steps that succeeded — where the time goes. */
export async function stepMedians(runtime: Runtime, limit: number): Promise<string> {
  const { StepRun } = await import('../src/db/entities/StepRun.ts');
  const steps = await runtime.orm.em.fork().find(StepRun, { status: 'success' }, { orderBy: { id: 'desc' }, limit });
  const byStep = new Map<string, number[]>();
  for (const row of steps) byStep.set(row.step, [...(byStep.get(row.step) ?? []), row.duration_ms ?? 0]);
  return [...byStep].map(([step, values]) => `${step} ${median(values)} ms`).join(', ');
}
