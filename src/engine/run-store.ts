import type { EntityManager } from '@mikro-orm/sqlite';
import { DeployRun } from '../db/entities/DeployRun.ts';
import { StepRun } from '../db/entities/StepRun.ts';
import { tail } from '../support/redact.ts';

export interface StepView {
  step: string;
  status: string;
  started_at: string | null;
  duration_ms: number | null;
  exit_code: number | null;
  error: string | null;
  output: string;
}

export interface RunView {
  id: number;
  app: string;
  host: string;
  strategy: string;
  trigger: string;
  status: string;
  ref: string | null;
  commit: string | null;
  error: string | null;
  failed_step: string | null;
  duration_ms: number | null;
  queued_at: string;
  started_at: string | null;
  finished_at: string | null;
  trace_id: string | null;
  steps: StepView[];
}

const iso = (date: Date | null | undefined) => (date ? date.toISOString() : null);

function viewRun(run: DeployRun, steps: StepRun[], outputBytes: number): RunView {
  return {
    id: run.id,
    app: run.app,
    host: run.host,
    strategy: run.strategy,
    trigger: run.trigger,
    status: run.status,
    ref: run.ref ?? null,
    commit: run.commit ?? null,
    error: run.error ?? null,
    failed_step: run.failed_step ?? null,
    duration_ms: run.duration_ms ?? null,
    queued_at: run.queued_at.toISOString(),
    started_at: iso(run.started_at),
    finished_at: iso(run.finished_at),
    trace_id: run.trace_id ?? null,
    steps: steps.map((s) => ({
      step: s.step,
      status: s.status,
      started_at: iso(s.started_at),
      duration_ms: s.duration_ms ?? null,
      exit_code: s.exit_code ?? null,
      error: s.error ?? null,
      output: tail(s.output, outputBytes),
    })),
  };
}

/** The newest runs (of one app, or all), each with its steps; step output cut to its last `outputBytes`. */
export async function listRuns(em: EntityManager, options: { app?: string; limit: number; outputBytes: number }): Promise<RunView[]> {
  const runs = await em.find(DeployRun, options.app ? { app: options.app } : {}, { orderBy: { id: 'desc' }, limit: options.limit });
  const steps = runs.length ? await em.find(StepRun, { run: { $in: runs.map((r) => r.id) } }, { orderBy: { id: 'asc' } }) : [];
  return runs.map((run) => viewRun(run, steps.filter((s) => s.run.id === run.id), options.outputBytes));
}

export async function findRun(em: EntityManager, id: number, outputBytes: number): Promise<RunView | null> {
  const run = await em.findOne(DeployRun, { id });
  if (!run) return null;
  return viewRun(run, await em.find(StepRun, { run: id }, { orderBy: { id: 'asc' } }), outputBytes);
}

export function isFinished(status: string): boolean {
  return !['queued', 'running'].includes(status);
}
