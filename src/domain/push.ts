// Receiving a push (SPEC §5), once its signature has been checked: decide, find the changed files,
// match targets, de-duplicate replays and queue the runs — before any deploy work starts.
import type { MikroORM } from '@mikro-orm/sqlite';
import type { Context } from '@opentelemetry/api';
import type { Logger } from 'pino';
import type { Executor } from '../engine/executor.ts';
import type { Config } from '../support/config.ts';
import { changedFilesFromGit } from './changed-files.ts';
import { matchPushToTargets } from './push-matching.ts';
import { decidePush, listedFiles, parsePushPayload } from './push-payload.ts';
import { listTargets, toTargetFields } from './targets.ts';
import { listLocks } from './locks.ts';
import { headCommitMessage, whyNotDeploy } from './skip-markers.ts';

/** Gitea does not retry, but a person may press "Replay": the same push within this window is not deployed again. */
const REPLAY_WINDOW_MS = 10 * 60 * 1000;

export type QueuedTargets = { app: string; host: string; run_id: number }[];
/** Targets the push selected but did not deploy (a lock, a skip marker): each has a `skipped` run. */
export type SkippedTargets = { app: string; host: string; run_id: number; reason: string }[];

/**
 * What became of a push: runs queued (and perhaps some skipped), every selected target skipped (and
 * why), nothing to do (and why), or a replay of one already received.
 */
export type PushReceipt =
  | { outcome: 'queued'; queued: QueuedTargets; skipped?: SkippedTargets }
  | { outcome: 'skipped'; queued: []; skipped: SkippedTargets; reason: string }
  | { outcome: 'ignored'; queued: []; reason: string }
  | { outcome: 'replayed'; queued: QueuedTargets; reason: string };

export interface PushReceiverDeps {
  orm: MikroORM;
  config: Config;
  executor: Executor;
  logger: Logger;
}

/**
 * Receives push bodies whose signature the caller has checked. Throws InvalidPushError for a body that
 * is not a push we can read; other errors (the database) mean nothing was queued.
 */
export function createPushReceiver(deps: PushReceiverDeps): { receive(body: Buffer, telemetry?: Context): Promise<PushReceipt> } {
  const { orm, config, executor, logger } = deps;
  // (repo, ref, after) → the runs it queued; a promise, so a replay that arrives mid-way waits for them.
  const seen = new Map<string, { at: number; queued: Promise<QueuedTargets> }>();

  const queueRuns = async (payload: ReturnType<typeof parsePushPayload>, headMessage: string, branch: string, truncated: boolean, telemetry?: Context) => {
    let files = listedFiles(payload);
    if (truncated) {
      try {
        files = await changedFilesFromGit(config.registryRoot, payload.before, payload.after);
      } catch (error) {
        logger.warn({ err: { message: (error as Error).message } }, 'changed files from git failed: using the files the payload lists');
      }
    }
    const targets = (await listTargets(orm.em.fork())).map(toTargetFields);
    const match = matchPushToTargets(targets, { files, repositoryName: payload.repository.name, repositoryFullName: payload.repository.full_name, branch });
    // A lock or a skip marker turns a selected target's run into a `skipped` one: recorded, not run.
    const locks = match.targets.length ? await listLocks(orm.em.fork()) : [];
    const planned = match.targets.map((m) => {
      const target = targets.find((t) => t.app === m.app && t.host === m.host)!;
      const request = { app: target.app, host: target.host, trigger: 'webhook' as const, ref: payload.ref, commit: payload.after, repository: payload.repository.full_name, telemetry };
      return { request, target, reason: whyNotDeploy(target, { headMessage, locks }) };
    });
    const toRun = planned.filter((p) => p.reason === undefined);
    const toSkip = planned.flatMap((p) => (p.reason === undefined ? [] : [{ ...p, reason: p.reason }]));
    // All of a push's runs are queued together, in one write: all of them, or (on an error) none.
    const runs = await executor.requestDeploys(toRun);
    const skippedIds = await executor.recordSkipped(toSkip);
    return {
      queued: runs.map(({ runId }, i) => ({ app: toRun[i].target.app, host: toRun[i].target.host, run_id: runId })),
      skipped: skippedIds.map((runId, i) => ({ app: toSkip[i].target.app, host: toSkip[i].target.host, run_id: runId, reason: toSkip[i].reason })),
      reason: match.reason,
    };
  };

  return {
    async receive(body, telemetry) {
      const payload = parsePushPayload(body);
      const decision = decidePush(payload);
      if (decision.action === 'ignore') return { outcome: 'ignored', queued: [], reason: decision.reason };

      const now = Date.now();
      for (const [key, entry] of seen) if (now - entry.at > REPLAY_WINDOW_MS) seen.delete(key);
      const key = JSON.stringify([payload.repository.full_name, payload.ref, payload.after]);
      const earlier = seen.get(key);
      if (earlier) {
        // A replay that arrives while the first delivery fails gets that failure (nothing was queued).
        const queued = await earlier.queued;
        return { outcome: 'replayed', queued, reason: `already received: ${payload.ref} at ${payload.after} (replayed delivery), nothing queued again` };
      }
      const work = queueRuns(payload, headCommitMessage(body, payload.after), decision.branch, decision.truncated, telemetry);
      const queuedForReplays = work.then((w) => w.queued);
      queuedForReplays.catch(() => undefined); // handled below when no replay ever awaits it
      seen.set(key, { at: now, queued: queuedForReplays });
      try {
        const { queued, skipped, reason } = await work;
        if (queued.length > 0) return skipped.length > 0 ? { outcome: 'queued', queued, skipped } : { outcome: 'queued', queued };
        if (skipped.length > 0) return { outcome: 'skipped', queued: [], skipped, reason: [...new Set(skipped.map((s) => s.reason))].join('; ') };
        return { outcome: 'ignored', queued: [], reason: reason ?? 'no target matched' };
      } catch (error) {
        seen.delete(key); // nothing was queued for it: a retry may try again
        throw error;
      }
    },
  };
}
