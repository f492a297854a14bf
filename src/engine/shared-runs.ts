// Runs shared by several servers on one PostgreSQL database. A request writes its run (`queued`),
// ends the queued runs of the target it replaces, and wakes a worker through the shared queue; the
// worker that gets the target (on any server) claims its newest queued run in the database and runs
// it here. Each server renews a lease; runs of a server whose lease lapses become `interrupted` (any
// server notices), never retried. Cancels of runs another server runs go through the database.
import type { TargetFields } from '../domain/target-schema.ts';
import { describe } from './step-runner.ts';
import type { DeployRequest, PendingRun } from './run.ts';
import { endedResult, type RunResult, type RunStore } from './run-store.ts';
import type { SharedRunQueue, TargetKey } from './queue.ts';

/** How often a server renews its lease, and looks for cancels, lapsed leases and runs ended elsewhere. */
export const SHARED_TICK_MS = 1000;

/** What the executor lends: running one claimed run, and telling a run's waiters and watchers it ended. */
export interface SharedRunHooks {
  run(pending: PendingRun, abort: AbortController): Promise<RunResult>;
  /** The run's waiters in this process (if any) and watchers learn how it ended. */
  settle(result: RunResult, target: TargetKey): void;
  /** This process keeps the run's events for late watchers (it runs it). */
  track(runId: number): void;
}

export interface SharedRunsDeps {
  store: RunStore;
  queue: SharedRunQueue;
  /** This server's id: the owner written on the runs it claims, and its lease's key. */
  serverId: string;
  /** A server whose lease is older than this is gone. */
  leaseMs: number;
  limits: { hostConcurrency: number; maxConcurrency: number };
  findTarget: (app: string, host: string) => Promise<TargetFields>;
  hooks: SharedRunHooks;
  /** A background failure (the database unreachable for a tick, say): reported, and tried again next tick. */
  onError: (error: unknown) => void;
  /**
   * False (the CLI's deploy): no worker on the shared queue; only the targets of this process's own
   * requests are claimed (each tick), so it never runs, nor abandons at exit, another target's run.
   */
  workQueue?: boolean;
}

export class SharedRuns {
  /** Runs this server runs now. */
  private readonly running = new Map<number, { abort: AbortController; target: TargetKey }>();
  /** Runs requested here that have not ended: whoever runs them, their waiters here are told. */
  private readonly requested = new Map<number, TargetKey>();
  /** When the last renewal that succeeded was sent (this clock): the lease holds at least that long. */
  private renewedAt = Date.now();
  /** Set once shutdown's grace is over: a run claimed afterwards is cancelled at once. */
  private graceOver = false;
  private timer?: NodeJS.Timeout;
  private leaseTimer?: NodeJS.Timeout;
  private renewing?: Promise<void>;
  private ticking?: Promise<void>;
  private closing = false;
  /** Without a queue worker: the targets being taken here (see workQueue). */
  private readonly taking = new Map<string, Promise<unknown>>();

  constructor(private readonly deps: SharedRunsDeps) {}

  /** Takes the lease, ends runs of servers already gone, and starts working the queue. */
  async start(): Promise<void> {
    await this.deps.store.renewServerLease(this.deps.serverId);
    this.renewedAt = Date.now();
    if (this.deps.workQueue !== false) await this.deps.queue.work(this.deps.limits.maxConcurrency, (target) => this.take(target));
    await this.tick();
    // The lease is renewed on a timer of its own: a slow tick (the database busy with a burst) must not
    // hold it back, or the other servers would take this server for gone.
    this.leaseTimer = setInterval(() => {
      this.stopIfLeaseLost();
      this.renewing ??= this.renew().finally(() => (this.renewing = undefined));
    }, SHARED_TICK_MS);
    this.timer = setInterval(() => void (this.ticking ??= this.tick().finally(() => (this.ticking = undefined))), SHARED_TICK_MS);
    this.leaseTimer.unref();
    this.timer.unref();
  }

  private async renew(): Promise<void> {
    const sentAt = Date.now();
    try {
      await this.deps.store.renewServerLease(this.deps.serverId);
      this.renewedAt = sentAt;
    } catch (error) {
      this.deps.onError(error);
    }
  }

  /**
   * Not renewed for `leaseMs` (the database unreachable, or this process stalled): the other servers
   * take this one for gone and interrupt its runs, so they stop here too, before a survivor deploys
   * the same targets. Their ends are written only if no other server has (see RunStore.finish).
   */
  private stopIfLeaseLost(): void {
    const since = Date.now() - this.renewedAt;
    if (since < this.deps.leaseMs) return;
    for (const { abort } of this.running.values()) {
      if (!abort.signal.aborted) abort.abort(new Error(`stopped: this server could not renew its lease for ${Math.round(since / 1000)} s, so the other servers take its runs for interrupted`));
    }
  }

  /** New runs (already written, `queued`): end the queued runs they replace, and wake a worker per target. */
  async admit(runs: { id: number; app: string; host: string }[]): Promise<void> {
    for (const run of runs) this.requested.set(run.id, { app: run.app, host: run.host });
    for (const old of await this.deps.store.supersedeQueued(runs)) this.settleUnstarted(old.id, { app: old.app, host: old.host }, 'cancelled', `superseded by run #${old.by}, a newer deploy request for ${old.app}@${old.host}`);
    const targets = new Map(runs.map((run) => [`${run.app}@${run.host}`, { app: run.app, host: run.host }]));
    await this.deps.queue.notify([...targets.values()]);
  }

  /** Cancels a run: here, queued, or running on another server (which stops it at its next tick). Undefined: no such run unended. */
  async cancel(runId: number): Promise<boolean | undefined> {
    const local = this.running.get(runId);
    if (local) {
      local.abort.abort(new Error('cancelled'));
      return true;
    }
    if (await this.deps.store.cancelQueued(runId)) {
      const target = this.requested.get(runId);
      if (target) this.settleUnstarted(runId, target, 'cancelled', 'cancelled before it started');
      return true;
    }
    return (await this.deps.store.requestCancel(runId)) || undefined;
  }

  /**
   * Stops taking runs (queued ones stay for the other servers); running ones get `graceMs` to finish,
   * then are cancelled; returns once they have ended (their ends written), pg-boss has stopped and the
   * lease is dropped. Meanwhile the lease is renewed and cancels from other servers are obeyed.
   */
  async shutdown(graceMs: number): Promise<void> {
    this.closing = true;
    const timer = setTimeout(() => {
      this.graceOver = true;
      for (const { abort } of this.running.values()) abort.abort(new Error('deploy_server shut down'));
    }, graceMs);
    await this.deps.queue.stop(); // waits for the workers, so for the runs they run
    await Promise.allSettled(this.taking.values());
    clearTimeout(timer);
    clearInterval(this.timer);
    clearInterval(this.leaseTimer);
    await Promise.all([this.ticking, this.renewing]);
    await this.deps.store.dropServerLease(this.deps.serverId).catch(() => undefined);
  }

  /**
   * A worker got `target`: runs its queued runs one after another while it may. `onlyRequested`
   * (without a queue worker): only while the newest queued run is one requested here.
   */
  private async take(target: TargetKey, onlyRequested = false): Promise<'done' | 'busy'> {
    for (;;) {
      if (this.closing) return 'busy'; // the job goes back for the other servers
      const mine = onlyRequested ? [...this.requested].filter(([, t]) => t.app === target.app && t.host === target.host).map(([id]) => id) : undefined;
      if (mine?.length === 0) return 'done';
      const claim = await this.deps.store.claimNext(target.app, target.host, this.deps.serverId, this.deps.limits, mine);
      if (claim.kind !== 'claimed') return claim.kind === 'none' ? 'done' : 'busy';
      for (const id of claim.superseded) this.settleUnstarted(id, target, 'cancelled', `superseded by run #${claim.run.id}, a newer deploy request for ${target.app}@${target.host}`);
      const { id, trigger, ref, commit, rollback_to } = claim.run;
      let fields: TargetFields;
      try {
        fields = await this.deps.findTarget(target.app, target.host);
      } catch (error) {
        const result = endedResult(id, 'failure', describe(error));
        await this.deps.store.finish(result, new Date());
        this.end(result, target);
        continue;
      }
      const request: DeployRequest = { app: target.app, host: target.host, trigger, ref, commit, rollbackTo: rollback_to };
      const abort = new AbortController();
      if (this.graceOver) abort.abort(new Error('deploy_server shut down'));
      this.running.set(id, { abort, target });
      this.deps.hooks.track(id);
      const result = await this.deps.hooks.run({ runId: id, request, target: fields, links: [] }, abort);
      this.running.delete(id);
      this.end(result, target);
    }
  }

  private async tick(): Promise<void> {
    const { store } = this.deps;
    try {
      // A job the dead server held blocks nothing (see pg-boss-queue.ts): its targets' next runs start elsewhere.
      await store.interruptLapsed(this.deps.leaseMs);
      for (const id of await store.cancelRequestsFor(this.deps.serverId)) this.running.get(id)?.abort.abort(new Error('cancelled'));
      // This server stalled past its lease and another one interrupted its runs: they stop here at once.
      for (const { id } of await store.endedAmong([...this.running.keys()])) {
        this.running.get(id)?.abort.abort(new Error('stopped: this server did not renew its lease in time and another server interrupted the run'));
      }
      const elsewhere = [...this.requested.keys()].filter((id) => !this.running.has(id));
      for (const result of await store.endedAmong(elsewhere)) {
        const target = this.requested.get(result.id);
        if (target) this.end(result, target); // else settled meanwhile (superseded here, say)
      }
      // A job lost with a server that died holding it: the target is woken again (a waiting job absorbs it).
      if (!this.closing) await this.deps.queue.notify(await store.queuedTargets());
      if (this.deps.workQueue === false && !this.closing) this.takeRequested();
    } catch (error) {
      this.deps.onError(error);
    }
  }

  /** Without a queue worker: claims the targets of this process's requests (another server may run them first). */
  private takeRequested(): void {
    for (const target of this.requested.values()) {
      const key = `${target.app}@${target.host}`;
      if (this.taking.has(key)) continue;
      const taking = this.take(target, true).catch((error) => this.deps.onError(error)).finally(() => this.taking.delete(key));
      this.taking.set(key, taking);
    }
  }

  private settleUnstarted(id: number, target: TargetKey, status: 'cancelled', reason: string): void {
    this.end(endedResult(id, status, reason), target);
  }

  private end(result: RunResult, target: TargetKey): void {
    this.requested.delete(result.id);
    this.deps.hooks.settle(result, target);
  }
}
