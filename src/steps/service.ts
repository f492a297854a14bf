import { composePull as composePullCommand, composeStatus, composeUp as composeUpCommand } from '../transport/remote/compose.ts';
import { allOf } from '../transport/remote/shell-command.ts';
import { gitHead, gitPull as gitPullCommand } from '../transport/remote/git.ts';
import { isServiceActive, restartService as restartCommand } from '../transport/remote/systemd.ts';
import type { StepContext } from '../engine/pipeline.ts';
import { needsSudo, runRemote } from './remote.ts';

export async function restartService(context: StepContext): Promise<void> {
  await runRemote(context, restartCommand(context.deploy.target.app, await needsSudo(context)));
}

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

export async function composePull(context: StepContext): Promise<void> {
  await runRemote(context, composePullCommand(context.deploy.target));
}

export async function composeUp(context: StepContext): Promise<void> {
  await runRemote(context, composeUpCommand(context.deploy.target));
}

/** Without an HTTP health check, a deploy is healthy when its service runs. */
export async function checkServiceRunning(context: StepContext): Promise<void> {
  const { target } = context.deploy;
  if (target.strategy === 'docker-compose') await runRemote(context, composeStatus(target));
  else await runRemote(context, isServiceActive(target.app, await needsSudo(context)));
}
