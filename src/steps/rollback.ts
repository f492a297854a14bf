import { gitHead, gitResetTo } from '../transport/remote/git.ts';
import { switchRelease } from '../transport/remote/releases.ts';
import type { StepContext } from '../engine/pipeline.ts';
import { chooseCommit, chooseRelease, NoReleaseError } from '../domain/releases.ts';
import { runRemote } from './remote.ts';
import { readReleases, type ShippedRelease } from './rsync.ts';

/** Compensation (systemd): the health check failed, so point the binary back at the previous release. */
export async function restorePreviousRelease(context: StepContext<{ rsync: ShippedRelease }>): Promise<void> {
  const { previous } = context.results.rsync;
  if (previous === null) throw new NoReleaseError('no previous release to go back to: this was the first deploy');
  const { remote_dir, binary } = context.deploy.target;
  await runRemote(context, switchRelease(remote_dir, binary, previous));
  await context.record({ release: previous });
  context.output(`back to release ${previous}\n`);
}

/** Compensation (remote strategies): put the checkout back at the commit `gitPull` started from. */
export async function restorePreviousCommit(context: StepContext<{ gitPull: { before: string; after: string } }>): Promise<void> {
  const { before } = context.results.gitPull;
  await runRemote(context, gitResetTo(context.deploy.target.remote_dir, before));
  context.output(`back to ${before}\n`);
}

/** A rollback run (systemd): switch to the release `--to` names, or the last good one before the current. */
export async function switchToEarlierRelease(context: StepContext): Promise<void> {
  const { current, releases } = await readReleases(context);
  const release = chooseRelease(await context.deploy.pastRuns(), releases, current, context.deploy.rollbackTo);
  const { remote_dir, binary } = context.deploy.target;
  await runRemote(context, switchRelease(remote_dir, binary, release));
  await context.record({ release });
  context.output(`release ${current ?? 'none'} → ${release}\n`);
}
switchToEarlierRelease.remoteCommands = 2; // list, switch

/** A rollback run (remote strategies): reset the checkout to the commit of run `--to`, or the last good one. */
export async function resetToEarlierCommit(context: StepContext): Promise<void> {
  const dir = context.deploy.target.remote_dir;
  const head = (await runRemote(context, gitHead(dir))).stdout.trim();
  const commit = chooseCommit(await context.deploy.pastRuns(), head, context.deploy.rollbackTo);
  await runRemote(context, gitResetTo(dir, commit));
  await context.record({ commit_before: head, commit_after: commit });
  context.output(`${head} → ${commit}\n`);
}
resetToEarlierCommit.remoteCommands = 2; // rev-parse, reset

/** The `when` of every compensation path: off for a target added with --no-auto-rollback. */
export function autoRollbackEnabled(deploy: StepContext['deploy']): boolean {
  return deploy.target.auto_rollback;
}
