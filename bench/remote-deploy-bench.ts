// What bench/deploy-overhead.ts and bench/wan-deploy.ts share: a systemd-remote target over the test
// sshd, the commands its deploy runs (built by the same functions deploy_server uses), and the
// interleaved measurement of (a) a deploy through a real `serve` (API call → the run's result on its
// event stream), (b) the same commands in one plain `ssh` session, (c) one `ssh` per command.
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { gitHead, gitPull } from '../src/transport/remote/git.ts';
import { remoteBuild } from '../src/transport/remote/build.ts';
import { restartService } from '../src/transport/remote/systemd.ts';
import { runCliInProcess } from '../test/helpers/cli.ts';
import { BUILD_SCRIPT, createOrigin, freePort } from '../test/helpers/deploy-fixture.ts';
import type { SshdHarness } from '../test/helpers/sshd.ts';
import { followRun, requestDeployThroughApi, serveCheckout, type ArrivedEvent, type ServedCheckout } from './serve-checkout.ts';

const run = promisify(execFile);
const TOKEN = 'bench-token';
const ROOT = new URL('..', import.meta.url).pathname;

export const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)];

/** The 1, 5 and 15 minute load averages, for printing beside the figures (the machine is shared). */
export const loadAverage = () => os.loadavg().map((load) => load.toFixed(1)).join(' ');

/** Busy CPU of the whole machine so far, in ms (/proc/stat counts USER_HZ, 100 per second): sshd, the remote shells, git and us. */
export function machineCpuMs(): number {
  const [user, nice, system, , , irq, softirq] = readFileSync('/proc/stat', 'utf8').split('\n')[0].split(/\s+/).slice(1).map(Number);
  return (user + nice + system + irq + softirq) * 10;
}

export interface RemoteDeployBench {
  serve: ServedCheckout;
  /** The env `serve` runs with (HOME of the harness, its own database, the API token). */
  env: Record<string, string>;
  /** `setup` of the target, through the CLI (once the alias resolves). */
  setup: () => Promise<void>;
  /**
   * Medians (ms) of `runs` interleaved rounds, after a warm-up round, each deploying a fresh commit
   * (`before`: the same through a serve of another checkout, when given); serve's CPU per deploy (and the other serve's).
   */
  measure: (runs: number, label: string) => Promise<{ deployServer: number; before?: number; oneSession: number; sshPerCommand: number; serveCpuMs: number; beforeCpuMs?: number; stepMedians: string }>;
  /** One more deploy of each of (a) and (b), instrumented: when each step (each command) ended, in ms after the start. */
  timelines: (label: string) => Promise<{ deployServer: string; oneSession: string }>;
  close: () => void;
}

/** `label +ms` of a run's step ends (and the run's start and result), from its event stream. */
function runTimeline(started: number, events: ArrivedEvent[]): string {
  const marks = events.flatMap(({ at, event, data }) => {
    const ms = (at - started).toFixed(0);
    if (event === 'run' && data.status === 'running') return [`running ${ms}`];
    if (event === 'step' && data.status !== 'running' && data.status !== 'skipped') return [`${data.step} ${ms}`];
    if (event === 'result') return [`result ${ms}`];
    return [];
  });
  return marks.join(', ');
}

/** The app `bench` as a systemd-remote target of `alias` (an alias of the harness's ssh config), deployed through a real `serve`. */
export async function setUpRemoteDeployBench(harness: SshdHarness, alias: string, beforeCheckout?: string): Promise<RemoteDeployBench> {
  const port = await freePort();
  const repo = createOrigin(harness, 'bench', { 'build.sh': BUILD_SCRIPT, 'version.txt': 'b0' });
  const dir = path.join(harness.workDir, 'bench');
  const env = { ...process.env, ...harness.env, DEPLOY_DB: path.join(harness.tmpDir, 'bench.db'), DEPLOY_UNIT_DIR: harness.unitDir, DEPLOY_API_TOKEN: TOKEN } as Record<string, string>;
  const add = await runCliInProcess(
    ['target', 'add', '--app', 'bench', '--host', alias, '--strategy', 'systemd-remote', '--remote-dir', dir, '--repo', repo.origin,
      '--build', 'sh build.sh bench', '--port', String(port), '--health', '/health', '--env', JSON.stringify({ PORT: String(port) })],
    env,
  );
  if (add.code !== 0) throw new Error(add.stderr);
  const serve = await serveCheckout(ROOT, env);
  // The "before": another checkout's serve on the same database (runs take turns, never overlap).
  const beforeServe = beforeCheckout === undefined ? undefined : await serveCheckout(beforeCheckout, env);
  const health = `until curl -fsS -o /dev/null http://127.0.0.1:${port}/health; do sleep 0.1; done`;
  const commands = [gitHead(dir), gitPull(dir, 'main'), gitHead(dir), remoteBuild(dir, 'sh build.sh bench'), restartService('bench', true), { command: health }].map((c) => c.command);
  const ssh = (command: string) => run('ssh', [...harness.sshArgs, alias, command]);
  const oneSessionLine = commands.map((c) => `(${c})`).join(' && ');
  const deployThroughServe = async (server = serve) => {
    const [runId] = await requestDeployThroughApi(server.url, TOKEN, 'bench', alias);
    const events = await followRun(server.url, TOKEN, runId);
    const result = events.at(-1)!.data;
    if (result.status !== 'success') throw new Error(`deploy failed: ${String(result.error)}`);
    return events;
  };
  const stepDurations = new Map<string, number[]>();
  const variants: Record<string, () => Promise<void>> = {
    deployServer: async () => {
      for (const { event, data } of await deployThroughServe()) {
        if (event === 'step' && data.status === 'success') stepDurations.set(String(data.step), [...(stepDurations.get(String(data.step)) ?? []), Number(data.duration_ms)]);
      }
    },
    ...(beforeServe ? { before: async () => void (await deployThroughServe(beforeServe)) } : {}),
    oneSession: async () => void (await ssh(oneSessionLine)),
    sshPerCommand: async () => { for (const command of commands) await ssh(command); },
  };
  return {
    serve,
    env,
    setup: async () => {
      const setup = await runCliInProcess(['setup', 'bench', '--host', alias], env);
      if (setup.code !== 0) throw new Error(setup.stderr);
    },
    measure: async (runs, label) => {
      const order = Object.keys(variants);
      const timings: Record<string, number[]> = Object.fromEntries(order.map((name) => [name, []]));
      let serveCpuMs = 0;
      let beforeCpuMs = 0;
      stepDurations.clear();
      for (let i = 0; i < runs + 1; i++) {
        for (const name of i % 2 ? order : [...order].reverse()) {
          repo.commit({ 'version.txt': `b${label}-${i}-${name}` }, `${name} ${i}`);
          const server = name === 'before' ? beforeServe! : serve;
          const cpuBefore = server.cpuMs();
          const started = performance.now();
          await variants[name]();
          if (i === 0) continue; // the first round warms up
          timings[name].push(performance.now() - started);
          if (name === 'deployServer') serveCpuMs += server.cpuMs() - cpuBefore;
          if (name === 'before') beforeCpuMs += server.cpuMs() - cpuBefore;
        }
      }
      const stepMedians = [...stepDurations].map(([step, values]) => `${step} ${median(values)}`).join(', ');
      const before = timings.before ? median(timings.before) : undefined;
      return {
        deployServer: median(timings.deployServer), before, oneSession: median(timings.oneSession), sshPerCommand: median(timings.sshPerCommand),
        serveCpuMs: serveCpuMs / runs, beforeCpuMs: beforeServe ? beforeCpuMs / runs : undefined, stepMedians,
      };
    },
    timelines: async (label) => {
      repo.commit({ 'version.txt': `b${label}-timeline-server` }, 'timeline server');
      let started = performance.now();
      const deployServer = runTimeline(started, await deployThroughServe());
      // The same session, with the host's clock read before the first command and after each one
      // (sshd runs on this machine: the same clock as ours).
      repo.commit({ 'version.txt': `b${label}-timeline-ssh` }, 'timeline ssh');
      const names = ['', 'gitHead', 'gitPull', 'gitHead', 'build', 'restart', 'health'];
      const stamp = 'echo __mark=$(date +%s%N) >&2';
      const startedAt = Date.now();
      started = performance.now();
      const { stderr } = await ssh([stamp, ...commands.flatMap((c) => [`(${c}) >/dev/null`, stamp])].join(' && '));
      const exit = performance.now() - started;
      const marks = [...stderr.matchAll(/__mark=(\d+)/g)].map((m, i) => `${i === 0 ? 'first command starts' : names[i]} ${(Number(m[1]) / 1e6 - startedAt).toFixed(0)}`);
      return { deployServer, oneSession: [...marks, `exit ${exit.toFixed(0)}`].join(', ') };
    },
    close: () => {
      serve.child.kill('SIGTERM');
      beforeServe?.child.kill('SIGTERM');
    },
  };
}
