// The run store: every write of runs and steps, and the one outward shape of a run (RunView) that the
// API, the SSE stream, the CLI's --json and the dashboard all use. Field names are snake_case, as in
// the database.
import type { EntityManager, MikroORM } from '../db/orm.ts';
import { dateOfRaw, plainSql, type PlainSql } from '../db/plain-sql.ts';
import { DeployRun, type RunStatus, type Trigger } from '../db/entities/DeployRun.ts';
import { StepRun } from '../db/entities/StepRun.ts';
import { NotificationAttempt } from '../db/entities/NotificationAttempt.ts';
import type { PastRun, RunRecord } from './pipeline.ts';
import type { HistoryRun, RunChange, RunResult, RunView, StepView } from './run-view.ts';

/**
 * A running run's lease: its owner renews it every LEASE_RENEW_MS while the run lives; once it has
 * lapsed (the owner's database writes fail, the owner hangs) the run holds its target no more.
 */
export const LEASE_MS = 30_000;
export const LEASE_RENEW_MS = 10_000;

export { OUTPUT_LIMIT_BYTES } from '../transport/output-tail.ts';

export type { HistoryRun, RunChange, RunResult, RunView, StepView } from './run-view.ts';

/** What a new run is queued with. */
export type NewRun = Pick<RunView, 'app' | 'host' | 'strategy' | 'trigger' | 'ref' | 'commit' | 'rollback_to'> & Partial<Pick<RunView, 'forced' | 'repository'>>;

/** A run that ends before it starts (superseded, cancelled while queued, shut down), and why. */
export interface UnstartedEnd {
  id: number;
  status: RunStatus;
  reason: string;
}

const iso = (date: Date | null | undefined) => (date ? date.toISOString() : null);

/** A datetime column as read raw, as ISO text (or null). */
const isoOfRaw = (value: unknown): string | null => (value === null || value === undefined ? null : dateOfRaw(value).toISOString());

/** The result of a run that ended without running a step (superseded, cancelled, skipped, shut down, failed to record). */
export function endedResult(id: number, status: RunStatus, error: string, duration_ms: number | null = 0): RunResult {
  return { id, status, failed_step: null, error, duration_ms, trace_id: null, rolled_back: false };
}

export function isFinished(status: string): boolean {
  return !['queued', 'running'].includes(status);
}

function resultOf(run: DeployRun): RunResult {
  return {
    id: run.id,
    status: run.status,
    failed_step: run.failed_step ?? null,
    error: run.error ?? null,
    duration_ms: run.duration_ms ?? null,
    trace_id: run.trace_id ?? null,
    rolled_back: run.rolled_back,
  };
}

/** A step without its output column (read apart, cut in SQL: see RunStore.outputTails). */
const STEP_FIELDS = ['id', 'run', 'step', 'status', 'started_at', 'duration_ms', 'exit_code', 'error'] as const;

type StepRow = Omit<StepRun, 'output'>;

function viewStep(step: StepRow, output: string): StepView {
  return {
    step: step.step,
    status: step.status,
    started_at: iso(step.started_at),
    duration_ms: step.duration_ms ?? null,
    exit_code: step.exit_code ?? null,
    error: step.error ?? null,
    output,
  };
}

function viewRun(run: DeployRun, steps: StepRow[], outputs: ReadonlyMap<number, string>): RunView {
  return {
    ...resultOf(run),
    app: run.app,
    host: run.host,
    strategy: run.strategy,
    trigger: run.trigger,
    ref: run.ref ?? null,
    commit: run.commit ?? null,
    commit_before: run.commit_before ?? null,
    commit_after: run.commit_after ?? null,
    release: run.release ?? null,
    rollback_to: run.rollback_to ?? null,
    forced: run.forced,
    repository: run.repository ?? null,
    queued_at: run.queued_at.toISOString(),
    started_at: iso(run.started_at),
    finished_at: iso(run.finished_at),
    steps: steps.map((step) => viewStep(step, outputs.get(step.id) ?? '')),
  };
}

/** Targets per statement where each needs a `select` of its own (SQLite allows 500 in one `union all`). */
const TARGETS_PER_STATEMENT = 100;

/** The columns of a step that updateStep writes (names are never taken from anywhere else). */
const STEP_COLUMNS = new Set(['step', 'status', 'started_at', 'duration_ms', 'exit_code', 'output', 'error']);

/** The columns a new run is written with (the rest keep their defaults), in insertRuns' order. */
const INSERT_COLUMNS = ['app', 'host', 'strategy', 'trigger', 'status', 'ref', 'commit', 'rollback_to', 'forced', 'repository', 'queued_at', 'error', 'finished_at', 'duration_ms', 'owner_pid'] as const;

export class RunStore {
  /** The hot paths' SQL (a run's and each step's writes, a webhook burst's runs): see plain-sql.ts. */
  private readonly sql: PlainSql;

  constructor(private readonly orm: MikroORM) {
    this.sql = plainSql(orm);
  }

  private isPostgres(): boolean {
    return this.orm.config.get('driver')?.name === 'PostgreSqlDriver';
  }

  private em(): EntityManager {
    return this.orm.em.fork();
  }

  // ---- reads ----

  /**
   * The last `bytes` bytes of each step's output, cut by SQLite: a request never holds more than that
   * per step, however large the stored outputs (the bytes are decoded here, as `tail` would).
   */
  private async outputTails(em: EntityManager, stepIds: number[], bytes: number): Promise<Map<number, string>> {
    if (bytes <= 0 || stepIds.length === 0) return new Map();
    const ids = stepIds.map(() => '?').join(', ');
    // The same cut in each database's SQL: SQLite's substr counts a blob's bytes from the end; PostgreSQL cuts the UTF-8 bytes.
    const sql = this.isPostgres()
      ? `select id, substring(convert_to(output, 'UTF8') from greatest(octet_length(convert_to(output, 'UTF8')) - ? + 1, 1)) as tail from step_run where id in (${ids})`
      : `select id, substr(cast(output as blob), ?) as tail from step_run where id in (${ids})`;
    const rows = await em.getConnection().execute<{ id: number; tail: Buffer | string | null }[]>(sql, [this.isPostgres() ? bytes : -bytes, ...stepIds]);
    return new Map(rows.map((row) => [row.id, row.tail === null ? '' : Buffer.isBuffer(row.tail) ? row.tail.toString('utf8') : row.tail]));
  }

  /** The newest runs (of one app, or all), each with its steps; step output cut to its last `outputBytes`. */
  async listRuns(options: { app?: string; host?: string; limit: number; outputBytes: number }): Promise<RunView[]> {
    const em = this.em();
    const where = { ...(options.app ? { app: options.app } : {}), ...(options.host ? { host: options.host } : {}) };
    const runs = await em.find(DeployRun, where, { orderBy: { id: 'desc' }, limit: options.limit });
    const steps = runs.length ? await em.find(StepRun, { run: { $in: runs.map((r) => r.id) } }, { orderBy: { id: 'asc' }, fields: [...STEP_FIELDS] }) : [];
    const outputs = await this.outputTails(em, steps.map((step) => step.id), options.outputBytes);
    return runs.map((run) => viewRun(run, steps.filter((s) => s.run.id === run.id), outputs));
  }

  /** One run with its steps, their output cut to the last `outputBytes` (0: no output read at all). */
  async findRun(id: number, outputBytes: number): Promise<RunView | null> {
    const em = this.em();
    const run = await em.findOne(DeployRun, { id });
    if (!run) return null;
    const steps = await em.find(StepRun, { run: id }, { orderBy: { id: 'asc' }, fields: [...STEP_FIELDS] });
    return viewRun(run, steps, await this.outputTails(em, steps.map((step) => step.id), outputBytes));
  }

  /** The output tails of some steps of a run, by step name (what a watcher of a finished step has not seen yet). */
  async stepOutputs(runId: number, steps: string[], outputBytes: number): Promise<Map<string, string>> {
    if (steps.length === 0) return new Map();
    const em = this.em();
    const rows = await em.find(StepRun, { run: runId, step: { $in: steps } }, { fields: ['id', 'step'] });
    const outputs = await this.outputTails(em, rows.map((row) => row.id), outputBytes);
    return new Map(rows.map((row) => [row.step, outputs.get(row.id) ?? '']));
  }

  async findResult(id: number): Promise<RunResult | null> {
    const run = await this.em().findOne(DeployRun, { id });
    return run ? resultOf(run) : null;
  }

  /** A target's runs, newest first, without steps (what `releases` and a rollback choose from). */
  async runsOf(app: string, host: string, options: { before?: number; limit?: number } = {}): Promise<RunView[]> {
    const where = { app, host, ...(options.before ? { id: { $lt: options.before } } : {}) };
    const runs = await this.em().find(DeployRun, where, { orderBy: { id: 'desc' }, limit: options.limit });
    return runs.map((run) => viewRun(run, [], new Map()));
  }

  /**
   * The commit each target runs — that of its last successful run (`commit_after`, else the requested
   * `commit`) — by `app@host`; targets that run no known commit are absent. One statement per
   * TARGETS_PER_STATEMENT targets, each target's run found by the (app, host, status, id) index: the
   * cost does not grow with the history (a webhook batch asks this).
   */
  async deployedCommits(targets: readonly { app: string; host: string }[]): Promise<Map<string, string>> {
    const rows = await this.perTarget<{ app: string; host: string; commit: string | null; commit_after: string | null }>(
      targets,
      `select max(id) from deploy_run where app = ? and host = ? and status = 'success'`,
      (newest) => `select app, host, "commit", commit_after from deploy_run where id in (${newest})`,
    );
    return new Map(rows.flatMap((row) => {
      const commit = row.commit_after ?? row.commit;
      return commit ? [[`${row.app}@${row.host}`, commit] as const] : [];
    }));
  }

  /**
   * The rows of `wrap(selects)` for every distinct target, TARGETS_PER_STATEMENT targets per statement:
   * `select` once per target (its values: the target's app and host, then `extra`), joined by `union all`.
   */
  private async perTarget<T>(targets: readonly { app: string; host: string }[], select: string, wrap: (selects: string) => string, extra: readonly unknown[] = []): Promise<T[]> {
    const distinct = [...new Map(targets.map((t) => [`${t.app}\n${t.host}`, t])).values()];
    const rows: T[] = [];
    for (let i = 0; i < distinct.length; i += TARGETS_PER_STATEMENT) {
      const chunk = distinct.slice(i, i + TARGETS_PER_STATEMENT);
      rows.push(...(await this.sql.all<T>(wrap(chunk.map(() => select).join(' union all ')), chunk.flatMap((t) => [t.app, t.host, ...extra]))));
    }
    return rows;
  }

  /**
   * The target's runs before `before` that a rollback chooses from, newest first: those that shipped a
   * release or left a commit (releases.ts reads nothing else of a run, and finds nothing in the rest:
   * the superseded and skipped runs that are most of a busy target's history). Plain SQL, not hydrated.
   */
  async pastRuns(app: string, host: string, before: number): Promise<PastRun[]> {
    const rows = await this.sql.all<PastRun & { rolled_back: unknown }>(
      `select id, "trigger", status, commit_after, "release", rolled_back from deploy_run
       where app = ? and host = ? and id < ? and (commit_after is not null or "release" is not null) order by id desc`,
      [app, host, before],
    );
    return rows.map((r) => ({ ...r, id: Number(r.id), release: r.release === null ? null : Number(r.release), rolled_back: Boolean(r.rolled_back) }));
  }

  /** The newest run id, and the runs not yet ended: where a watcher of every run starts. */
  async runStates(): Promise<{ lastId: number; active: { id: number; status: RunStatus }[] }> {
    const em = this.em();
    const [last] = await em.find(DeployRun, {}, { orderBy: { id: 'desc' }, limit: 1, fields: ['id'] });
    const active = await em.find(DeployRun, { status: { $in: ['queued', 'running'] } }, { fields: ['id', 'status'] });
    return { lastId: last?.id ?? 0, active: active.map(({ id, status }) => ({ id, status })) };
  }

  /** Runs newer than `afterId`, and the runs `ids` (the ones still going), oldest first. */
  async runChanges(afterId: number, ids: number[]): Promise<RunChange[]> {
    const runs = await this.em().find(
      DeployRun,
      { $or: [{ id: { $gt: afterId } }, ...(ids.length ? [{ id: { $in: ids } }] : [])] },
      { orderBy: { id: 'asc' }, fields: ['id', 'app', 'host', 'status', 'trace_id'] },
    );
    return runs.map((run) => ({ run_id: run.id, app: run.app, host: run.host, status: run.status, trace_id: run.trace_id ?? null }));
  }

  /**
   * The newest `limit` runs of each configured target, newest first, without hydrating entities (the
   * dashboard's grid, drawn again after every run change). Each target's runs come from the
   * (app, host, id) index: the cost does not grow with the history.
   */
  async targetHistory(limit: number): Promise<HistoryRun[]> {
    const targets = await this.sql.all<{ app: string; host: string }>('select app, host from deploy_target');
    const rows = await this.perTarget<Record<string, unknown>>(
      targets,
      `select * from (select id, app, host, "trigger", status, "commit", error, duration_ms, queued_at, finished_at, rolled_back
         from deploy_run where app = ? and host = ? order by id desc limit ?) as recent`,
      (selects) => selects,
      [limit],
    );
    return rows
      .map((row) => ({ ...row, id: Number(row.id), queued_at: isoOfRaw(row.queued_at)!, finished_at: isoOfRaw(row.finished_at), rolled_back: Boolean(row.rolled_back) }) as HistoryRun)
      .sort((a, b) => b.id - a.id);
  }

  // ---- writes ----

  /** Queues runs in one statement; their ids, in the order given. */
  async queue(runs: NewRun[], ownerPid: number): Promise<number[]> {
    const queuedAt = new Date();
    return this.insertRuns(runs.map((run) => ({ ...run, status: 'queued' as const, queued_at: queuedAt, owner_pid: ownerPid })));
  }

  /** Inserts runs in one statement of plain SQL (a webhook's burst comes through here); their ids, in the order given. */
  private async insertRuns(rows: (NewRun & Pick<DeployRun, 'status' | 'queued_at'> & Partial<Pick<DeployRun, 'error' | 'finished_at' | 'duration_ms' | 'owner_pid'>>)[]): Promise<number[]> {
    if (rows.length === 0) return [];
    const values = rows.map(() => `(${INSERT_COLUMNS.map(() => '?').join(', ')})`).join(', ');
    const params = rows.flatMap((row) => [
      row.app, row.host, row.strategy, row.trigger, row.status, row.ref, row.commit, row.rollback_to, row.forced ?? false,
      row.repository ?? null, row.queued_at, row.error ?? null, row.finished_at ?? null, row.duration_ms ?? null, row.owner_pid ?? null,
    ]);
    const inserted = await this.sql.all<{ id: number }>(
      `insert into deploy_run (${INSERT_COLUMNS.map((c) => `"${c}"`).join(', ')}) values ${values} returning id`, params);
    // Ids grow in insertion order, whatever order RETURNING lists them in.
    return inserted.map((row) => Number(row.id)).sort((a, b) => a - b);
  }

  /**
   * Records runs that were asked for but not run (a lock held, a skip marker): status `skipped`, the
   * reason as their error, in one statement; their ids, in the order given.
   */
  async recordSkipped(runs: (NewRun & { reason: string })[]): Promise<number[]> {
    const now = new Date();
    return this.insertRuns(runs.map(({ reason, ...run }) => ({ ...run, status: 'skipped' as const, error: reason, queued_at: now, finished_at: now, duration_ms: 0 })));
  }

  /**
   * Deletes finished runs with their steps and notification attempts, in one transaction (retention).
   * Re-checked at delete time: a run another process has just re-queued is not touched.
   */
  async deleteFinishedRuns(ids: number[]): Promise<void> {
    if (ids.length === 0) return;
    await this.em().transactional(async (em) => {
      const finished = await em.find(DeployRun, { id: { $in: ids }, status: { $nin: ['queued', 'running'] } }, { fields: ['id'] });
      const gone = finished.map((run) => run.id);
      if (gone.length === 0) return;
      // Steps and attempts cascade from the run when foreign keys are on; deleted here whatever the pragmas.
      await em.nativeDelete(StepRun, { run: { $in: gone } });
      await em.nativeDelete(NotificationAttempt, { run: { $in: gone } });
      await em.nativeDelete(DeployRun, { id: { $in: gone } });
    });
  }

  /** Ends runs that never started: one write for all (plain SQL: each superseded run of a burst comes through here). */
  async endUnstarted(runs: UnstartedEnd[]): Promise<void> {
    if (runs.length === 0) return;
    const byId = runs.map(() => 'when ? then ?').join(' ');
    await this.sql.run(
      `update deploy_run set status = case id ${byId} end, error = case id ${byId} end, finished_at = ?, duration_ms = 0 where id in (${runs.map(() => '?').join(', ')})`,
      [...runs.flatMap((run) => [run.id, run.status]), ...runs.flatMap((run) => [run.id, run.reason]), new Date(), ...runs.map((run) => run.id)],
    );
  }

  async setStatus(id: number, status: 'queued' | 'running', leaseMs = LEASE_MS): Promise<void> {
    await this.sql.run('update deploy_run set status = ?, lease_until = ? where id = ?', [status, status === 'running' ? new Date(Date.now() + leaseMs) : null, id]);
  }

  /** Extends a running run's lease (see LEASE_MS). */
  async renewLease(id: number, leaseMs = LEASE_MS): Promise<void> {
    await this.sql.run(`update deploy_run set lease_until = ? where id = ? and status = 'running'`, [new Date(Date.now() + leaseMs), id]);
  }

  /**
   * The final write of a run whose database writes failed mid-run: `failure` with `error`, its running
   * steps failed, its pending ones skipped. Only while it is still unfinished in the database.
   */
  async failUnfinished(id: number, error: string, finishedAt: Date): Promise<void> {
    await this.em().transactional(async (em) => {
      const changed = await em.nativeUpdate(DeployRun, { id, status: { $in: ['queued', 'running'] } }, { status: 'failure', error, finished_at: finishedAt, lease_until: null });
      if (changed) await endSteps(em, [id], { running: 'failure', error, skipped: 'skipped: the run failed' });
    });
  }

  /** Marks a run running and writes its steps as `pending`; returns each step's row id. */
  async start(id: number, startedAt: Date, traceId: string | null, steps: readonly string[]): Promise<Map<string, number>> {
    // Already `running` (tryClaim took it): the start time and the trace are what is new.
    await this.sql.run('update deploy_run set started_at = ?, trace_id = ? where id = ?', [startedAt, traceId, id]);
    const rows = await this.sql.all<{ id: number; step: string }>(
      `insert into step_run (run_id, step, status, output) values ${steps.map(() => `(?, ?, 'pending', '')`).join(', ')} returning id, step`,
      steps.flatMap((step) => [id, step]),
    );
    return new Map(rows.map((row) => [row.step, Number(row.id)]));
  }

  /**
   * A step's row, while its run is unfinished: a run that ended meanwhile (another server interrupted
   * it when this one's lease lapsed) keeps the steps as that end wrote them.
   */
  async updateStep(stepRowId: number, changes: Partial<Omit<StepRun, 'run' | 'id'>>): Promise<void> {
    const columns = Object.entries(changes).filter(([column]) => STEP_COLUMNS.has(column));
    if (columns.length === 0) return;
    await this.sql.run(
      `update step_run set ${columns.map(([column]) => `"${column}" = ?`).join(', ')} where id = ? and exists (select 1 from deploy_run r where r.id = run_id and r.status in ('queued', 'running'))`,
      [...columns.map(([, value]) => value ?? null), stepRowId],
    );
  }

  /** Facts a step writes on its run (the release it shipped, the commits it moved between), while it is unfinished. */
  async record(id: number, fields: RunRecord): Promise<void> {
    const columns = (Object.keys(fields) as (keyof RunRecord)[]).filter((column) => fields[column] !== undefined);
    if (columns.length === 0) return;
    await this.sql.run(
      `update deploy_run set ${columns.map((column) => `"${column}" = ?`).join(', ')} where id = ? and status in ('queued', 'running')`,
      [...columns.map((column) => fields[column]), id],
    );
  }

  /**
   * The final write of a run, only while it is unfinished: false when it had ended already (another
   * server interrupted it: its lease lapsed while this one stalled), and that end stays.
   */
  async finish(result: RunResult, finishedAt: Date): Promise<boolean> {
    const { id, status, error, failed_step, duration_ms, rolled_back } = result;
    const changed = await this.sql.run(
      `update deploy_run set status = ?, error = ?, failed_step = ?, finished_at = ?, duration_ms = ?, rolled_back = ?, lease_until = null where id = ? and status in ('queued', 'running')`,
      [status, error, failed_step, finishedAt, duration_ms, rolled_back, id],
    );
    return changed > 0;
  }

  // ---- ownership (the cross-process rules) ----

  /**
   * Takes the target for a queued run, or does not, in one statement: the run becomes `running` (with
   * a lease) only if no other run of the target is `running` with a lease that holds. The database runs
   * one write at a time, so two processes can never both take it. Returns whether it did.
   */
  async tryClaim(id: number, app: string, host: string, leaseMs = LEASE_MS): Promise<boolean> {
    const now = new Date();
    const taken = await this.sql.run(
      `update deploy_run set status = 'running', lease_until = ? where id = ? and status = 'queued'
       and not exists (select 1 from deploy_run other where other.app = ? and other.host = ? and other.status = 'running' and other.id <> ? and other.lease_until > ?)`,
      [new Date(now.getTime() + leaseMs), id, app, host, id, now],
    );
    return taken === 1;
  }

  /**
   * Owner pids of the target's older `running` runs that hold no lease: written by a process of an
   * earlier version, they hold the target while that process lives.
   */
  async leaselessRunningOwners(app: string, host: string, id: number): Promise<(number | null)[]> {
    // Plain SQL: every run asks this before it claims its target (an ORM query cost ~2 ms of the event loop).
    const others = await this.sql.all<{ owner_pid: number | null }>(
      `select owner_pid from deploy_run where app = ? and host = ? and status = 'running' and id < ? and lease_until is null`,
      [app, host, id],
    );
    return others.map((run) => (run.owner_pid === null ? null : Number(run.owner_pid)));
  }

  /**
   * Marks runs whose owner is gone (`isOwnerAlive` says no) as `interrupted`, with their unfinished
   * steps. Returns their ids.
   */
  async interruptOrphans(isOwnerAlive: (pid: number | null) => boolean): Promise<number[]> {
    const em = this.em();
    const unfinished = await em.find(DeployRun, { status: { $in: ['queued', 'running'] } }, { fields: ['id', 'owner_pid'] });
    const ids = unfinished.filter((run) => !isOwnerAlive(run.owner_pid ?? null)).map((run) => run.id);
    if (ids.length === 0) return [];
    const why = 'interrupted: the deploy_server process running it stopped';
    // One transaction: a crash half-way must not leave steps `running` under an interrupted run.
    await em.transactional(async (tx) => {
      await tx.nativeUpdate(DeployRun, { id: { $in: ids } }, { status: 'interrupted', finished_at: new Date(), error: why });
      await endSteps(tx, ids, { running: 'cancelled', error: why, skipped: 'skipped: run interrupted' });
    });
    return ids;
  }

  // ---- the shared queue (PostgreSQL: several servers on one database) ----
  // PostgreSQL's SQL only: SQLite has one machine, and the executor's slots and the pid claim above.

  private knex() {
    return this.orm.em.getKnex();
  }

  /**
   * Ends the queued runs that the new runs replace (older queued runs of the same target), whichever
   * server queued them: one statement. Returns them with the run that replaced each.
   */
  async supersedeQueued(runs: { id: number; app: string; host: string }[]): Promise<{ id: number; by: number; app: string; host: string }[]> {
    if (runs.length === 0) return [];
    const newest = new Map<string, { id: number; app: string; host: string }>();
    for (const run of runs) if ((newest.get(`${run.app}@${run.host}`)?.id ?? 0) < run.id) newest.set(`${run.app}@${run.host}`, run);
    const values = [...newest.values()];
    const { rows } = await this.knex().raw(
      `update deploy_run d set status = 'cancelled', finished_at = now(), duration_ms = 0,
         error = 'superseded by run #' || n.id || ', a newer deploy request for ' || d.app || '@' || d.host
       from (values ${values.map(() => '(?::int, ?::text, ?::text)').join(', ')}) as n(id, app, host)
       where d.app = n.app and d.host = n.host and d.status = 'queued' and d.id < n.id
       returning d.id, n.id as by, d.app, d.host`,
      values.flatMap((run) => [run.id, run.app, run.host]),
    );
    return rows as { id: number; by: number; app: string; host: string }[];
  }

  /**
   * Takes the newest queued run of a target for `owner`, when the target runs nothing and the limits
   * (running runs of every server together) leave a place: marks it running, and ends the older queued
   * runs of the target as superseded by it. Serialised across servers by one advisory lock, held for
   * the few statements of the transaction.
   */
  async claimNext(app: string, host: string, owner: string, limits: { hostConcurrency: number; maxConcurrency: number }, onlyIds?: number[]): Promise<ClaimResult> {
    return this.knex().transaction(async (trx) => {
      await trx.raw('select pg_advisory_xact_lock(?)', [CLAIM_LOCK_KEY]);
      const { rows: [next] } = await trx.raw(`select id, "trigger", ref, "commit", rollback_to from deploy_run where app = ? and host = ? and status = 'queued' order by id desc limit 1`, [app, host]);
      // `onlyIds`: the newest queued run must be one of these (a newer one is another requester's to run).
      if (!next || (onlyIds && !onlyIds.includes(next.id))) return { kind: 'none' } as const;
      const { rows: [counts] } = await trx.raw(
        `select count(*)::int as total, (count(*) filter (where host = ?))::int as on_host, (count(*) filter (where app = ? and host = ?))::int as on_target
         from deploy_run where status = 'running'`,
        [host, app, host],
      );
      if (counts.on_target > 0 || counts.on_host >= limits.hostConcurrency || counts.total >= limits.maxConcurrency) return { kind: 'busy' } as const;
      await trx.raw(`update deploy_run set status = 'running', owner = ?, owner_pid = ? where id = ?`, [owner, process.pid, next.id]);
      const { rows: superseded } = await trx.raw(
        `update deploy_run set status = 'cancelled', finished_at = now(), duration_ms = 0, error = ?
         where app = ? and host = ? and status = 'queued' and id < ? returning id`,
        [`superseded by run #${next.id}, a newer deploy request for ${app}@${host}`, app, host, next.id],
      );
      return {
        kind: 'claimed',
        run: { id: next.id, trigger: next.trigger, ref: next.ref, commit: next.commit, rollback_to: next.rollback_to },
        superseded: (superseded as { id: number }[]).map((row) => row.id),
      } as const;
    });
  }

  /** Renews a server's lease (database time, so the servers' clocks need not agree). */
  async renewServerLease(server: string): Promise<void> {
    await this.knex().raw(
      `insert into deploy_server (id, started_at, heartbeat_at) values (?, now(), now()) on conflict (id) do update set heartbeat_at = now()`,
      [server],
    );
  }

  async dropServerLease(server: string): Promise<void> {
    await this.knex().raw('delete from deploy_server where id = ?', [server]);
  }

  /**
   * Marks running runs whose server's lease is older than `leaseMs` (or gone) as `interrupted`, with
   * their unfinished steps; never retried (a half-done deploy is not idempotent). Returns them.
   */
  async interruptLapsed(leaseMs: number): Promise<{ id: number; app: string; host: string }[]> {
    const why = 'interrupted: the deploy_server running it stopped renewing its lease';
    return this.em().transactional(async (tx) => {
      const rows = await tx.execute<{ id: number; app: string; host: string }[]>(
        `update deploy_run set status = 'interrupted', finished_at = now(), error = ?
         where status = 'running' and owner is not null
           and owner not in (select id from deploy_server where heartbeat_at > now() - ? * interval '1 millisecond')
         returning id, app, host`,
        [why, leaseMs],
      );
      if (rows.length) await endSteps(tx, rows.map((row) => row.id), { running: 'cancelled', error: why, skipped: 'skipped: run interrupted' });
      // Leases lapsed long ago say nothing any more.
      await tx.execute(`delete from deploy_server where heartbeat_at < now() - ? * interval '1 millisecond'`, [leaseMs * 100], 'run');
      return rows;
    });
  }

  /** The targets with a queued run (a server wakes a worker for each: a job lost with a dead server is sent again). */
  async queuedTargets(): Promise<{ app: string; host: string }[]> {
    const { rows } = await this.knex().raw(`select distinct app, host from deploy_run where status = 'queued'`);
    return rows as { app: string; host: string }[];
  }

  /** Cancels a run that has not started. False when it is not queued (any more). */
  async cancelQueued(id: number): Promise<boolean> {
    const { rowCount } = await this.knex().raw(
      `update deploy_run set status = 'cancelled', error = 'cancelled before it started', finished_at = now(), duration_ms = 0 where id = ? and status = 'queued'`,
      [id],
    );
    return rowCount > 0;
  }

  /** Asks the server running a run to cancel it (it polls). False when the run is not running. */
  async requestCancel(id: number): Promise<boolean> {
    const { rowCount } = await this.knex().raw(`update deploy_run set cancel_requested = true where id = ? and status = 'running'`, [id]);
    return rowCount > 0;
  }

  /** The runs of `owner` whose cancel another server asked for. */
  async cancelRequestsFor(owner: string): Promise<number[]> {
    const { rows } = await this.knex().raw(`select id from deploy_run where owner = ? and status = 'running' and cancel_requested`, [owner]);
    return (rows as { id: number }[]).map((row) => row.id);
  }

  /** Of `ids`, the runs that have ended, with how. */
  async endedAmong(ids: number[]): Promise<RunResult[]> {
    if (ids.length === 0) return [];
    const runs = await this.em().find(DeployRun, { id: { $in: ids }, status: { $nin: ['queued', 'running'] } });
    return runs.map(resultOf);
  }
}

/** The steps of runs that ended mid-way: running ones end as `running` says, pending ones are skipped. */
async function endSteps(em: EntityManager, runs: number[], how: { running: 'failure' | 'cancelled'; error: string; skipped: string }): Promise<void> {
  await em.nativeUpdate(StepRun, { run: { $in: runs }, status: 'running' }, { status: how.running, error: how.error });
  await em.nativeUpdate(StepRun, { run: { $in: runs }, status: 'pending' }, { status: 'skipped', error: how.skipped });
}

/** Any number, the same on every server: the advisory lock that serialises claims. */
const CLAIM_LOCK_KEY = 7_318_004_115;

/** What a server's claim of a target found. */
export type ClaimResult =
  | { kind: 'none' }
  | { kind: 'busy' }
  | { kind: 'claimed'; run: { id: number; trigger: Trigger; ref: string | null; commit: string | null; rollback_to: number | null }; superseded: number[] };
