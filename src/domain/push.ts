// Receiving a push (SPEC §5), once its signature has been checked: decide, find the changed files,
// match targets, de-duplicate replays and queue the runs — before any deploy work starts.
//
// Gitea waits 5 s for an answer and marks a slower delivery failed, so nothing that waits on the network
// happens before the answer: a push whose listed files are complete is matched and queued at once; one
// whose files must come from git (a cut list, a new branch, an older sender) is recorded as a
// `resolving` delivery and answered, then resolved in the background (fetch with its own short timeout,
// then diff) — and, if the process stops first, at the next start.
import type { MikroORM } from '../db/orm.ts';
import { dateOfRaw, jsonOfRaw, plainSql, type PlainSql } from '../db/plain-sql.ts';
import type { Context } from '@opentelemetry/api';
import type { Logger } from 'pino';
import { WebhookDelivery } from '../db/entities/WebhookDelivery.ts';
import { ExecutorClosedError, type Executor } from '../engine/executor.ts';
import type { RunStore } from '../engine/run-store.ts';
import type { Config } from '../support/config.ts';
import { changedFilesFromGit } from './changed-files.ts';
import { matchPushToTargets } from './push-matching.ts';
import { decidePush, listedFiles, readPushBody, type PushPayload } from './push-payload.ts';
import { readTargets, toTargetFields } from './targets.ts';
import { readActiveLocks } from './locks.ts';
import { olderCommitReason, olderThanDeployed, registryCommitChecker } from './older-commit.ts';
import { headCommitMessage, whyNotDeploy } from './skip-markers.ts';
import { createPushLock } from './push-lock.ts';
import { createGroupCommit } from '../support/group-commit.ts';

/** Gitea does not retry, but a person may press "Replay": the same push within this window is not deployed again. */
const REPLAY_WINDOW_MS = 10 * 60 * 1000;
/** The whole of resolving a push's files from git (fetch included); the fetch alone gets config.gitFetchTimeoutMs. */
const RESOLVE_TIMEOUT_MS = 60_000;

export type QueuedTargets = { app: string; host: string; run_id: number }[];
/** Targets the push selected but did not deploy (a lock, a skip marker): each has a `skipped` run. */
export type SkippedTargets = { app: string; host: string; run_id: number; reason: string }[];

/**
 * What became of a push: runs queued (and perhaps some skipped), every selected target skipped (and
 * why), being resolved, nothing to do (and why), or a replay of one already received.
 */
export type PushReceipt =
  | { outcome: 'queued'; queued: QueuedTargets; skipped?: SkippedTargets }
  | { outcome: 'skipped'; queued: []; skipped: SkippedTargets; reason: string }
  | { outcome: 'resolving'; queued: []; delivery: number }
  | { outcome: 'ignored'; queued: []; reason: string }
  | { outcome: 'replayed'; queued: QueuedTargets; reason: string };

export interface PushReceiverDeps {
  orm: MikroORM;
  store: RunStore;
  config: Config;
  executor: Executor;
  logger: Logger;
}

export interface PushReceiver {
  /** Throws InvalidPushError for a body that is not a push we can read; other errors (the database) mean nothing was recorded. */
  receive(body: Buffer, options?: { deliveryId?: string; telemetry?: Context }): Promise<PushReceipt>;
  /** Resolves the deliveries a stopped process left `resolving`. */
  resumePending(): Promise<void>;
  /** Resolves once every background resolution started so far has ended (tests, shutdown). */
  settled(): Promise<void>;
}

/** What a `resolving` delivery keeps to be resolved later, by this process or the next. */
interface PendingPush {
  payload: PushPayload;
  branch: string;
  /** The head commit's message (skip markers), read from the raw body. */
  headMessage: string;
}

/** A delivery waiting for its batch. */
interface Delivery {
  /** (repository, ref, after) as one string: the replay memory's key and the push lock's. */
  key: string;
  pending: PendingPush;
  deliveryId?: string;
  telemetry?: Context;
  /**
   * Whether git has the pushed commit (see older-commit.ts), asked on arrival: the answer is in by its
   * batch. None when its file list is cut (or missing): git must say what it changed, after the
   * answer, and is asked about the commit then.
   */
  local?: Promise<boolean>;
}

const pushKey = (payload: PushPayload) => ({ repository: payload.repository.full_name, ref: payload.ref, after: payload.after });

/** `(?, ?, …)` for a list of values. */
const placeholders = (values: readonly unknown[]) => `(${values.map(() => '?').join(', ')})`;

/** What the replay check reads of an earlier delivery. */
interface EarlierDelivery {
  delivery_id: string | null;
  repository: string;
  ref: string;
  after: string;
  status: string;
  run_ids: QueuedTargets;
  received_at: Date;
}

/**
 * The deliveries that make any of these a replay: the same delivery ids, or the same pushes received
 * since `since`; newest first. Plain SQL (one statement per batch; the exact match is the caller's):
 * each key column among its values, which the index on (repository, ref, after) takes.
 */
async function earlierDeliveries(sql: PlainSql, ids: string[], keys: ReturnType<typeof pushKey>[], since: Date): Promise<EarlierDelivery[]> {
  const column = (pick: (key: ReturnType<typeof pushKey>) => string) => [...new Set(keys.map(pick))];
  const [repositories, refs, afters] = [column((k) => k.repository), column((k) => k.ref), column((k) => k.after)];
  const rows = await sql.all<Omit<EarlierDelivery, 'run_ids' | 'received_at'> & { run_ids: unknown; received_at: unknown }>(
    `select delivery_id, repository, ref, "after", status, run_ids, received_at from webhook_delivery
     where ${ids.length ? `delivery_id in ${placeholders(ids)} or ` : ''}(repository in ${placeholders(repositories)} and ref in ${placeholders(refs)} and "after" in ${placeholders(afters)} and received_at > ?)
     order by id desc`,
    [...ids, ...repositories, ...refs, ...afters, since],
  );
  return rows.map((row) => ({ ...row, run_ids: jsonOfRaw<QueuedTargets>(row.run_ids) ?? [], received_at: dateOfRaw(row.received_at) }));
}

/** Records deliveries whose runs are queued (or that queued none), in one statement. */
async function insertDeliveries(sql: PlainSql, rows: { repository: string; ref: string; after: string; delivery_id: string | null; status: string; run_ids: QueuedTargets; reason: string | null; received_at: Date }[]): Promise<void> {
  await sql.run(
    `insert into webhook_delivery (repository, ref, "after", delivery_id, status, run_ids, reason, received_at) values ${rows.map(() => '(?, ?, ?, ?, ?, ?, ?, ?)').join(', ')}`,
    rows.flatMap((row) => [row.repository, row.ref, row.after, row.delivery_id, row.status, JSON.stringify(row.run_ids), row.reason, row.received_at]),
  );
}

function replayReason(push: { ref: string; after: string }, stillResolving: boolean): string {
  const still = stillResolving ? ' (its changed files are still being resolved)' : '';
  return `already received: ${push.ref} at ${push.after} (replayed delivery)${still}, nothing queued again`;
}

/** What a delivery row records of a receipt: its status, the runs it queued, or why none. */
function deliveryFields(receipt: PushReceipt): { status: WebhookDelivery['status']; run_ids: QueuedTargets; reason: string | null } {
  if (receipt.outcome === 'queued') return { status: 'queued', run_ids: receipt.queued, reason: null };
  return { status: 'ignored', run_ids: [], reason: 'reason' in receipt ? receipt.reason : null };
}

export function createPushReceiver(deps: PushReceiverDeps): PushReceiver {
  const { orm, store, config, executor, logger } = deps;
  // (repo, ref, after) → the receipt, for a replay that arrives while the first is still being recorded.
  const seen = new Map<string, { at: number; receipt: Promise<PushReceipt> }>();
  const background = new Set<Promise<void>>();
  // Several servers on PostgreSQL: one of them at a time handles a given push (see push-lock.ts).
  const lockPushes = createPushLock(config.dbPath);
  const commits = registryCommitChecker(config.registryRoot);
  // git's answers for deliveries, asked as they arrive (those arriving while a question is out go in
  // the next one): a batch finds them in instead of waiting for a round trip to git of its own, which
  // on a busy event loop took most of a batch's time (a batch writes while the next one's answers come).
  const hasCommit = createGroupCommit((ids: string[]) => commits.has(ids).then((local) => ids.map((id) => local.has(id.toLowerCase()))));
  const sql = plainSql(orm);

  /**
   * Matches each push's files against the targets and queues the runs of all of them, in arrival order:
   * the targets, locks and running commits read once, the runs written together (all of them, or none).
   */
  const queueRuns = async (pushes: { pending: PendingPush; files: string[]; telemetry?: Context; local: Promise<boolean> }[]) => {
    // Read at once: the targets, the locks (a lock or a skip marker turns a selected target's run into a
    // `skipped` one: recorded, not run) and git's answers (asked with each push) on which pushed commits it has (see older-commit.ts).
    const [targets, locks, local] = await Promise.all([
      readTargets(sql).then((rows) => rows.map(toTargetFields)),
      readActiveLocks(sql),
      Promise.all(pushes.map((push) => push.local)).then((has) => new Set(pushes.flatMap(({ pending }, i) => (has[i] ? [pending.payload.after.toLowerCase()] : [])))),
    ]);
    const matches = pushes.map(({ pending: { payload, branch }, files }) =>
      matchPushToTargets(targets, { files, repositoryName: payload.repository.name, repositoryFullName: payload.repository.full_name, branch }));
    const planned = pushes.map(({ pending: { payload, headMessage }, telemetry }, i) => matches[i].targets.map((m) => {
      const target = targets.find((t) => t.app === m.app && t.host === m.host)!;
      const request = { app: target.app, host: target.host, trigger: 'webhook' as const, ref: payload.ref, commit: payload.after, repository: payload.repository.full_name, telemetry };
      return { request, target, reason: whyNotDeploy(target, { headMessage, locks }) };
    }));
    // A commit older than the one a target runs (a late or replayed delivery) is not deployed either:
    // one query for the targets' running commits, then git for the pushed commits it has.
    const candidates = planned.flat().filter((plan) => plan.reason === undefined);
    const deployed = await store.deployedCommits(candidates.map((plan) => plan.target));
    const pairs = candidates.flatMap((plan) => {
      const commit = deployed.get(`${plan.target.app}@${plan.target.host}`);
      return commit ? [{ plan, pair: { pushed: plan.request.commit, deployed: commit } }] : [];
    });
    const older = await olderThanDeployed(config.registryRoot, pairs.map(({ pair }) => pair), local);
    for (const { plan, pair } of pairs) if (older.has(pair)) plan.reason = olderCommitReason(pair.pushed, pair.deployed, plan.target);

    const toRun = planned.flat().filter((p) => p.reason === undefined);
    const toSkip = planned.flat().flatMap((p) => (p.reason === undefined ? [] : [{ ...p, reason: p.reason }]));
    // The skipped runs first: once the runs to deploy are queued, nothing here may fail any more (an
    // error would answer 500 for pushes whose runs are live, and a retry would queue them again).
    const skippedIds = new Map((await executor.recordSkipped(toSkip)).map((runId, i) => [toSkip[i].request, runId]));
    const runIds = new Map((await executor.requestDeploys(toRun)).map(({ runId }, i) => [toRun[i].request, runId]));
    return planned.map((plans, i) => ({
      queued: plans.flatMap((p) => (runIds.has(p.request) ? [{ app: p.target.app, host: p.target.host, run_id: runIds.get(p.request)! }] : [])),
      skipped: plans.flatMap((p) => (p.reason === undefined ? [] : [{ app: p.target.app, host: p.target.host, run_id: skippedIds.get(p.request)!, reason: p.reason }])),
      reason: matches[i].reason ?? 'no target matched',
    }));
  };

  /** The receipt of a push whose runs are queued (or skipped, or none). */
  const receiptOf = ({ queued, skipped, reason }: Awaited<ReturnType<typeof queueRuns>>[number]): PushReceipt => {
    if (queued.length > 0) return skipped.length > 0 ? { outcome: 'queued', queued, skipped } : { outcome: 'queued', queued };
    if (skipped.length > 0) return { outcome: 'skipped', queued: [], skipped, reason: [...new Set(skipped.map((s) => s.reason))].join('; ') };
    return { outcome: 'ignored', queued: [], reason };
  };

  /** The files from git, after the answer; a delivery that cannot be resolved keeps what the payload listed. */
  const resolve = async (id: number, pending: PendingPush, telemetry?: Context) => {
    const { payload } = pending;
    let files = listedFiles(payload);
    try {
      files = await changedFilesFromGit(config.registryRoot, payload.before, payload.after, { timeoutMs: RESOLVE_TIMEOUT_MS, fetchTimeoutMs: config.gitFetchTimeoutMs });
    } catch (error) {
      logger.warn({ delivery: id, err: { message: (error as Error).message } }, 'changed files from git failed: using the files the payload lists');
    }
    try {
      const [queued] = await queueRuns([{ pending, files, telemetry, local: hasCommit(payload.after) }]);
      const receipt = receiptOf(queued);
      await orm.em.fork().nativeUpdate(WebhookDelivery, { id }, { ...deliveryFields(receipt), payload: null });
      logger.info({ delivery: id, queued: receipt.queued.length }, 'push resolved');
    } catch (error) {
      // Shutting down: the delivery stays `resolving`, and the next start resolves it.
      if (error instanceof ExecutorClosedError) return;
      logger.error({ delivery: id, err: { name: (error as Error).name } }, 'resolving a push failed');
      await orm.em.fork().nativeUpdate(WebhookDelivery, { id }, { status: 'failed', reason: 'could not queue the runs (see the server log)' }).catch(() => undefined);
    }
  };

  const inBackground = (work: Promise<void>) => {
    const tracked = work.catch((error) => logger.error({ err: { name: (error as Error).name } }, 'background push resolution failed'));
    background.add(tracked);
    void tracked.finally(() => background.delete(tracked));
  };

  /**
   * A batch of deliveries (group commit, see group-commit.ts): replays found by one query, the rest
   * queued together in arrival order, their records written at once.
   */
  const writeBatch = async (deliveries: Delivery[]): Promise<(PushReceipt | Error)[]> => {
    // Replays survive a restart: the same delivery id, or the same push within the window.
    const since = new Date(Date.now() - REPLAY_WINDOW_MS);
    const ids = deliveries.flatMap((d) => (d.deliveryId ? [d.deliveryId] : []));
    const earlier = await earlierDeliveries(sql, ids, deliveries.map((d) => pushKey(d.pending.payload)), since);
    const receipts = deliveries.map((d): PushReceipt | Error | undefined => {
      const key = pushKey(d.pending.payload);
      const row = earlier.find((r) => (d.deliveryId !== undefined && r.delivery_id === d.deliveryId)
        || (r.repository === key.repository && r.ref === key.ref && r.after === key.after && r.received_at > since));
      return row && { outcome: 'replayed', queued: row.run_ids, reason: replayReason(row, row.status === 'resolving') };
    });
    const fresh = deliveries.flatMap((delivery, i) => (receipts[i] ? [] : [{ delivery, i }]));

    const truncated = fresh.filter(({ delivery }) => delivery.local === undefined);
    if (truncated.length > 0) {
      const em = orm.em.fork(); // only here: a fork costs more than some of the batch's statements
      const resolving = truncated.map(({ delivery, i }) => ({
        delivery, i, row: em.create(WebhookDelivery, { ...pushKey(delivery.pending.payload), delivery_id: delivery.deliveryId ?? null, status: 'resolving', payload: delivery.pending }),
      }));
      await em.flush();
      for (const { delivery, i, row } of resolving) {
        inBackground(resolve(row.id, delivery.pending, delivery.telemetry));
        receipts[i] = { outcome: 'resolving', queued: [], delivery: row.id };
      }
    }
    const listed = fresh.flatMap(({ delivery, i }) => (delivery.local ? [{ delivery, local: delivery.local, i }] : []));
    if (listed.length > 0) {
      let results: Awaited<ReturnType<typeof queueRuns>>;
      try {
        results = await queueRuns(listed.map(({ delivery: { pending, telemetry }, local }) => ({ pending, files: listedFiles(pending.payload), telemetry, local })));
      } catch (error) {
        // Nothing of these was queued: each gets the error (a 500, or 409 when shutting down); the
        // resolving deliveries of the batch are recorded and will be resolved, so they keep their 202.
        for (const { i } of listed) receipts[i] = error as Error;
        return receipts as (PushReceipt | Error)[];
      }
      const receivedAt = new Date();
      const rows = listed.map(({ delivery, i }, j) => {
        const receipt = (receipts[i] = receiptOf(results[j]));
        return { ...pushKey(delivery.pending.payload), delivery_id: delivery.deliveryId ?? null, ...deliveryFields(receipt), received_at: receivedAt };
      });
      // The runs are queued (and durable) whatever happens to these records: a failed write only loses replay protection.
      await insertDeliveries(sql, rows).catch((error) => logger.error({ err: { name: (error as Error).name } }, 'recording deliveries failed'));
    }
    return receipts as (PushReceipt | Error)[];
  };
  const batches = createGroupCommit((deliveries: Delivery[]) => lockPushes(deliveries.map((d) => d.key), () => writeBatch(deliveries)));
  /** One delivery through the batches: its receipt, or its own error. */
  const handle = async (delivery: Delivery): Promise<PushReceipt> => {
    const receipt = await batches(delivery);
    if (receipt instanceof Error) throw receipt;
    return receipt;
  };

  return {
    async receive(body, options = {}) {
      const { payload, json } = readPushBody(body);
      const decision = decidePush(payload);
      if (decision.action === 'ignore') return { outcome: 'ignored', queued: [], reason: decision.reason };

      // A monotonic clock: entries are in insertion order, which is then time order whatever the wall
      // clock does (NTP stepping it back must not keep an expired push alive behind a newer one).
      const now = performance.now();
      // Oldest first (a Map keeps insertion order): stop at the first entry still inside the window.
      for (const [key, entry] of seen) {
        if (now - entry.at <= REPLAY_WINDOW_MS) break;
        seen.delete(key);
      }
      const key = JSON.stringify([payload.repository.full_name, payload.ref, payload.after]);
      const earlier = seen.get(key);
      if (earlier) {
        // A replay that arrives while the first delivery fails gets that failure (nothing was queued).
        const receipt = await earlier.receipt;
        if (receipt.outcome === 'replayed') return receipt;
        return { outcome: 'replayed', queued: receipt.queued, reason: replayReason(payload, receipt.outcome === 'resolving') };
      }
      const pending = { payload, branch: decision.branch, headMessage: headCommitMessage(json, payload.after) };
      // A push whose files git must resolve asks git about its commit after the fetch, not now.
      const local = decision.truncated ? undefined : hasCommit(payload.after);
      const work = handle({ key, pending, deliveryId: options.deliveryId, telemetry: options.telemetry, local });
      work.catch(() => undefined); // handled below when no replay ever awaits it
      seen.set(key, { at: now, receipt: work });
      try {
        return await work;
      } catch (error) {
        seen.delete(key); // nothing was queued for it: a retry may try again
        throw error;
      }
    },

    async resumePending() {
      const pending = await orm.em.fork().find(WebhookDelivery, { status: 'resolving' }, { orderBy: { id: 'asc' } });
      for (const delivery of pending) {
        logger.info({ delivery: delivery.id }, 'resolving a push received before the last stop');
        const pending = delivery.payload as PendingPush;
        inBackground(resolve(delivery.id, { ...pending, headMessage: pending.headMessage ?? '' }));
      }
    },

    async settled() {
      while (background.size > 0) await Promise.all(background);
    },
  };
}
