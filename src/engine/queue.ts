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
