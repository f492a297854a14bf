import { openDatabase } from '../../src/db/orm.ts';
import { DeployRun } from '../../src/db/entities/DeployRun.ts';
import { StepRun } from '../../src/db/entities/StepRun.ts';

const STEPS = ['sshCheck', 'build', 'rsync', 'chmod', 'restart', 'healthCheck'];

/**
 * Writes `count` finished runs (six steps each, a few lines of output) spread over the targets, oldest
 * first, straight into a database: history for the dashboard's budget, without deploying 1,000 times.
 */
export async function seedRuns(dbPath: string, count: number, targets: { app: string; host: string; strategy: string }[]): Promise<void> {
  const orm = await openDatabase({ dbPath });
  try {
    const em = orm.em.fork();
    const start = Date.now() - count * 60_000;
    for (let first = 0; first < count; first += 200) {
      const runs = Array.from({ length: Math.min(200, count - first) }, (_, i) => {
        const n = first + i;
        const target = targets[n % targets.length];
        const failed = n % 7 === 3;
        const queued = new Date(start + n * 60_000);
        return {
          ...target, trigger: n % 3 ? 'webhook' : 'api', status: failed ? 'failure' : 'success', ref: 'refs/heads/main',
          commit: (n.toString(16) + 'a'.repeat(40)).slice(0, 40), error: failed ? 'health check not green after 30 s' : null,
          failed_step: failed ? 'healthCheck' : null, duration_ms: 1200 + (n % 13) * 150, queued_at: queued, started_at: queued,
          finished_at: new Date(queued.getTime() + 2000), rolled_back: false,
        };
      });
      const ids = await em.insertMany(DeployRun, runs as never[]);
      await em.insertMany(StepRun, ids.flatMap((id, i) => STEPS.map((step, k) => ({
        run: id, step, status: runs[i].status === 'failure' && k === 5 ? 'failure' : 'success', started_at: new Date(runs[i].queued_at.getTime() + k * 200),
        duration_ms: 180, exit_code: 0, output: `step ${step} of run ${id}\nok\n`, error: null,
      }))) as never[]);
    }
  } finally {
    await orm.close();
  }
}

/** A run left `running` by a process that is gone: `serve` marks it interrupted when it starts. */
export async function seedOrphanedRun(dbPath: string, target: { app: string; host: string; strategy: string }): Promise<void> {
  const orm = await openDatabase({ dbPath });
  try {
    const em = orm.em.fork();
    const [id] = await em.insertMany(DeployRun, [{ ...target, trigger: 'webhook', status: 'running', queued_at: new Date(), started_at: new Date(), rolled_back: false, owner_pid: 2 ** 22 + 17 }] as never[]);
    await em.insertMany(StepRun, [
      { run: id, step: 'sshCheck', status: 'success', started_at: new Date(), duration_ms: 90, exit_code: 0, output: '' },
      { run: id, step: 'build', status: 'running', started_at: new Date(), output: 'compiling…\n' },
    ] as never[]);
  } finally {
    await orm.close();
  }
}
