// A late or replayed delivery must never ship older code: a webhook deploy of a commit that is an
// ancestor of the one the target already runs is not deployed.
import { gitIsAncestor } from '../transport/local/git.ts';
import { runLocal } from '../transport/local-process.ts';
import { isCommitId } from './commit-id.ts';

/** git answers from local objects only (no fetch): milliseconds; a slow disk must not hold the webhook. */
const ANCESTRY_TIMEOUT_MS = 2_000;

/**
 * Whether `pushed` is strictly older than `deployed`: an ancestor of it in the registry root's git and
 * not the same commit. False whenever git cannot tell (a commit not fetched yet, no repository): then
 * the push deploys as it always has.
 */
export async function isOlderThanDeployed(registryRoot: string, pushed: string, deployed: string | null): Promise<boolean> {
  if (!deployed || !isCommitId(pushed) || !isCommitId(deployed) || pushed.toLowerCase() === deployed.toLowerCase()) return false;
  try {
    const result = await runLocal(gitIsAncestor(pushed, deployed), { cwd: registryRoot, signal: AbortSignal.timeout(ANCESTRY_TIMEOUT_MS) });
    return result.code === 0;
  } catch {
    return false;
  }
}

export function olderCommitReason(pushed: string, deployed: string, target: { app: string; host: string }): string {
  return `skipped: ${pushed.slice(0, 12)} is older than ${deployed.slice(0, 12)}, which ${target.app}@${target.host} already runs (a late or replayed delivery never ships older code)`;
}
