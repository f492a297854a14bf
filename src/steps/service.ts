import { setTimeout as sleep } from 'node:timers/promises';
import { composePull as composePullCommand, composeServiceStates, composeUp as composeUpCommand } from '../transport/remote/compose.ts';
import { allOf } from '../transport/remote/shell-command.ts';
import { gitHead, gitPull as gitPullCommand } from '../transport/remote/git.ts';
import { isServiceActive, restartService as restartCommand } from '../transport/remote/systemd.ts';
import type { StepContext } from '../engine/pipeline.ts';
import { needsSudo, runRemote } from './remote.ts';

export async function restartService(context: StepContext): Promise<void> {
  await runRemote(context, restartCommand(context.deploy.target.app, await needsSudo(context)));
}
restartService.remoteCommands = 1;

/**
 * `git pull origin <branch>` in the host's checkout, between two `rev-parse HEAD`s, in one remote
 * session; the result says which commit it moved from and to.
 */
export async function gitPull(context: StepContext): Promise<{ before: string; after: string }> {
  const { remote_dir, branch } = context.deploy.target;
  const { stdout } = await runRemote(context, allOf(gitHead(remote_dir), gitPullCommand(remote_dir, branch), gitHead(remote_dir)));
  const lines = stdout.trim().split('\n');
  const [before, after] = [lines[0].trim(), lines[lines.length - 1].trim()];
  context.output(before === after ? `already at ${after}\n` : `${before} → ${after}\n`);
  await context.record({ commit_before: before, commit_after: after });
  return { before, after };
}
gitPull.remoteCommands = 1; // the three git commands in one session

export async function composePull(context: StepContext): Promise<void> {
  await runRemote(context, composePullCommand(context.deploy.target));
}
composePull.remoteCommands = 1;

export async function composeUp(context: StepContext): Promise<void> {
  await runRemote(context, composeUpCommand(context.deploy.target));
}
composeUp.remoteCommands = 1;

/** Without an HTTP health check, a deploy is healthy when its service runs. */
export async function checkServiceRunning(context: StepContext): Promise<void> {
  const { target } = context.deploy;
  if (target.strategy === 'docker-compose') await checkComposeRunning(context);
  else await runRemote(context, isServiceActive(target.app, await needsSudo(context)));
}

export interface ComposeContainer {
  Service?: string;
  Name?: string;
  State?: string;
  Health?: string;
  Status?: string;
}

/** `docker compose ps --format json`: one object per line (Compose 2.21+) or one array (before). */
export function parseComposePs(stdout: string): ComposeContainer[] {
  const text = stdout.trim();
  if (text === '') return [];
  if (text.startsWith('[')) return JSON.parse(text) as ComposeContainer[];
  return text.split('\n').filter((line) => line.trim().startsWith('{')).map((line) => JSON.parse(line) as ComposeContainer);
}

/** Why the containers are not healthy ("web exited (Exited (1))", "db unhealthy"), or null when every one runs and none is (yet) unhealthy. */
export function composeProblems(containers: ComposeContainer[]): string | null {
  if (containers.length === 0) return 'no container';
  const problems = containers.flatMap((c) => {
    const name = c.Service || c.Name || '?';
    if (c.State !== 'running') return [`${name} ${c.State || 'in no state'}${c.Status ? ` (${c.Status})` : ''}`];
    if (c.Health === 'unhealthy' || c.Health === 'starting') return [`${name} ${c.Health}`];
    return [];
  });
  return problems.length ? problems.join(', ') : null;
}

/**
 * docker-compose without an HTTP check: every container of the project running, none unhealthy (a
 * `docker compose ps` exit code says nothing about that), retried while a health check starts, until
 * DEPLOY_HEALTH_TIMEOUT.
 */
async function checkComposeRunning(context: StepContext): Promise<void> {
  const { target, config } = context.deploy;
  const deadline = Date.now() + config.healthTimeoutMs;
  for (;;) {
    const problems = composeProblems(parseComposePs((await runRemote(context, composeServiceStates(target))).stdout));
    if (problems === null) return;
    context.output(`not healthy yet: ${problems}\n`);
    if (Date.now() + 500 > deadline) {
      throw new Error(`docker compose services on ${target.host} not healthy after ${config.healthTimeoutMs / 1000} s: ${problems}`);
    }
    await sleep(500, undefined, { signal: context.signal });
  }
}
