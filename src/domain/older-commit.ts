// A late or replayed delivery must never ship older code: a webhook deploy of a commit that is an
// ancestor of the one the target already runs is not deployed.
import { gitIsAncestor } from '../transport/local/git.ts';
import { createCommitChecker, type CommitChecker } from '../transport/local/commit-checker.ts';
import { runLocal } from '../transport/local-process.ts';
import { isCommitId } from './commit-id.ts';

/** git answers from local objects only (no fetch): milliseconds; a slow disk must not hold the webhook. */
const ANCESTRY_TIMEOUT_MS = 2_000;

/** A pushed commit and the commit a target runs. */
export interface CommitPair {
  pushed: string;
  deployed: string;
}

/** git's answer, or null when it could not run in time. */
const git = (registryRoot: string, argv: string[]) => runLocal(argv, { cwd: registryRoot, signal: AbortSignal.timeout(ANCESTRY_TIMEOUT_MS) }).catch(() => null);

/** The registry root's commit checker, with the time git gets to answer. */
export function registryCommitChecker(registryRoot: string): CommitChecker {
  return createCommitChecker(registryRoot, ANCESTRY_TIMEOUT_MS);
}

/**
 * The pairs whose `pushed` is strictly older than `deployed`: an ancestor of it in the registry root's
 * git and not the same commit. Only pushed commits git has (`local`, lowercase, from the checker) can
 * be: a pair git cannot tell about is not older, and that push deploys as it always has. The ancestry
 * checks run all at once.
 */
export async function olderThanDeployed(registryRoot: string, pairs: readonly CommitPair[], local: ReadonlySet<string>): Promise<Set<CommitPair>> {
  const checks = pairs.filter(({ pushed, deployed }) => local.has(pushed.toLowerCase()) && isCommitId(deployed) && pushed.toLowerCase() !== deployed.toLowerCase());
  const older = await Promise.all(checks.map(async (pair) => ((await git(registryRoot, gitIsAncestor(pair.pushed, pair.deployed)))?.code === 0 ? [pair] : [])));
  return new Set(older.flat());
}

export function olderCommitReason(pushed: string, deployed: string, target: { app: string; host: string }): string {
  return `skipped: ${pushed.slice(0, 12)} is older than ${deployed.slice(0, 12)}, which ${target.app}@${target.host} already runs (a late or replayed delivery never ships older code)`;
}
