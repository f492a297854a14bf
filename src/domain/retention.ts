// Retention of the history in operations.db: finished runs (with their steps and notification
// attempts) beyond the newest DEPLOY_KEEP_RUNS of their target AND older than DEPLOY_KEEP_DAYS are
// deleted — a run goes only when both say so — and webhook deliveries older than DEPLOY_KEEP_DAYS (a
// replay of one is recognised by its delivery id that long). Never pruned: a queued or running run,
// a target's last successful run (what it runs now), a run whose release ANOTHER run names (a systemd
// deploy names its own: that alone keeps nothing).
// On PostgreSQL the same rules, with its times (timestamps, not SQLite's epoch milliseconds) and its
// size (pg_database_size); freed space is reused by PostgreSQL's autovacuum, nothing to reclaim by hand.
import fs from 'node:fs';
import { databaseKind, type MikroORM } from '../db/orm.ts';
import { execSqlite } from '../db/plain-sql.ts';
import { RunStore } from '../engine/run-store.ts';

export interface RetentionPolicy {
  /** Runs kept per target whatever their age. */
  keepRuns: number;
  /** Runs (and deliveries) younger than this are kept whatever their number. */
  keepDays: number;
}

export interface PruneReport {
  dryRun: boolean;
  runs: number;
  steps: number;
  deliveries: number;
  /** The database's size (SQLite: the file with its WAL) before and after, in bytes; equal on a dry run. */
  bytesBefore: number;
  bytesAfter: number;
}

/**
 * How free pages go back to the file system: `incremental` (the background pruning; a no-op on a file
 * made before auto_vacuum was set, whose free pages are reused by later writes), `full` (`prune` by
 * hand: such a file is rewritten once with VACUUM, which switches it to incremental auto-vacuum).
 */
export type Reclaim = 'incremental' | 'full';

const DAY_MS = 24 * 60 * 60 * 1000;
/**
 * Ids per delete transaction. On SQLite each statement runs on the event loop (better-sqlite3): serve's
 * background prune works in pieces this small, with a turn of the event loop between them (toTheLoop),
 * so that requests, SSH traffic and lease renewals go on while it runs.
 */
const BATCH = 100;
/** Free pages given back per `pragma incremental_vacuum(N)`, between turns of the event loop (1 MiB of 4 KiB pages). */
const VACUUM_PAGES = 256;

/** Lets every callback due run before the next piece of work. */
const toTheLoop = () => new Promise<void>((resolve) => setImmediate(resolve));

async function databaseBytes(orm: MikroORM, dbPath: string): Promise<number> {
  if (databaseKind(dbPath) === 'postgresql') {
    const [{ bytes }] = await orm.em.getConnection().execute<{ bytes: string }[]>('select pg_database_size(current_database()) as bytes');
    return Number(bytes);
  }
  const size = (file: string) => fs.statSync(file, { throwIfNoEntry: false })?.size ?? 0;
  return size(dbPath) + size(`${dbPath}-wal`);
}

/**
 * The runs the policy lets go, oldest first. Target by target, with a turn of the event loop between
 * them: each target's question walks its own runs by the (app, host, …) indexes, so no statement grows
 * with the whole history (one over every run held serve's event loop ~0.7 s at 200,000 runs). The
 * releases other runs name (a rollback's, a compensation's: usually their own target's, but a
 * `rollback --to` may name any run) are read first, in one pass over the runs that name one.
 */
async function prunableRuns(orm: MikroORM, policy: RetentionPolicy, cutoff: Date | number): Promise<number[]> {
  const connection = orm.em.getConnection();
  const named = await connection.execute<{ release: number }[]>('select distinct "release" from deploy_run where "release" is not null and "release" <> id');
  const kept = new Set(named.map((row) => Number(row.release)));
  await toTheLoop();
  const targets = await connection.execute<{ app: string; host: string }[]>('select distinct app, host from deploy_run');
  await toTheLoop();
  const ids: number[] = [];
  for (const { app, host } of targets) {
    const rows = await connection.execute<{ id: number }[]>(
      `select id from deploy_run
       where app = ? and host = ? and queued_at < ? and status not in ('queued', 'running')
         and id < (select id from deploy_run where app = ? and host = ? order by id desc limit 1 offset ?)
         and id <> coalesce((select max(id) from deploy_run where app = ? and host = ? and status = 'success'), 0)`,
      [app, host, cutoff, app, host, policy.keepRuns - 1, app, host],
    );
    // One at a time: a target can have more runs to go than a call takes arguments (push(...rows)).
    for (const { id } of rows) if (!kept.has(Number(id))) ids.push(Number(id));
    await toTheLoop();
  }
  return ids.sort((x, y) => x - y);
}

export async function pruneHistory(orm: MikroORM, dbPath: string, policy: RetentionPolicy, options: { dryRun?: boolean; reclaim?: Reclaim; now?: number } = {}): Promise<PruneReport> {
  const { dryRun = false, reclaim = 'incremental', now = Date.now() } = options;
  const connection = orm.em.getConnection();
  const postgres = databaseKind(dbPath) === 'postgresql';
  const bytesBefore = await databaseBytes(orm, dbPath);
  // Runs and deliveries received before this go (as the database compares times).
  const cutoff = postgres ? new Date(now - policy.keepDays * DAY_MS) : now - policy.keepDays * DAY_MS;
  const ids = await prunableRuns(orm, policy, cutoff);
  let steps = 0;
  const store = new RunStore(orm); // one: its plain statements are prepared once, not per batch
  for (let i = 0; i < ids.length; i += BATCH) {
    const batch = ids.slice(i, i + BATCH);
    const marks = batch.map(() => '?').join(', ');
    const [{ count }] = await connection.execute<{ count: number }[]>(`select count(*) as count from step_run where run_id in (${marks})`, batch);
    steps += Number(count);
    if (!dryRun) await store.deleteFinishedRuns(batch);
    await toTheLoop();
  }
  const where = `received_at < ? and status <> 'resolving'`;
  const [{ count: deliveries }] = await connection.execute<{ count: number }[]>(`select count(*) as count from webhook_delivery where ${where}`, [cutoff]);
  if (!dryRun) {
    // (by id, BATCH at a time: received_at has no index, so each delete stops after BATCH rows)
    for (let left = Number(deliveries); left > 0; left -= BATCH) {
      await connection.execute(`delete from webhook_delivery where id in (select id from webhook_delivery where ${where} limit ${BATCH})`, [cutoff]);
      await toTheLoop();
    }
    if (!postgres && (ids.length || Number(deliveries) || reclaim === 'full')) await reclaimSpace(orm, reclaim);
  }
  return { dryRun, runs: ids.length, steps, deliveries: Number(deliveries), bytesBefore, bytesAfter: dryRun ? bytesBefore : await databaseBytes(orm, dbPath) };
}

/** Gives free pages back to the file system (see Reclaim), then empties the WAL into the file. */
async function reclaimSpace(orm: MikroORM, reclaim: Reclaim): Promise<void> {
  const connection = orm.em.getConnection();
  const [{ auto_vacuum: mode }] = await connection.execute<{ auto_vacuum: number }[]>('pragma auto_vacuum');
  if (Number(mode) === 2) {
    const free = async () => Number((await connection.execute<{ freelist_count: number }[]>('pragma freelist_count'))[0].freelist_count);
    for (let pages = await free(), before = Infinity; pages > 0 && pages < before; before = pages, pages = await free()) {
      await execSqlite(orm, `pragma incremental_vacuum(${VACUUM_PAGES})`);
      await toTheLoop();
    }
  } else if (reclaim === 'full') {
    await connection.execute('pragma auto_vacuum = incremental');
    await connection.execute('vacuum');
  }
  await connection.execute('pragma wal_checkpoint(truncate)');
}

/** One line for people: what went (or would go), and the file's size. */
export function describePrune(report: PruneReport): string {
  const mb = (bytes: number) => `${(bytes / 1024 / 1024).toFixed(1)} MB`;
  const what = `${report.runs} run(s) (${report.steps} step(s)) and ${report.deliveries} webhook deliver${report.deliveries === 1 ? 'y' : 'ies'}`;
  return report.dryRun ? `would prune ${what}; database ${mb(report.bytesBefore)}` : `pruned ${what}; database ${mb(report.bytesBefore)} → ${mb(report.bytesAfter)}`;
}

/**
 * `serve`'s background pruning: soon after start, then every `intervalMs`, on unref'd timers (they
 * never keep the process alive). A failure is logged and tried again at the next tick. stop() waits
 * for a prune under way.
 */
export function startPruning(options: {
  orm: MikroORM;
  dbPath: string;
  policy: RetentionPolicy;
  intervalMs: number;
  firstAfterMs?: number;
  onPruned?: (report: PruneReport) => void;
  onError?: (error: unknown) => void;
}): { stop: () => Promise<void> } {
  let timer: NodeJS.Timeout | undefined;
  let running: Promise<void> | undefined;
  let stopped = false;
  const tick = () => {
    running = pruneHistory(options.orm, options.dbPath, options.policy)
      .then((report) => options.onPruned?.(report), (error) => options.onError?.(error))
      .finally(() => {
        running = undefined;
        if (!stopped) schedule(options.intervalMs);
      });
  };
  const schedule = (ms: number) => {
    timer = setTimeout(tick, ms);
    timer.unref();
  };
  schedule(options.firstAfterMs ?? 10_000);
  return {
    async stop() {
      stopped = true;
      clearTimeout(timer);
      await running;
    },
  };
}
