import type { PastRun } from '../engine/pipeline.ts';
import type { RunView } from '../engine/run-store.ts';
import type { RemoteHost } from '../transport/remote-host.ts';
import { gitHead } from '../transport/remote/git.ts';
import { listReleases, parseReleaseList } from '../transport/remote/releases.ts';
import type { TargetFields } from './target-schema.ts';

export class NoReleaseError extends Error {
  override name = 'NoReleaseError';
}

type RunFacts = Pick<PastRun, 'trigger' | 'status'>;

/** Deploy runs, not rollbacks: the runs that shipped releases (or moved a checkout forward). */
function deploys<R extends RunFacts>(pastRuns: R[]): R[] {
  return pastRuns.filter((run) => run.trigger !== 'rollback');
}

/** A deploy that succeeded shipped a good release; one that failed (rolled back or not) a bad one. */
export function isGoodDeploy(run: RunFacts): boolean {
  return run.trigger !== 'rollback' && run.status === 'success';
}

/**
 * The release (systemd) a rollback goes to: `--to` if given (it must still be on the host), else the
 * newest release older than the current one whose deploy succeeded. A release whose deploy failed is
 * never chosen by a plain rollback.
 */
export function chooseRelease(pastRuns: PastRun[], onHost: number[], current: number | null, to: number | null): number {
  const kept = onHost.length ? onHost.join(', ') : 'none';
  if (to !== null) {
    // `--to` names a run: the release it shipped, or (a rollback run) the one it went back to.
    const release = pastRuns.find((run) => run.id === to)?.release ?? to;
    if (!onHost.includes(release)) throw new NoReleaseError(`release #${release} is not on the host (kept: ${kept})`);
    return release;
  }
  const good = new Set(pastRuns.filter(isGoodDeploy).map((run) => run.id));
  const candidate = [...onHost].sort((a, b) => b - a).find((release) => good.has(release) && (current === null || release < current));
  if (candidate === undefined) throw new NoReleaseError(`no earlier good release to go back to (current: ${current ?? 'none'}, kept: ${kept})`);
  return candidate;
}

/**
 * The commit (remote strategies) a rollback goes to: that of run `--to`, else the newest commit a
 * successful deploy left before the current one. Commits of failed deploys are never chosen.
 */
export function chooseCommit(pastRuns: PastRun[], currentHead: string, to: number | null): string {
  if (to !== null) {
    const run = pastRuns.find((r) => r.id === to);
    if (!run?.commit_after) throw new NoReleaseError(`run #${to} recorded no commit to go back to`);
    return run.commit_after;
  }
  const bad = new Set(deploys(pastRuns).filter((r) => !isGoodDeploy(r) && r.commit_after).map((r) => r.commit_after));
  const good = [...new Set(pastRuns.filter((r) => isGoodDeploy(r) && r.commit_after).map((r) => r.commit_after!))];
  const start = good.indexOf(currentHead);
  const candidate = good.slice(start + 1).find((commit) => commit !== currentHead && !bad.has(commit));
  if (!candidate) throw new NoReleaseError(`no earlier good commit to go back to (current: ${currentHead.slice(0, 12)})`);
  return candidate;
}

/**
 * The releases to delete so that the newest `keep` remain. The ones in `protect` (the release just
 * shipped, and the one before it, which a failed health check goes back to) are never deleted.
 */
export function releasesToPrune(onHost: number[], keep: number, protect: (number | null)[]): number[] {
  const newestFirst = [...onHost].sort((a, b) => b - a);
  return newestFirst.slice(Math.max(keep, 1)).filter((release) => !protect.includes(release));
}

/** One release a host keeps (systemd) or one commit deploys left (remote strategies), for `releases`. */
export interface ReleaseRow {
  /** The release id (systemd), or the commit's first 12 characters. */
  release: string;
  run: number | null;
  deployed_at: string | null;
  status: string;
  current: boolean;
  /** Its deploy failed: a plain rollback never goes to it. */
  bad: boolean;
}

/**
 * What a host keeps, newest first, with the run that shipped each and whether it is current or bad.
 * `runs` are the target's runs, newest first.
 */
export async function readHostReleases(target: TargetFields, host: RemoteHost, runs: RunView[]): Promise<ReleaseRow[]> {
  if (target.strategy === 'systemd') {
    const { current, releases: kept } = parseReleaseList((await host.exec(listReleases(target.remote_dir, target.binary))).stdout);
    return [...kept].reverse().map((id) => {
      const run = runs.find((r) => r.id === id);
      return { release: String(id), run: id, deployed_at: run?.finished_at ?? null, status: run?.status ?? 'unknown', current: id === current, bad: run !== undefined && !isGoodDeploy(run) };
    });
  }
  const head = (await host.exec(gitHead(target.remote_dir))).stdout.trim();
  const seen = new Set<string>();
  return deploys(runs)
    .filter((r) => r.commit_after && !seen.has(r.commit_after) && seen.add(r.commit_after))
    .map((r) => ({
      release: r.commit_after!.slice(0, 12), run: r.id, deployed_at: r.finished_at, status: r.status,
      current: r.commit_after === head, bad: !isGoodDeploy(r),
    }));
}
