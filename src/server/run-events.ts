import type { Request, Response } from 'express';
import type { MikroORM } from '@mikro-orm/sqlite';
import type { Executor, ExecutorEvent } from '../engine/executor.ts';
import { findRun, isFinished, type RunView } from '../engine/run-store.ts';
import { HttpError } from './app.ts';

const POLL_MS = 500;

function send(res: Response, event: string, data: unknown): void {
  res.write(`event: ${event}\ndata: ${JSON.stringify(data)}\n\n`);
}

function resultOf(run: RunView) {
  return { runId: run.id, status: run.status, failedStep: run.failed_step, error: run.error, durationMs: run.duration_ms };
}

/**
 * Server-Sent Events of one run: `step` (status changes), `output` (lines), `run` (status changes),
 * ending with `result`. A client that connects late first gets what already happened: from this
 * process's memory when it runs the run, else from the database (polled until the run ends).
 */
export async function streamRunEvents(deps: { orm: MikroORM; executor: Executor }, runId: number, req: Request, res: Response): Promise<void> {
  const initial = await findRun(deps.orm.em.fork(), runId, 64 * 1024);
  if (!initial) throw new HttpError(404, `no run #${runId}`);
  res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache', connection: 'keep-alive', 'x-accel-buffering': 'no' });
  res.flushHeaders();

  let ended = false;
  const end = () => {
    if (ended) return;
    ended = true;
    watch?.stop();
    res.end();
  };
  const forward = (event: ExecutorEvent) => {
    if (ended) return;
    const { type, ...data } = event;
    send(res, type, data);
    if (event.type === 'run' && event.outcome) {
      send(res, 'result', event.outcome);
      end();
    }
  };
  const watch = deps.executor.watchRun(runId, forward);
  req.on('close', end);
  if (watch) {
    for (const event of watch.replay) forward(event);
    return;
  }

  // A run this process does not know: replay the database, then poll it until the run ends.
  let sent = new Map<string, string>();
  const replayFromDatabase = (run: RunView) => {
    for (const step of run.steps) {
      if (sent.get(step.step) === step.status) continue;
      if (isFinished(step.status) && step.status !== 'pending') {
        for (const line of step.output.split('\n').filter(Boolean)) send(res, 'output', { runId, step: step.step, line });
      }
      send(res, 'step', { runId, step: step.step, status: step.status, durationMs: step.duration_ms, exitCode: step.exit_code, error: step.error });
      sent = new Map(sent).set(step.step, step.status);
    }
  };
  let run: RunView | null = initial;
  while (run && !ended) {
    replayFromDatabase(run);
    if (isFinished(run.status)) {
      send(res, 'result', resultOf(run));
      return end();
    }
    await new Promise((resolve) => setTimeout(resolve, POLL_MS));
    run = await findRun(deps.orm.em.fork(), runId, 64 * 1024);
  }
}
