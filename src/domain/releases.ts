import type { PastRun } from '../engine/pipeline.ts';

export class NoReleaseError extends Error {
  override name = 'NoReleaseError';
}

/** A deploy that succeeded shipped a good release; one that failed (rolled back or not) a bad one. */
function deploys(pastRuns: PastRun[]): PastRun[] {
  return pastRuns.filter((run) => run.trigger !== 'rollback');
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
  const good = new Set(deploys(pastRuns).filter((run) => run.status === 'success').map((run) => run.id));
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
  const bad = new Set(deploys(pastRuns).filter((r) => r.status !== 'success' && r.commit_after).map((r) => r.commit_after));
  const good = [...new Set(deploys(pastRuns).filter((r) => r.status === 'success' && r.commit_after).map((r) => r.commit_after!))];
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
