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

/** Gitea does not retry, but a person may press "Replay": the same push within this window is not deployed again. */
const REPLAY_WINDOW_MS = 10 * 60 * 1000;

export type QueuedTargets = { app: string; host: string; run_id: number }[];

/** What became of a push: runs queued, nothing to do (and why), or a replay of one already received. */
export type PushReceipt =
  | { outcome: 'queued'; queued: QueuedTargets }
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

  const queueRuns = async (payload: ReturnType<typeof parsePushPayload>, branch: string, truncated: boolean, telemetry?: Context) => {
    let files = listedFiles(payload);
    if (truncated) {
      try {
        files = await changedFilesFromGit(config.registryRoot, payload.before, payload.after);
      } catch (error) {
        logger.warn({ err: { message: (error as Error).message } }, 'changed files from git failed: using the files the payload lists');
      }
    }
    const targets = (await listTargets(orm.em.fork())).map(toTargetFields);
    const match = matchPushToTargets(targets, { files, repositoryName: payload.repository.name, branch });
    // All of a push's runs are queued together, in one write: all of them, or (on an error) none.
    const runs = await executor.requestDeploys(match.targets.map((target) => ({
      request: { app: target.app, host: target.host, trigger: 'webhook' as const, ref: payload.ref, commit: payload.after, telemetry },
      target: targets.find((t) => t.app === target.app && t.host === target.host),
    })));
    return { queued: runs.map(({ runId }, i) => ({ app: match.targets[i].app, host: match.targets[i].host, run_id: runId })), reason: match.reason };
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
      const work = queueRuns(payload, decision.branch, decision.truncated, telemetry);
      const queuedForReplays = work.then((w) => w.queued);
      queuedForReplays.catch(() => undefined); // handled below when no replay ever awaits it
      seen.set(key, { at: now, queued: queuedForReplays });
      try {
        const { queued, reason } = await work;
        return queued.length === 0 ? { outcome: 'ignored', queued: [], reason: reason ?? 'no target matched' } : { outcome: 'queued', queued };
      } catch (error) {
        seen.delete(key); // nothing was queued for it: a retry may try again
        throw error;
      }
    },
  };
}
