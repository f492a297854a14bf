import PQueue from 'p-queue';

/**
 * Where runs wait for a free place: at most `hostConcurrency` at once per host, `maxConcurrency` in
 * all. The executor keeps the per-target rules (one run, one follow-up) and hands each start here;
 * a queue shared by several servers (PostgreSQL) can implement the same interface.
 */
export interface RunQueue {
  /** Runs `task` once a place for `host` is free; `task` itself must not throw. */
  enqueue(host: string, task: () => Promise<void>): void;
}

/** Today's queue: p-queues in this process, one per host under one global one. */
export class InProcessRunQueue implements RunQueue {
  private readonly global: PQueue;
  private readonly hosts = new Map<string, PQueue>();

  constructor(private readonly limits: { hostConcurrency: number; maxConcurrency: number }) {
    this.global = new PQueue({ concurrency: limits.maxConcurrency });
  }

  enqueue(host: string, task: () => Promise<void>): void {
    let queue = this.hosts.get(host);
    if (!queue) {
      queue = new PQueue({ concurrency: this.limits.hostConcurrency });
      this.hosts.set(host, queue);
    }
    void queue.add(() => this.global.add(task));
  }
}

/** A target to work on: a shared queue's job names the target, never a run (the newest queued run is taken). */
export interface TargetKey {
  app: string;
  host: string;
}

/**
 * A queue several servers work together (PostgreSQL): a job per target, at most one waiting per
 * target. A worker claims the target's newest queued run in the database (the claim holds the
 * per-target rule and the limits of all servers together), and answers `busy` when it may not yet.
 */
export interface SharedRunQueue {
  /** Wakes a worker (on any server) for each target; a target that already has a waiting job gets no second. */
  notify(targets: TargetKey[]): Promise<void>;
  /** Starts `workers` workers in this process; `take` runs the target's queued runs and says `busy` when it had to leave them. */
  work(workers: number, take: (target: TargetKey) => Promise<'done' | 'busy'>): Promise<void>;
  /** Stops fetching jobs, waits for the workers' running `take`s, and closes. */
  stop(): Promise<void>;
}
