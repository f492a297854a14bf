// The executor: takes deploy requests, keeps the per-target rules, hands runs to the queue, cancels
// and shuts down. Running one run is engine/run.ts; the DAG walk engine/walk.ts; the writes the run
// store's.
//
// Concurrency has three layers:
//   1. one target (app@host) runs at most one deploy at a time: a "slot" per target holds the running
//      run and at most one pending follow-up; a newer request replaces (cancels) the pending one;
//   2. the RunQueue: at most DEPLOY_HOST_CONCURRENCY runs per host, ...
//   3. ... and DEPLOY_MAX_CONCURRENCY in all.
import { trace, type Context, type Link, type Tracer } from '@opentelemetry/api';
import type { RunStatus } from '../db/entities/DeployRun.ts';
import type { Strategy } from '../db/entities/DeployTarget.ts';
import type { TargetFields } from '../domain/target-schema.ts';
import type { Config } from '../support/config.ts';
import { RunEvents, type RunEvent } from './events.ts';
import type { Pipeline } from './pipeline.ts';
import { InProcessRunQueue, type RunQueue, type SharedRunQueue } from './queue.ts';
import { SharedRuns } from './shared-runs.ts';
import { executeRun, type DeployRequest, type PendingRun, type RunDeps } from './run.ts';
import { endedResult, type NewRun, type RunResult, type RunStore } from './run-store.ts';
import { DEFAULT_STEP_TIMEOUT_MS, describe } from './step-runner.ts';

export type { DeployRequest } from './run.ts';

export interface ExecutorDeps {
  store: RunStore;
  config: Config;
  /** Each strategy's deploy pipeline, and the pipeline of its rollback runs. */
  pipelines: Record<Strategy, { deploy: Pipeline; rollback: Pipeline }>;
  /** Reads a target that a request did not bring; throws when there is none. */
  findTarget: (app: string, host: string) => Promise<TargetFields>;
  /** Opens the SSH session of a run; called on the first step that needs the host. */
  openRemote: RunDeps['openRemote'];
  /** From `@opentelemetry/api`; without one, the global tracer (a no-op unless otel/ registered an SDK). */
  tracer?: Tracer;
  /** Where runs wait for a place (default: in-process p-queues with the config's limits). */
  queue?: RunQueue;
  /**
   * Several servers on one PostgreSQL database: runs wait in the database and this shared queue
   * instead of this process's slots and `queue` (see SharedRunQueue, and shared-runs.ts).
   */
  shared?: { queue: SharedRunQueue; serverId: string; leaseMs: number; onError: (error: unknown) => void; workQueue?: boolean };
  stepTimeoutMs?: number;
  /** How long the final write of a run whose database writes failed is retried (default 10 min). */
  finalWriteRetryMs?: number;
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

export interface QueuedRun {
  runId: number;
  /** Resolves when the run has ended, however it ended. */
  done: Promise<RunResult>;
}

export class Executor {
  readonly events = new RunEvents();
  private readonly queue: RunQueue;
  private readonly slots = new Map<string, TargetSlot>();
  private readonly results = new Map<number, Deferred<RunResult>>();
  /** The tail of each `exclusive` key's chain of work. */
  private readonly exclusive = new Map<string, Promise<unknown>>();
  private readonly tracer: Tracer;
  private closing = false;
  private readonly shared?: SharedRuns;

  constructor(private readonly deps: ExecutorDeps) {
    this.queue = deps.queue ?? new InProcessRunQueue(deps.config);
    this.tracer = deps.tracer ?? trace.getTracer('deploy_server');
    if (deps.shared) {
      this.shared = new SharedRuns({
        ...deps.shared,
        store: deps.store,
        limits: deps.config,
        findTarget: deps.findTarget,
        hooks: {
          run: (pending, abort) => {
            if (!this.results.has(pending.runId)) this.results.set(pending.runId, defer()); // shutdown waits for it
            return this.run(pending, abort, true);
          },
          settle: (result, target) => this.settle(result, target),
          track: (runId) => this.events.track(runId),
        },
      });
    }
  }

  /** Starts working the shared queue (several servers on PostgreSQL); nothing to start otherwise. */
  async start(): Promise<void> {
    await this.shared?.start();
  }

  /** Queues a deploy of one target; resolves once the run is recorded (`queued`), not when it ends. */
  async requestDeploy(request: DeployRequest, knownTarget?: TargetFields): Promise<QueuedRun> {
    const [queued] = await this.requestDeploys([{ request, target: knownTarget }]);
    return queued;
  }

  /**
   * Queues several deploys at once (a webhook's targets): their runs are written in one statement, and
   * the queued runs they supersede are ended in one more. Callers pass the targets they have read.
   */
  async requestDeploys(items: { request: DeployRequest; target?: TargetFields }[]): Promise<QueuedRun[]> {
    if (this.closing) throw new ExecutorClosedError();
    if (items.length === 0) return [];
    const targets = await Promise.all(items.map(({ request, target }) => target ?? this.deps.findTarget(request.app, request.host)));
    const runIds = await this.deps.store.queue(items.map(({ request }, i) => newRunOf(request, targets[i])), process.pid);
    if (this.shared) {
      const queued = runIds.map((runId, i): QueuedRun => {
        const result = defer<RunResult>();
        this.results.set(runId, result);
        this.events.emit({ type: 'run', run_id: runId, app: targets[i].app, host: targets[i].host, status: 'queued' });
        return { runId, done: result.promise };
      });
      await this.shared.admit(runIds.map((id, i) => ({ id, app: targets[i].app, host: targets[i].host })));
      return queued;
    }
    const ended: Unstarted[] = [];
    const queued = items.map(({ request }, i): QueuedRun => {
      const runId = runIds[i];
      const target = targets[i];
      const result = defer<RunResult>();
      this.results.set(runId, result);
      this.events.track(runId);
      this.events.emit({ type: 'run', run_id: runId, app: target.app, host: target.host, status: 'queued', strategy: target.strategy, trigger: request.trigger });
      const pending: PendingRun = { runId, request, target, links: [] };
      if (this.closing) {
        // shutdown() began while the rows were written: it will not wait for this run, so end it now.
        ended.push({ pending, status: 'interrupted', reason: SHUT_DOWN_BEFORE_START });
      } else {
        this.admit(pending, ended);
      }
      return { runId, done: result.promise };
    });
    await this.endUnstarted(ended);
    return queued;
  }

  /**
   * Records requests that are not to run (a lock holds the target, the push said not to deploy) as
   * `skipped` runs with their reason, so that nothing asked for disappears from the history.
   */
  async recordSkipped(items: { request: DeployRequest; target: TargetFields; reason: string }[]): Promise<number[]> {
    const runIds = await this.deps.store.recordSkipped(items.map(({ request, target, reason }) => ({ ...newRunOf(request, target), reason })));
    items.forEach(({ request, target, reason }, i) => {
      const result = endedResult(runIds[i], 'skipped', reason);
      this.events.emit({ type: 'run', run_id: runIds[i], app: target.app, host: target.host, status: 'skipped', strategy: target.strategy, trigger: request.trigger, result });
    });
    return runIds;
  }

  /** Cancels a queued or running run. Returns false when the run already ended. */
  async cancel(runId: number): Promise<boolean> {
    if (this.shared) {
      const cancelling = await this.shared.cancel(runId);
      if (cancelling) return true;
      if (!(await this.deps.store.findResult(runId))) throw new RunNotFoundError(`no run #${runId}`);
      return false;
    }
    for (const slot of this.slots.values()) {
      const pending = slot.pending;
      if (pending?.runId === runId) {
        slot.pending = null;
        await this.endUnstarted([{ pending, status: 'cancelled', reason: 'cancelled before it started' }]);
        return true;
      }
      if (slot.running?.runId === runId) {
        slot.running.abort.abort(new Error('cancelled'));
        return true;
      }
    }
    // Known here but in no slot: a superseded run whose end is being written; it ends cancelled anyway.
    if (this.results.has(runId)) return true;
    if (!(await this.deps.store.findResult(runId))) throw new RunNotFoundError(`no run #${runId}`);
    return false;
  }

  /** Resolves when the run has ended (at once for a run that already has). */
  async waitForRun(runId: number): Promise<RunResult> {
    const known = this.results.get(runId);
    if (known) return known.promise;
    const result = await this.deps.store.findResult(runId);
    if (!result) throw new RunNotFoundError(`no run #${runId}`);
    return result;
  }

  subscribe(listener: (event: RunEvent) => void): () => void {
    return this.events.subscribe(listener);
  }

  /** See RunEvents.watchRun. */
  watchRun(runId: number, listener: (event: RunEvent) => void) {
    return this.events.watchRun(runId, listener);
  }

  /**
   * Stops taking requests; queued runs become `interrupted`; running runs get `graceMs` to finish and
   * are then cancelled.
   */
  async shutdown(graceMs: number): Promise<void> {
    this.closing = true;
    if (this.shared) {
      // Queued runs stay queued: the other servers (or this one, started again) take them.
      await this.shared.shutdown(graceMs);
      return;
    }
    const queued: Unstarted[] = [];
    for (const slot of this.slots.values()) {
      if (slot.pending) queued.push({ pending: slot.pending, status: 'interrupted', reason: SHUT_DOWN_BEFORE_START });
      slot.pending = null;
    }
    await this.endUnstarted(queued); // one write for all
    const running = [...this.results.values()].map((d) => d.promise);
    const timer = setTimeout(() => {
      for (const slot of this.slots.values()) slot.running?.abort.abort(new Error('deploy_server shut down'));
    }, graceMs);
    await Promise.all(running);
    clearTimeout(timer);
  }

  /** Puts a new run in its target's slot: it replaces (supersedes) a pending one. */
  private admit(pending: PendingRun, ended: Unstarted[]): void {
    const { target, runId } = pending;
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
  }

  private schedule(key: string, slot: TargetSlot): void {
    slot.scheduled = true;
    this.queue.enqueue(slot.host, async () => {
      slot.scheduled = false;
      const next = slot.pending;
      slot.pending = null;
      if (!next) {
        if (!slot.running && !slot.scheduled) this.slots.delete(key); // its request was cancelled while it waited
        return;
      }
      const abort = new AbortController();
      slot.running = { runId: next.runId, abort };
      const result = await this.run(next, abort);
      slot.running = null;
      this.settle(result, next.target);
      if (slot.pending) this.schedule(key, slot);
      else if (!slot.scheduled) this.slots.delete(key);
    });
  }

  private async run(pending: PendingRun, abort: AbortController, claimed = false): Promise<RunResult> {
    try {
      return await executeRun(pending, abort.signal, {
        store: this.deps.store,
        events: this.events,
        config: this.deps.config,
        tracer: this.tracer,
        pipelines: this.deps.pipelines,
        openRemote: this.deps.openRemote,
        exclusive: (key, work) => this.runExclusive(key, work),
        stepTimeoutMs: this.deps.stepTimeoutMs ?? DEFAULT_STEP_TIMEOUT_MS,
        claimed,
      });
    } catch (error) {
      // executeRun records every step failure on the run; what reaches here is the database itself
      // failing, and the run's waiters must still be told.
      abort.abort(new Error('internal error')); // steps still running stop before the slot frees
      const message = `internal error: ${describe(error)}`;
      // The run must not stay `running` in the database: its end is written as soon as a write succeeds again.
      this.recordFailure(pending.runId, message);
      return endedResult(pending.runId, 'failure', message, null);
    }
  }

  /**
   * Writes a run's failure after its database writes failed: retried with backoff (100 ms doubling to
   * 5 s) for finalWriteRetryMs (10 min), in the background, on unref'd timers. Meanwhile its lease lapses.
   */
  private recordFailure(runId: number, error: string): void {
    const deadline = Date.now() + (this.deps.finalWriteRetryMs ?? 10 * 60 * 1000);
    const finishedAt = new Date();
    const attempt = async (delay: number): Promise<void> => {
      try {
        await this.deps.store.failUnfinished(runId, error, finishedAt);
      } catch {
        if (this.closing || Date.now() + delay > deadline) return; // a later start marks it interrupted
        await new Promise((resolve) => setTimeout(resolve, delay).unref());
        return attempt(Math.min(delay * 2, 5000));
      }
    };
    void attempt(100);
  }

  /** One piece of work per key at a time in this process (one local build per source directory). */
  private runExclusive<T>(key: string, work: () => Promise<T>): Promise<T> {
    const previous = this.exclusive.get(key) ?? Promise.resolve();
    const mine = previous.catch(() => undefined).then(work);
    const tail = mine.catch(() => undefined);
    this.exclusive.set(key, tail);
    void tail.then(() => this.exclusive.get(key) === tail && this.exclusive.delete(key));
    return mine;
  }

  /** Ends runs that never started: one write for all; their waiters are told even if it fails. */
  private async endUnstarted(runs: Unstarted[]): Promise<void> {
    if (runs.length === 0) return;
    try {
      await this.deps.store.endUnstarted(runs.map(({ pending, status, reason }) => ({ id: pending.runId, status, reason })));
    } finally {
      for (const { pending, status, reason } of runs) {
        this.settle(endedResult(pending.runId, status, reason), pending.target);
      }
    }
  }

  private settle(result: RunResult, target: { app: string; host: string }): void {
    const waiter = this.results.get(result.id);
    this.results.delete(result.id);
    waiter?.resolve(result);
    this.events.emit({ type: 'run', run_id: result.id, app: target.app, host: target.host, status: result.status, trace_id: result.trace_id, result });
    this.events.release(result.id);
  }
}

const SHUT_DOWN_BEFORE_START = 'deploy_server shut down before this run started';

/** The row a request becomes, for the target it names. */
function newRunOf(request: DeployRequest, target: TargetFields): NewRun {
  return {
    app: target.app, host: target.host, strategy: target.strategy, trigger: request.trigger,
    ref: request.ref ?? null, commit: request.commit ?? null, rollback_to: request.rollbackTo ?? null,
    forced: request.forced ?? false, repository: request.repository ?? null,
  };
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

function linkTo(telemetry: Context | undefined): Link[] {
  const span = telemetry && trace.getSpan(telemetry);
  return span ? [{ context: span.spanContext() }] : [];
}
