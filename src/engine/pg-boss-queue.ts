// The shared queue on PostgreSQL: pg-boss 10, one `deploy` queue with the `short` policy and the
// target as singletonKey, so a target has at most one job waiting whatever the number of requests.
// pg-boss has no per-key or per-group concurrency, so it is only the wake-up: the run store's claim
// (an advisory-locked transaction over deploy_run) decides which run starts and holds the per-target
// rule and the per-host and global limits across every server. Not `stately` (at most one job waiting
// and one active per key): pg-boss 10's fetch takes the oldest waiting job, and activating a busy
// target's follow-up violates stately's unique index; the fetch swallows the error and returns no job,
// so every other target's jobs behind it starved. With `short`, jobs of a target may be active at
// once (the claim answers `busy` to all but one), and a job a dead server held blocks nothing.
import PgBoss from 'pg-boss';
import type { SharedRunQueue, TargetKey } from './queue.ts';

export const DEPLOY_QUEUE = 'deploy';
const SCHEMA = 'pgboss';

const singletonKey = (target: TargetKey) => `${target.app}@${target.host}`;

const POLICY = 'short' as const;

/** A target whose worker had to leave it (limits full) is tried again after this long. */
const BUSY_RETRY_SECONDS = 1;

export interface PgBossRunQueueOptions {
  /** The postgres:// URL (DEPLOY_DB). */
  url: string;
  /** pg-boss's own errors (a lost connection, say): pg-boss reconnects; the caller logs. */
  onError: (error: Error) => void;
  /** How often an idle worker asks for a job (pg-boss's minimum is 0.5). */
  pollingIntervalSeconds?: number;
}

/** Servers starting at once can deadlock in pg-boss's schema and queue creation: the loser tries again. */
const START_ATTEMPTS = 5;

export class PgBossRunQueue implements SharedRunQueue {
  private boss!: PgBoss;
  private started?: Promise<unknown>;
  private readonly workers: Promise<void>[] = [];
  /** Idle workers' waits, cut short by stop(). */
  private readonly wake = new Set<() => void>();
  private stopping = false;

  constructor(private readonly options: PgBossRunQueueOptions) {}

  /** Creates pg-boss's schema and the queue (once, on first use). */
  async start(): Promise<void> {
    this.started ??= (async () => {
      for (let attempt = 1; ; attempt++) {
        this.boss = new PgBoss({ connectionString: this.options.url, schema: SCHEMA, max: 4, application_name: 'deploy_server' });
        this.boss.on('error', this.options.onError);
        try {
          await this.boss.start();
          break;
        } catch (error) {
          await this.boss.stop({ graceful: false, wait: true }).catch(() => undefined);
          const code = (error as { code?: string }).code;
          // 40P01 deadlock, 23505 unique violation, 42P07 duplicate table: another server was creating the same schema.
          if (attempt >= START_ATTEMPTS || !['40P01', '23505', '42P07'].includes(code ?? '')) throw error;
          await new Promise((resolve) => setTimeout(resolve, 200 * attempt + Math.random() * 300));
        }
      }
      // A half-done deploy is not idempotent: a job is never retried; a run's own lease says when its server is gone.
      const options = { name: DEPLOY_QUEUE, policy: POLICY, retryLimit: 0, expireInHours: 23 };
      for (let attempt = 1; ; attempt++) {
        const queue = await this.boss.getQueue(DEPLOY_QUEUE);
        if (queue?.policy === POLICY) break;
        try {
          // A queue created by an earlier version (stately) is changed: new jobs take the queue's policy.
          await (queue ? this.boss.updateQueue(DEPLOY_QUEUE, options) : this.boss.createQueue(DEPLOY_QUEUE, options));
        } catch (error) {
          // Servers creating it at once deadlock (40P01): the loser looks again whether the winner's is there.
          if (attempt >= START_ATTEMPTS) throw error;
          await new Promise((resolve) => setTimeout(resolve, 200 * attempt + Math.random() * 300));
        }
      }
    })();
    await this.started;
  }

  async notify(targets: TargetKey[], startAfterSeconds?: number): Promise<void> {
    await this.start();
    await Promise.all(targets.map(({ app, host }) =>
      // null when the target already has a waiting job: that job will take the newest run.
      this.boss.send(DEPLOY_QUEUE, { app, host }, { singletonKey: singletonKey({ app, host }), ...(startAfterSeconds ? { startAfter: startAfterSeconds } : {}) }),
    ));
  }

  async work(workers: number, take: (target: TargetKey) => Promise<'done' | 'busy'>): Promise<void> {
    await this.start();
    const idleMs = (this.options.pollingIntervalSeconds ?? 0.5) * 1000;
    for (let i = 0; i < workers; i++) this.workers.push(this.workLoop(take, idleMs));
  }

  /**
   * One worker: a job at a time. Not pg-boss's work(): pg-boss 10 completes or fails a job without
   * awaiting it, so a database unreachable as a job ends was an unhandled rejection (the process
   * died), and its stop() gives up on the handlers after a timeout. Here a job whose take failed (the
   * database, say) is completed like any other: the targets with queued runs are woken every tick.
   */
  private async workLoop(take: (target: TargetKey) => Promise<'done' | 'busy'>, idleMs: number): Promise<void> {
    while (!this.stopping) {
      // pg-boss's fetch answers a failed query with no job.
      const [job] = await this.boss.fetch<TargetKey>(DEPLOY_QUEUE, { batchSize: 1 });
      if (!job) {
        await new Promise<void>((resolve) => {
          const wake = () => (clearTimeout(timer), this.wake.delete(wake), resolve());
          const timer = setTimeout(wake, idleMs);
          this.wake.add(wake);
        });
        continue;
      }
      const { app, host } = job.data;
      try {
        if ((await take({ app, host })) === 'busy') await this.notify([{ app, host }], BUSY_RETRY_SECONDS);
      } catch (error) {
        this.options.onError(error as Error);
      }
      await this.boss.complete(DEPLOY_QUEUE, job.id).catch((error: Error) => this.options.onError(error));
    }
  }

  async stop(): Promise<void> {
    this.stopping = true;
    for (const wake of this.wake) wake();
    await Promise.all(this.workers);
    if (this.started) await this.boss.stop({ graceful: false, wait: true });
  }
}
