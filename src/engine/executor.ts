// The executor: queues deploy requests, runs each as a walk over its strategy's step DAG, and writes
// every change to the database as it happens.
//
// Concurrency has three layers:
//   1. one target (app@host) runs at most one deploy at a time: a "slot" per target holds the running
//      run and at most one pending follow-up; a newer request replaces (cancels) the pending one;
//   2. a p-queue per host (DEPLOY_HOST_CONCURRENCY) ...
//   3. ... under one global p-queue (DEPLOY_MAX_CONCURRENCY).
// Inside a run, a step starts as soon as every step it needs has succeeded (no fixed waves).
import { setTimeout as sleep } from 'node:timers/promises';
import PQueue from 'p-queue';
import { raw } from '@mikro-orm/core';
import { ROOT_CONTEXT, trace, type Context, type Link, type Tracer } from '@opentelemetry/api';
import type { MikroORM } from '@mikro-orm/sqlite';
import type { Config } from '../support/config.ts';
import { DeployRun, type RunStatus, type Trigger } from '../db/entities/DeployRun.ts';
import { DeployTarget, type Strategy } from '../db/entities/DeployTarget.ts';
import { StepRun, type StepStatus } from '../db/entities/StepRun.ts';
import type { DeployContext, Pipeline } from './pipeline.ts';
import type { RemoteHost } from '../transport/remote-host.ts';
import type { TargetFields } from '../domain/target-schema.ts';
import { noTargetError, toTargetFields } from '../domain/targets.ts';
import { createTargetRedactor, tail } from '../support/redact.ts';
import { ATTR, endSpan, traceIdOf } from '../support/telemetry.ts';

export const OUTPUT_LIMIT_BYTES = 64 * 1024;
export const DEFAULT_STEP_TIMEOUT_MS = 10 * 60 * 1000;
const HISTORY_KEPT_MS = 60_000;
const CLAIM_POLL_MS = 500;
const HISTORY_MAX_EVENTS = 20_000;

export interface DeployRequest {
  app: string;
  host: string;
  trigger: Trigger;
  ref?: string | null;
  commit?: string | null;
  /** The context of whatever asked for the run (an HTTP request span, say): the run span's parent. */
  telemetry?: Context;
  /** With trigger `rollback`: the run whose release to go back to (null: the last good one). */
  rollbackTo?: number | null;
}

export interface RunOutcome {
  runId: number;
  status: RunStatus;
  failedStep: string | null;
  error: string | null;
  durationMs: number | null;
  traceId?: string | null;
  /** The deploy failed and its compensation path put the previous release back. */
  rolledBack?: boolean;
}

export type ExecutorEvent =
  | { type: 'run'; runId: number; app: string; host: string; status: RunStatus; outcome?: RunOutcome; traceId?: string | null }
  | { type: 'step'; runId: number; step: string; status: StepStatus; durationMs?: number; exitCode?: number | null; error?: string | null }
  | { type: 'output'; runId: number; step: string; line: string };

export interface ExecutorDeps {
  orm: MikroORM;
  config: Config;
  /** Each strategy's deploy pipeline, and the pipeline of its rollback runs. */
  pipelines: Record<Strategy, { deploy: Pipeline; rollback: Pipeline }>;
  /** Opens the SSH session of a run; called on the first step that needs the host. */
  openRemote: (target: TargetFields, signal: AbortSignal) => Promise<RemoteHost>;
  /** From `@opentelemetry/api`; without one, the global tracer (a no-op unless otel/ registered an SDK). */
  tracer?: Tracer;
  stepTimeoutMs?: number;
}

export class RunNotFoundError extends Error {
  override name = 'RunNotFoundError';
}

export class ExecutorClosedError extends Error {
  override name = 'ExecutorClosedError';
  constructor() {
    super('deploy_server is shutting down: no new deploys are accepted');
  }
}

interface PendingRun {
  runId: number;
  request: DeployRequest;
  target: TargetFields;
  /** Requests this run replaced: their spans are linked from the run span. */
  links: Link[];
}

/** A run that ends before it starts, and why. */
interface Unstarted {
  pending: PendingRun;
  status: RunStatus;
  reason: string;
}

interface TargetSlot {
  host: string;
  running: { runId: number; abort: AbortController } | null;
  pending: PendingRun | null;
  /** A queue task for this slot is waiting: it will take whatever is pending when it starts. */
  scheduled: boolean;
}

interface Deferred<T> {
  promise: Promise<T>;
  resolve: (value: T) => void;
}

function defer<T>(): Deferred<T> {
  let resolve!: (value: T) => void;
  const promise = new Promise<T>((r) => (resolve = r));
  return { promise, resolve };
}

export class Executor {
  private readonly global: PQueue;
  private readonly hostQueues = new Map<string, PQueue>();
  private readonly slots = new Map<string, TargetSlot>();
  private readonly outcomes = new Map<number, Deferred<RunOutcome>>();
  private readonly listeners = new Set<(event: ExecutorEvent) => void>();
  /** The tail of each `exclusive` key's chain of work. */
  private readonly exclusive = new Map<string, Promise<unknown>>();
  /** Every event of each run this process has queued, kept a while after it ends, for late watchers. */
  private readonly history = new Map<number, ExecutorEvent[]>();
  private readonly tracer: Tracer;
  private closing = false;

  constructor(private readonly deps: ExecutorDeps) {
    this.global = new PQueue({ concurrency: deps.config.maxConcurrency });
    this.tracer = deps.tracer ?? trace.getTracer('deploy_server');
  }

  /**
   * Queues a deploy of one target. Resolves once the run is recorded (status `queued`), not when it
   * ends. A caller that has just read the target passes it, saving a query.
   */
  async requestDeploy(request: DeployRequest, knownTarget?: DeployTarget): Promise<{ runId: number; done: Promise<RunOutcome> }> {
    const [queued] = await this.requestDeploys([{ request, target: knownTarget }]);
    return queued;
  }

  /**
   * Queues several deploys at once (a webhook's targets): their runs are written in one statement, and
   * the queued runs they supersede are ended in one more — a delivery costs two writes, not two a target.
   */
  async requestDeploys(items: { request: DeployRequest; target?: DeployTarget }[]): Promise<{ runId: number; done: Promise<RunOutcome> }[]> {
    if (this.closing) throw new ExecutorClosedError();
    if (items.length === 0) return [];
    const em = this.deps.orm.em.fork();
    const targets: TargetFields[] = [];
    for (const { request, target } of items) {
      const row = target ?? (await em.findOne(DeployTarget, { app: request.app, host: request.host }));
      if (!row) throw noTargetError(request.app, request.host);
      targets.push(toTargetFields(row));
    }
    const queuedAt = new Date();
    const inserted = await em
      .createQueryBuilder(DeployRun)
      .insert(items.map(({ request }, i) => ({
        app: targets[i].app,
        host: targets[i].host,
        strategy: targets[i].strategy,
        trigger: request.trigger,
        status: 'queued' as const,
        ref: request.ref ?? null,
        commit: request.commit ?? null,
        rollback_to: request.rollbackTo ?? null,
        queued_at: queuedAt,
        owner_pid: process.pid,
      })))
      .execute('run');
    // Ids grow in insertion order, whatever order RETURNING lists them in.
    const runIds = (inserted.rows as { id: number }[]).map((row) => row.id).sort((a, b) => a - b);

    const ended: Unstarted[] = [];
    const queued = items.map(({ request }, i) => {
      const runId = runIds[i];
      const target = targets[i];
      const outcome = defer<RunOutcome>();
      this.outcomes.set(runId, outcome);
      this.history.set(runId, []);
      this.emit({ type: 'run', runId, app: target.app, host: target.host, status: 'queued' });
      const pending: PendingRun = { runId, request, target, links: [] };
      if (this.closing) {
        // shutdown() began while the rows were written: it will not wait for this run, so end it now.
        ended.push({ pending, status: 'interrupted', reason: 'deploy_server shut down before this run started' });
        return { runId, done: outcome.promise };
      }
      const key = `${target.app}@${target.host}`;
      const slot = this.slots.get(key) ?? { host: target.host, running: null, pending: null, scheduled: false };
      this.slots.set(key, slot);
      const previous = slot.pending;
      if (previous) {
        pending.links = [...previous.links, ...linkTo(previous.request.telemetry)];
        ended.push({ pending: previous, status: 'cancelled', reason: `superseded by run #${runId}, a newer deploy request for ${key}` });
      }
      slot.pending = pending;
      if (!slot.running && !slot.scheduled) this.schedule(key, slot);
      return { runId, done: outcome.promise };
    });
    await this.finishUnstarted(ended);
    return queued;
  }

  /** Cancels a queued or running run. Returns false when the run already ended. */
  async cancel(runId: number): Promise<boolean> {
    for (const slot of this.slots.values()) {
      const pending = slot.pending;
      if (pending?.runId === runId) {
        slot.pending = null;
        await this.finishUnstarted([{ pending, status: 'cancelled', reason: 'cancelled before it started' }]);
        return true;
      }
      if (slot.running?.runId === runId) {
        slot.running.abort.abort(new Error('cancelled'));
        return true;
      }
    }
    // Known here but in no slot: a superseded run whose end is being written; it ends cancelled anyway.
    if (this.outcomes.has(runId)) return true;
    const row = await this.deps.orm.em.fork().findOne(DeployRun, { id: runId });
    if (!row) throw new RunNotFoundError(`no run #${runId}`);
    return false;
  }

  /** Resolves when the run has ended (at once for a run that already has). */
  async waitForRun(runId: number): Promise<RunOutcome> {
    const pending = this.outcomes.get(runId);
    if (pending) return pending.promise;
    const row = await this.deps.orm.em.fork().findOne(DeployRun, { id: runId });
    if (!row) throw new RunNotFoundError(`no run #${runId}`);
    return {
      runId, status: row.status, failedStep: row.failed_step ?? null, error: row.error ?? null,
      durationMs: row.duration_ms ?? null, traceId: row.trace_id ?? null, rolledBack: row.rolled_back,
    };
  }

  subscribe(listener: (event: ExecutorEvent) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /**
   * What already happened in a run this process knows, then every later event of it, with no gap and
   * no repeat. Undefined when this process never ran it (or forgot it): read the database instead.
   */
  watchRun(runId: number, listener: (event: ExecutorEvent) => void): { replay: ExecutorEvent[]; stop: () => void } | undefined {
    const past = this.history.get(runId);
    if (!past) return undefined;
    const stop = this.subscribe((event) => event.runId === runId && listener(event));
    return { replay: [...past], stop };
  }

  /**
   * Stops taking requests; queued runs become `interrupted`; running runs get `graceMs` to finish and
   * are then cancelled.
   */
  async shutdown(graceMs: number): Promise<void> {
    this.closing = true;
    for (const slot of this.slots.values()) {
      const pending = slot.pending;
      slot.pending = null;
      if (pending) await this.finishUnstarted([{ pending, status: 'interrupted', reason: 'deploy_server shut down before this run started' }]);
    }
    const running = [...this.outcomes.values()].map((d) => d.promise);
    const timer = setTimeout(() => {
      for (const slot of this.slots.values()) slot.running?.abort.abort(new Error('deploy_server shut down'));
    }, graceMs);
    await Promise.all(running);
    clearTimeout(timer);
  }

  private schedule(key: string, slot: TargetSlot): void {
    slot.scheduled = true;
    let hostQueue = this.hostQueues.get(slot.host);
    if (!hostQueue) {
      hostQueue = new PQueue({ concurrency: this.deps.config.hostConcurrency });
      this.hostQueues.set(slot.host, hostQueue);
    }
    void hostQueue.add(() =>
      this.global.add(async () => {
        slot.scheduled = false;
        const next = slot.pending;
        slot.pending = null;
        if (!next) {
          if (!slot.running && !slot.scheduled) this.slots.delete(key); // its request was cancelled while it waited
          return;
        }
        const abort = new AbortController();
        slot.running = { runId: next.runId, abort };
        // execute() records every step failure on the run; what reaches this catch is the database
        // itself failing, and the run's waiters must still be told.
        let internalError = false;
        const outcome = await this.execute(next, abort.signal).catch((error): RunOutcome => {
          internalError = true;
          abort.abort(new Error('internal error')); // steps still running stop before the slot frees
          return { runId: next.runId, status: 'failure', failedStep: null, error: `internal error: ${describe(error)}`, durationMs: null };
        });
        slot.running = null;
        if (internalError) this.settle(outcome, next.target.app, next.target.host); // the final event, for watchers
        else this.settle(outcome);
        if (slot.pending) this.schedule(key, slot);
        else if (!slot.scheduled) this.slots.delete(key);
      }),
    );
  }

  /** Ends runs that never started (superseded, cancelled while queued, or shut down): one write for all. */
  private async finishUnstarted(runs: Unstarted[]): Promise<void> {
    if (runs.length === 0) return;
    const ids = runs.map(({ pending }) => pending.runId);
    const byId = (field: (run: Unstarted) => string) =>
      raw(`case id ${runs.map(() => 'when ? then ?').join(' ')} end`, runs.flatMap((run) => [run.pending.runId, field(run)]));
    try {
      await this.deps.orm.em
        .fork()
        .createQueryBuilder(DeployRun)
        .update({ status: byId((run) => run.status), error: byId((run) => run.reason), finished_at: new Date(), duration_ms: 0 } as never)
        .where({ id: { $in: ids } })
        .execute();
    } finally {
      // Their waiters are told even when the write fails (the rows are then fixed at the next start).
      for (const { pending, status, reason } of runs) {
        this.settle({ runId: pending.runId, status, failedStep: null, error: reason, durationMs: 0 }, pending.target.app, pending.target.host);
      }
    }
  }

  private settle(outcome: RunOutcome, app?: string, host?: string): void {
    const deferred = this.outcomes.get(outcome.runId);
    this.outcomes.delete(outcome.runId);
    deferred?.resolve(outcome);
    if (app && host) this.emit({ type: 'run', runId: outcome.runId, app, host, status: outcome.status, outcome });
    setTimeout(() => this.history.delete(outcome.runId), HISTORY_KEPT_MS).unref();
  }

  private emit(event: ExecutorEvent): void {
    const past = this.history.get(event.runId);
    if (past && (past.length < HISTORY_MAX_EVENTS || event.type !== 'output')) past.push(event);
    for (const listener of this.listeners) listener(event);
  }

  /** One run, from `running` to its final status. Every step failure ends up on the run, not thrown. */
  private async execute(pending: PendingRun, signal: AbortSignal): Promise<RunOutcome> {
    const { runId, request, target } = pending;
    const pipeline = this.deps.pipelines[target.strategy][request.trigger === 'rollback' ? 'rollback' : 'deploy'];
    const em = this.deps.orm.em.fork();
    if (!(await this.claimTarget(pending, signal))) {
      const reason = `cancelled while another process ran ${target.app}@${target.host}`;
      await em.nativeUpdate(DeployRun, { id: runId }, { status: 'cancelled', error: reason, finished_at: new Date(), duration_ms: 0 });
      return { runId, status: 'cancelled', failedStep: null, error: reason, durationMs: 0 };
    }
    const startedAt = new Date();
    const parent = request.telemetry ?? ROOT_CONTEXT;
    const span = this.tracer.startSpan(
      `deploy ${target.app}@${target.host}`,
      {
        attributes: {
          [ATTR.app]: target.app,
          [ATTR.host]: target.host,
          [ATTR.strategy]: target.strategy,
          [ATTR.trigger]: request.trigger,
          [ATTR.runId]: runId,
          ...(request.ref ? { [ATTR.ref]: request.ref } : {}),
          ...(request.commit ? { [ATTR.revision]: request.commit } : {}),
        },
        links: pending.links,
      },
      parent,
    );
    const traceId = traceIdOf(span);
    await em.nativeUpdate(DeployRun, { id: runId }, { status: 'running', started_at: startedAt, trace_id: traceId });
    await em.insertMany(StepRun, pipeline.order.map((step) => ({ run: runId, step, status: 'pending' as const, output: '' })));
    const stepRows = await em.find(StepRun, { run: runId }, { fields: ['id', 'step'] });
    const stepRowIds = new Map(stepRows.map((row) => [row.step, row.id]));
    this.emit({ type: 'run', runId, app: target.app, host: target.host, status: 'running', traceId });

    let remote: Promise<RemoteHost> | undefined;
    const cleanups: (() => Promise<void>)[] = [];
    const redact = createTargetRedactor(target, this.deps.config);
    const deploy: DeployContext = {
      runId,
      target,
      trigger: request.trigger,
      ref: request.ref ?? null,
      commit: request.commit ?? null,
      rollbackTo: request.rollbackTo ?? null,
      pastRuns: async () =>
        (await em.find(DeployRun, { app: target.app, host: target.host, id: { $lt: runId } }, { orderBy: { id: 'desc' } })).map((r) => ({
          id: r.id, trigger: r.trigger, status: r.status, commit_after: r.commit_after ?? null, release: r.release ?? null, rolled_back: r.rolled_back,
        })),
      config: this.deps.config,
      remote: () => (remote ??= this.deps.openRemote(target, signal)),
      atEnd: (cleanup) => void cleanups.push(cleanup),
      exclusive: (key, work) => {
        const previous = this.exclusive.get(key) ?? Promise.resolve();
        const mine = previous.catch(() => undefined).then(work);
        const tail = mine.catch(() => undefined);
        this.exclusive.set(key, tail);
        void tail.then(() => this.exclusive.get(key) === tail && this.exclusive.delete(key));
        return mine;
      },
      tracer: this.tracer,
      redact,
    };
    let walked: Awaited<ReturnType<Executor['walk']>>;
    try {
      walked = await this.walk(pipeline, { deploy, signal, redact, parent: trace.setSpan(parent, span), stepRowIds });
    } finally {
      // Also when the database fails mid-run: the connection closes and the worktrees go.
      if (remote) await remote.then((host) => host.close()).catch(() => undefined);
      for (const cleanup of cleanups.reverse()) await cleanup().catch(() => undefined); // last registered, first run
    }
    const { failure, compensated } = walked;

    const status: RunStatus = signal.aborted ? 'cancelled' : failure ? 'failure' : 'success';
    const error = signal.aborted ? redact(describe(signal.reason)) : (failure?.error ?? null);
    const finishedAt = new Date();
    const outcome: RunOutcome = {
      runId,
      status,
      failedStep: status === 'failure' ? failure!.step : null,
      error,
      durationMs: finishedAt.getTime() - startedAt.getTime(),
      traceId,
      rolledBack: status === 'failure' && compensated,
    };
    await em.nativeUpdate(
      DeployRun,
      { id: runId },
      { status, error, failed_step: outcome.failedStep, finished_at: finishedAt, duration_ms: outcome.durationMs, rolled_back: outcome.rolledBack },
    );
    endSpan(span, error ? { message: error } : undefined);
    this.emit({ type: 'run', runId, app: target.app, host: target.host, status, outcome, traceId });
    return outcome;
  }

  /**
   * One run per target across processes too (`serve` and a CLI deploy share operations.db): mark the
   * run `running`, and if a live process already runs the target (an older run), step back to
   * `queued` and wait for it. Resolves false when cancelled while waiting.
   */
  private async claimTarget({ runId, target }: PendingRun, signal: AbortSignal): Promise<boolean> {
    const em = this.deps.orm.em.fork();
    for (;;) {
      if (signal.aborted) return false;
      await em.nativeUpdate(DeployRun, { id: runId }, { status: 'running' });
      const others = await em.find(DeployRun, { app: target.app, host: target.host, status: 'running', id: { $lt: runId }, owner_pid: { $ne: process.pid } });
      if (!others.some((run) => isProcessAlive(run.owner_pid ?? null))) return true;
      await em.nativeUpdate(DeployRun, { id: runId }, { status: 'queued' });
      await sleep(CLAIM_POLL_MS, undefined, { signal }).catch(() => undefined);
    }
  }

  /**
   * Walks the DAG: starts every step whose needs have all succeeded, as soon as they have. After a
   * failure or a cancel no new step starts (the rest are `skipped`; running ones finish) — except the
   * compensation path: a step with `onFailureOf` starts when a step it compensates for has failed,
   * then the steps that need it. Resolves with the first failure (or null) and whether the
   * compensation path ran through.
   */
  private walk(pipeline: Pipeline, run: WalkContext): Promise<{ failure: { step: string; error: string } | null; compensated: boolean }> {
    const state = new Map<string, StepStatus>(pipeline.order.map((id) => [id, 'pending']));
    const results: Record<string, unknown> = {};
    let failure: { step: string; error: string } | null = null;
    let running = 0;
    const skips: Promise<void>[] = [];
    const finished = (id: string) => !['pending', 'running'].includes(state.get(id)!);

    /** What a pending step should do now: start, be skipped (and why), or wait. */
    const decide = (id: string): 'start' | 'wait' | { skip: string } => {
      const spec = pipeline.steps[id];
      const needs = spec.needs ?? [];
      if (run.signal.aborted) return { skip: 'skipped: run cancelled' };
      if (failure && !pipeline.compensation.has(id)) return { skip: `skipped: ${failure.step} failed` };
      const brokenNeed = needs.find((need) => finished(need) && state.get(need) !== 'success');
      if (brokenNeed) return { skip: `skipped: ${brokenNeed} did not succeed` };
      if (spec.onFailureOf) {
        const failed = spec.onFailureOf.some((step) => state.get(step) === 'failure');
        if (!failed) return spec.onFailureOf.every(finished) ? { skip: `skipped: ${spec.onFailureOf.join(', ')} did not fail` } : 'wait';
      }
      if (!needs.every((need) => state.get(need) === 'success')) return 'wait';
      if (spec.when && !spec.when(run.deploy)) return { skip: 'skipped: not enabled for this target' };
      return 'start';
    };

    return new Promise((resolve, reject) => {
      const advance = () => {
        for (let changed = true; changed; ) {
          changed = false;
          for (const id of pipeline.order) {
            if (state.get(id) !== 'pending') continue;
            const decision = decide(id);
            if (decision === 'wait') continue;
            changed = true;
            if (decision === 'start') {
              state.set(id, 'running');
              running++;
              this.runStep(pipeline, id, results, run).then((result) => {
                running--;
                state.set(id, result.status);
                if (result.status === 'success') results[id] = result.value;
                else if (result.status === 'failure' && !failure) failure = { step: id, error: result.error! };
                advance();
              }, reject); // runStep only throws when the database does
            } else {
              state.set(id, 'skipped');
              skips.push(this.recordStep(run, id, { status: 'skipped', error: decision.skip }));
            }
          }
        }
        if (running > 0) return;
        const compensated = pipeline.compensation.size > 0 && [...pipeline.compensation].every((id) => state.get(id) === 'success');
        Promise.all(skips).then(() => resolve({ failure, compensated }), reject);
      };
      advance();
    });
  }

  private async runStep(
    pipeline: Pipeline,
    id: string,
    results: Record<string, unknown>,
    run: WalkContext,
  ): Promise<{ status: StepStatus; value?: unknown; error?: string }> {
    const spec = pipeline.steps[id];
    const startedAt = new Date();
    await this.recordStep(run, id, { status: 'running', started_at: startedAt });
    const span = this.tracer.startSpan(`step ${id}`, { attributes: { [ATTR.step]: id } }, run.parent);
    const timeoutMs = spec.timeoutMs ?? this.deps.stepTimeoutMs ?? DEFAULT_STEP_TIMEOUT_MS;
    const timeout = AbortSignal.timeout(timeoutMs);
    const signal = AbortSignal.any([run.signal, timeout]);
    const output = createOutputSink(run.redact, (line) => this.emit({ type: 'output', runId: run.deploy.runId, step: id, line }));
    const neededResults = Object.fromEntries((spec.needs ?? []).map((need) => [need, results[need]]));

    let status: StepStatus;
    let value: unknown;
    let error: string | null = null;
    let exitCode: number | null = null;
    try {
      value = await untilAborted(
        spec.run({
          results: neededResults,
          deploy: run.deploy,
          signal,
          output: output.write,
          telemetry: trace.setSpan(run.parent, span),
          record: async (fields) => void (await this.deps.orm.em.fork().nativeUpdate(DeployRun, { id: run.deploy.runId }, fields)),
        }),
        signal,
      );
      status = 'success';
      exitCode = exitCodeOf(value) ?? 0;
    } catch (thrown) {
      exitCode = exitCodeOf(thrown);
      if (run.signal.aborted) {
        status = 'cancelled';
        error = `cancelled: ${describe(run.signal.reason)}`;
      } else if (timeout.aborted) {
        status = 'failure';
        error = `timed out after ${formatDuration(timeoutMs)}`;
      } else {
        status = 'failure';
        error = describe(thrown);
      }
      error = run.redact(error);
    }
    const durationMs = Date.now() - startedAt.getTime();
    await this.recordStep(run, id, { status, duration_ms: durationMs, exit_code: exitCode, output: output.close(), error });
    endSpan(span, error ? { message: error } : undefined);
    this.emit({ type: 'step', runId: run.deploy.runId, step: id, status, durationMs, exitCode, error });
    return { status, value, error: error ?? undefined };
  }

  private async recordStep(run: WalkContext, step: string, changes: Partial<Omit<StepRun, 'run' | 'id'>>): Promise<void> {
    await this.deps.orm.em.fork().nativeUpdate(StepRun, { id: run.stepRowIds.get(step)! }, changes);
    if (changes.status === 'running' || changes.status === 'skipped') {
      this.emit({ type: 'step', runId: run.deploy.runId, step, status: changes.status, error: changes.error });
    }
  }
}

interface WalkContext {
  deploy: DeployContext;
  signal: AbortSignal;
  redact: (text: string) => string;
  /** The run span's context: parent of every step span. */
  parent: Context;
  stepRowIds: Map<string, number>;
}

/**
 * Marks runs whose process is gone (a crash, a SIGKILL) as `interrupted`, with their unfinished steps.
 * Runs owned by a live process — another `serve`, a CLI deploy — are left alone.
 */
export async function recoverInterruptedRuns(orm: MikroORM): Promise<number[]> {
  const em = orm.em.fork();
  const unfinished = await em.find(DeployRun, { status: { $in: ['queued', 'running'] } });
  const orphans = unfinished.filter((run) => !isProcessAlive(run.owner_pid ?? null));
  const ids = orphans.map((run) => run.id);
  if (ids.length === 0) return [];
  const now = new Date();
  await em.nativeUpdate(DeployRun, { id: { $in: ids } }, { status: 'interrupted', finished_at: now, error: 'interrupted: the deploy_server process running it stopped' });
  await em.nativeUpdate(StepRun, { run: { $in: ids }, status: 'running' }, { status: 'cancelled', error: 'interrupted: the deploy_server process running it stopped' });
  await em.nativeUpdate(StepRun, { run: { $in: ids }, status: 'pending' }, { status: 'skipped', error: 'skipped: run interrupted' });
  return ids;
}

/**
 * Whether the process that owned a run is still there. Our own pid counts as gone: at start-up, a run
 * with it belongs to an earlier process that had the same pid (PID 1 in a container); claimTarget
 * asks only about other processes.
 */
function isProcessAlive(pid: number | null): boolean {
  if (pid === null || pid === process.pid) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function linkTo(telemetry: Context | undefined): Link[] {
  const span = telemetry && trace.getSpan(telemetry);
  return span ? [{ context: span.spanContext() }] : [];
}

/** Rejects as soon as the signal aborts, even if the step ignores it; a late rejection is swallowed. */
function untilAborted<T>(work: Promise<T>, signal: AbortSignal): Promise<T> {
  work.catch(() => undefined);
  if (signal.aborted) return Promise.reject(signal.reason);
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(signal.reason);
    signal.addEventListener('abort', onAbort, { once: true });
    work.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort));
  });
}

/** Collects a step's output: live lines (masked) to listeners, and the masked tail for the database. */
function createOutputSink(redact: (text: string) => string, onLine: (line: string) => void) {
  let kept = '';
  let partial = '';
  return {
    write(chunk: string) {
      // A margin beyond the limit, so a secret cut at the edge is still whole when it is masked.
      kept = tail(kept + chunk, OUTPUT_LIMIT_BYTES + 4096);
      const lines = (partial + chunk).split('\n');
      partial = lines.pop()!;
      // Output without newlines (progress bars redrawn with \r) must not grow one line for ever.
      if (partial.length > OUTPUT_LIMIT_BYTES) {
        lines.push(partial);
        partial = '';
      }
      for (const line of lines) onLine(redact(line));
    },
    close(): string {
      if (partial) onLine(redact(partial));
      partial = '';
      return tail(redact(kept), OUTPUT_LIMIT_BYTES);
    },
  };
}

function exitCodeOf(value: unknown): number | null {
  const code = (value as { exitCode?: unknown } | null)?.exitCode;
  return typeof code === 'number' ? code : null;
}

function describe(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

function formatDuration(ms: number): string {
  return ms % 60000 === 0 ? `${ms / 60000} min` : ms % 1000 === 0 ? `${ms / 1000} s` : `${ms} ms`;
}
