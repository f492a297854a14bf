import type { Request, RequestHandler } from 'express';
import type { Context } from '@opentelemetry/api';
import {
  changedFilesFromGit, decidePush, eventName, listedFiles, matchPushToTargets, parsePushPayload, verifySignature, WebhookError,
} from '../domain/push.ts';
import { listTargets } from '../domain/targets.ts';
import type { AppDeps } from './app.ts';

/** Gitea does not retry, but a person may press "Replay": the same push within this window is not deployed again. */
const REPLAY_WINDOW_MS = 10 * 60 * 1000;

type Queued = { app: string; host: string; runId: number }[];

/**
 * POST /webhook/push (SPEC §5): verify, decide, find the changed files, match targets, queue the runs
 * and answer 202 with them — before any deploy work starts (Gitea waits 5 s, then gives up).
 */
export function createWebhookHandler(deps: AppDeps): RequestHandler {
  const { orm, config, executor, logger } = deps;
  // (repo, ref, after) → the runs it queued; a promise, so a replay that arrives mid-way waits for them.
  const seen = new Map<string, { at: number; queued: Promise<Queued> }>();

  if (!config.webhookSecret && deps.insecureWebhooks) {
    logger.warn('webhooks are accepted WITHOUT a signature check (--insecure-webhooks): for development only');
  }

  return async (req: Request, res) => {
    const telemetry = res.locals.telemetry as Context | undefined;
    if (!config.webhookSecret && !deps.insecureWebhooks) {
      throw new WebhookError(401, 'webhooks are disabled: set DEPLOY_WEBHOOK_SECRET (or start serve with --insecure-webhooks)');
    }
    const body = Buffer.isBuffer(req.body) ? req.body : Buffer.alloc(0);
    if (config.webhookSecret && !verifySignature(body, req.headers, config.webhookSecret)) {
      throw new WebhookError(401, 'missing or bad signature (X-Gitea-Signature, X-Forgejo-Signature or X-Hub-Signature-256)');
    }
    const event = eventName(req.headers);
    if (event && event !== 'push') {
      res.status(200).json({ queued: [], reason: `"${event}" events do not deploy` });
      return;
    }
    const payload = parsePushPayload(body);
    const decision = decidePush(payload);
    if (decision.action === 'ignore') {
      res.status(200).json({ queued: [], reason: decision.reason });
      return;
    }

    const now = Date.now();
    for (const [key, entry] of seen) if (now - entry.at > REPLAY_WINDOW_MS) seen.delete(key);
    const key = JSON.stringify([payload.repository.full_name, payload.ref, payload.after]);
    const earlier = seen.get(key);
    if (earlier) {
      // A replay that arrives while the first delivery fails gets that failure (nothing was queued).
      const queued = await earlier.queued;
      res.status(200).json({ queued, reason: `already received: ${payload.ref} at ${payload.after} (replayed delivery), nothing queued again` });
      return;
    }

    const work = (async (): Promise<{ queued: Queued; reason?: string }> => {
      let files = listedFiles(payload);
      if (decision.truncated) {
        try {
          files = await changedFilesFromGit(config.registryRoot, payload.before, payload.after);
        } catch (error) {
          logger.warn({ err: { message: (error as Error).message } }, 'changed files from git failed: using the files the payload lists');
        }
      }
      const targets = await listTargets(orm.em.fork());
      const match = matchPushToTargets(targets, { files, repositoryName: payload.repository.name, branch: decision.branch });
      // All of a push's runs are queued together, in one write: all of them, or (on an error) none.
      const runs = await executor.requestDeploys(match.targets.map((target) => ({
        request: { app: target.app, host: target.host, trigger: 'webhook' as const, ref: payload.ref, commit: payload.after, telemetry },
        target: targets.find((t) => t.app === target.app && t.host === target.host),
      })));
      return { queued: runs.map(({ runId }, i) => ({ app: match.targets[i].app, host: match.targets[i].host, runId })), reason: match.reason };
    })();
    const queuedForReplays = work.then((w) => w.queued);
    queuedForReplays.catch(() => undefined); // handled here when no replay ever awaits it
    seen.set(key, { at: now, queued: queuedForReplays });
    try {
      const { queued, reason } = await work;
      if (queued.length === 0) res.status(200).json({ queued, reason });
      else res.status(202).json({ queued });
    } catch (error) {
      seen.delete(key); // nothing was queued for it: a retry may try again
      throw error;
    }
  };
}
