// One run per target across processes too: `serve` and a CLI deploy share operations.db.
import { setTimeout as sleep } from 'node:timers/promises';
import type { RunStore } from './run-store.ts';

const CLAIM_POLL_MS = 500;

/**
 * Takes the target for the run, atomically (RunStore.tryClaim: no other run of it `running` with a
 * live lease), waiting while another process holds it. A run of an earlier version (no lease) holds
 * the target while its process lives. Resolves false when cancelled while waiting.
 */
export async function claimTarget(store: RunStore, run: { runId: number; app: string; host: string }, signal: AbortSignal): Promise<boolean> {
  for (;;) {
    if (signal.aborted) return false;
    const legacyOwners = await store.leaselessRunningOwners(run.app, run.host, run.runId);
    if (!legacyOwners.some(isProcessAlive) && (await store.tryClaim(run.runId, run.app, run.host))) return true;
    await sleep(CLAIM_POLL_MS, undefined, { signal }).catch(() => undefined);
  }
}

/**
 * Marks runs whose process is gone (a crash, a SIGKILL) as `interrupted`, with their unfinished steps.
 * Runs owned by a live process — another `serve`, a CLI deploy — are left alone.
 */
export function recoverInterruptedRuns(store: RunStore): Promise<number[]> {
  return store.interruptOrphans(isProcessAlive);
}

/**
 * Whether the process that owned a run is still there. Our own pid counts as gone: at start-up, a run
 * with it belongs to an earlier process that had the same pid (PID 1 in a container); claimTarget
 * asks only about other processes.
 */
export function isProcessAlive(pid: number | null): boolean {
  if (pid === null || pid === process.pid) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}
