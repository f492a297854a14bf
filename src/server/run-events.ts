import type { Request, Response } from 'express';
import type { RunEvent } from '../engine/events.ts';
import type { Executor } from '../engine/executor.ts';
import { isFinished, OUTPUT_LIMIT_BYTES, type RunResult, type RunStore, type RunView } from '../engine/run-store.ts';
import { HttpError } from './errors.ts';
import { openEventStream, sendEvent } from './sse.ts';

const POLL_MS = 500;

const send = sendEvent;

function resultOf({ id, status, failed_step, error, duration_ms, trace_id, rolled_back }: RunView): RunResult {
  return { id, status, failed_step, error, duration_ms, trace_id, rolled_back };
}

/**
 * Server-Sent Events of one run: `step` (status changes), `output` (lines), `run` (status changes),
 * ending with `result`. A client that connects late first gets what already happened: from this
 * process's memory when it runs the run, else from the database (polled until the run ends).
 */
export async function streamRunEvents(deps: { store: RunStore; executor: Executor }, runId: number, req: Request, res: Response): Promise<void> {
  // Without outputs: the polls below read a step's output once, when it has finished.
  const initial = await deps.store.findRun(runId, 0);
  if (!initial) throw new HttpError(404, `no run #${runId}`);
  openEventStream(res);

  let ended = false;
  const end = () => {
    if (ended) return;
    ended = true;
    watch?.stop();
    res.end();
  };
  const forward = (event: RunEvent) => {
    if (ended) return;
    const { type, ...data } = event;
    send(res, type, data);
    if (event.type === 'run' && event.result) {
      send(res, 'result', event.result);
      end();
    }
  };
  const watch = deps.executor.watchRun(runId, forward);
  res.on('close', end); // the client went away (a request's own 'close' fires as soon as its body has been read)
  if (watch) {
    for (const event of watch.replay) forward(event);
    return;
  }

  // A run this process does not know: replay the database, then poll it until the run ends. Each poll
  // reads statuses only; a step's output (its last 64 KiB) is read once, when the step has finished.
  const sent = new Map<string, string>();
  const replayFromDatabase = async (run: RunView) => {
    const changed = run.steps.filter((step) => sent.get(step.step) !== step.status);
    const finished = changed.filter((step) => isFinished(step.status) && step.status !== 'pending').map((step) => step.step);
    const outputs = await deps.store.stepOutputs(runId, finished, OUTPUT_LIMIT_BYTES);
    if (ended) return;
    for (const step of changed) {
      for (const line of (outputs.get(step.step) ?? '').split('\n').filter(Boolean)) send(res, 'output', { run_id: runId, step: step.step, line });
      send(res, 'step', { run_id: runId, step: step.step, status: step.status, duration_ms: step.duration_ms, exit_code: step.exit_code, error: step.error });
      sent.set(step.step, step.status);
    }
  };
  let run: RunView | null = initial;
  while (run && !ended) {
    await replayFromDatabase(run);
    if (ended) return;
    if (isFinished(run.status)) {
      send(res, 'result', resultOf(run));
      return end();
    }
    await new Promise((resolve) => setTimeout(resolve, POLL_MS));
    run = await deps.store.findRun(runId, 0);
  }
}
