// Running one step: its timeout, its output, its span and its row. Every failure of the step itself
// ends up in the outcome; only the database failing is thrown.
import { trace, type Context, type Tracer } from '@opentelemetry/api';
import type { StepStatus } from '../db/entities/StepRun.ts';
import { ATTR, endSpan } from '../support/telemetry.ts';
import type { Redactor } from '../support/redact.ts';
import type { RunEvents } from './events.ts';
import { createOutputSink } from './output-sink.ts';
import type { DeployContext, StepSpec } from './pipeline.ts';
import type { RunStore } from './run-store.ts';
import type { StepOutcome } from './walk.ts';

export const DEFAULT_STEP_TIMEOUT_MS = 10 * 60 * 1000;

/** What every step of one run shares. */
export interface StepRunContext {
  deploy: DeployContext;
  /** The run's signal: cancel and shutdown. */
  signal: AbortSignal;
  redact: Redactor;
  /** The run span's context: parent of every step span. */
  parent: Context;
  stepRowIds: Map<string, number>;
  store: RunStore;
  events: RunEvents;
  tracer: Tracer;
  defaultTimeoutMs: number;
}

/** Writes a step's row; `running` and `skipped` are announced here, the end by runStep. */
export async function recordStep(run: StepRunContext, step: string, changes: { status: StepStatus; started_at?: Date; error?: string | null }): Promise<void> {
  await run.store.updateStep(run.stepRowIds.get(step)!, changes);
  if (changes.status === 'running' || changes.status === 'skipped') {
    run.events.emit({ type: 'step', run_id: run.deploy.runId, step, status: changes.status, error: changes.error });
  }
}

/** Runs one step to its end: success, failure (a throw, a timeout) or cancelled (the run's signal). */
export async function runStep(run: StepRunContext, id: string, spec: StepSpec, results: Record<string, unknown>): Promise<StepOutcome> {
  const runId = run.deploy.runId;
  const startedAt = new Date();
  await recordStep(run, id, { status: 'running', started_at: startedAt });
  const span = run.tracer.startSpan(`step ${id}`, { attributes: { [ATTR.step]: id } }, run.parent);
  const timeoutMs = spec.timeoutMs ?? run.defaultTimeoutMs;
  const timeout = AbortSignal.timeout(timeoutMs);
  const signal = AbortSignal.any([run.signal, timeout]);
  const output = createOutputSink(run.redact, (line) => run.events.emit({ type: 'output', run_id: runId, step: id, line }));

  let status: StepStatus;
  let value: unknown;
  let error: string | null = null;
  let exitCode: number | null = null;
  try {
    value = await untilAborted(
      spec.run({
        results,
        deploy: run.deploy,
        signal,
        output: output.write,
        telemetry: trace.setSpan(run.parent, span),
        record: (fields) => run.store.record(runId, fields),
      }),
      signal,
    );
    status = 'success';
    exitCode = exitCodeOf(value) ?? 0;
  } catch (thrown) {
    exitCode = exitCodeOf(thrown);
    if (run.signal.aborted) {
      status = 'cancelled';
      error = `cancelled: ${describe(run.signal.reason)}`;
    } else if (timeout.aborted) {
      status = 'failure';
      error = `timed out after ${formatDuration(timeoutMs)}`;
    } else {
      status = 'failure';
      error = describe(thrown);
    }
    error = run.redact(error);
  }
  const durationMs = Date.now() - startedAt.getTime();
  await run.store.updateStep(run.stepRowIds.get(id)!, { status, duration_ms: durationMs, exit_code: exitCode, output: output.close(), error });
  endSpan(span, error ? { message: error } : undefined);
  run.events.emit({ type: 'step', run_id: runId, step: id, status, duration_ms: durationMs, exit_code: exitCode, error });
  return { status, value, error: error ?? undefined };
}

/** Rejects as soon as the signal aborts, even if the step ignores it; a late rejection is swallowed. */
function untilAborted<T>(work: Promise<T>, signal: AbortSignal): Promise<T> {
  work.catch(() => undefined);
  if (signal.aborted) return Promise.reject(signal.reason);
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(signal.reason);
    signal.addEventListener('abort', onAbort, { once: true });
    work.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort));
  });
}

function exitCodeOf(value: unknown): number | null {
  const code = (value as { exitCode?: unknown } | null)?.exitCode;
  return typeof code === 'number' ? code : null;
}

export function describe(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

function formatDuration(ms: number): string {
  return ms % 60000 === 0 ? `${ms / 60000} min` : ms % 1000 === 0 ? `${ms / 1000} s` : `${ms} ms`;
}
