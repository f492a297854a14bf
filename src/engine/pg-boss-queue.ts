// The shared queue on PostgreSQL: pg-boss 10, one `deploy` queue with the `stately` policy and the
// target as singletonKey, so a target has at most one job waiting (and one being worked) whatever the
// number of requests. pg-boss has no per-key or per-group concurrency, so it is only the wake-up: the
// run store's claim (an advisory-locked transaction over deploy_run) decides which run starts and
// holds the per-target rule and the per-host and global limits across every server.
import PgBoss from 'pg-boss';
import type { SharedRunQueue, TargetKey } from './queue.ts';

export const DEPLOY_QUEUE = 'deploy';
const SCHEMA = 'pgboss';

const singletonKey = (target: TargetKey) => `${target.app}@${target.host}`;

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
      for (let attempt = 1; !(await this.boss.getQueue(DEPLOY_QUEUE)); attempt++) {
        try {
          await this.boss.createQueue(DEPLOY_QUEUE, { name: DEPLOY_QUEUE, policy: 'stately', retryLimit: 0, expireInHours: 23 });
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
    const pollingIntervalSeconds = this.options.pollingIntervalSeconds ?? 0.5;
    // pg-boss 10 runs one handler at a time per work(): one worker per place this server may fill.
    for (let i = 0; i < workers; i++) {
      await this.boss.work<TargetKey>(DEPLOY_QUEUE, { batchSize: 1, pollingIntervalSeconds }, async ([job]) => {
        const { app, host } = job.data;
        if ((await take({ app, host })) === 'busy') await this.notify([{ app, host }], BUSY_RETRY_SECONDS);
      });
    }
  }

  async release(targets: TargetKey[]): Promise<void> {
    if (targets.length === 0) return;
    await this.start();
    // pg-boss has no lookup by singletonKey: its job table (pg-boss 10's schema) is read for the ids,
    // then they are failed through its API. Stately: at most one active job per target, the dead server's.
    const { rows } = await this.boss.getDb().executeSql(
      `select id from ${SCHEMA}.job where name = $1 and state = 'active' and singleton_key = any($2)`,
      [DEPLOY_QUEUE, targets.map(singletonKey)],
    );
    if (rows.length) await this.boss.fail(DEPLOY_QUEUE, rows.map((row: { id: string }) => row.id));
  }

  async stop(): Promise<void> {
    if (!this.started) return;
    await this.boss.offWork(DEPLOY_QUEUE);
    await this.boss.stop({ graceful: true, wait: true, timeout: 5000 });
  }
}
