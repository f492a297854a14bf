// What the engine tells watchers while runs go on: the SSE stream, the CLI's live lines and the
// dashboard read these. Field names as in RunView (snake_case).
import type { RunStatus, Trigger } from '../db/entities/DeployRun.ts';
import type { Strategy } from '../db/entities/DeployTarget.ts';
import type { StepStatus } from '../db/entities/StepRun.ts';
import type { RunResult } from './run-store.ts';

/** A `run` event's `strategy` and `trigger` come with `queued` and `skipped` (what metrics label a run with). */
export type RunEvent =
  | { type: 'run'; run_id: number; app: string; host: string; status: RunStatus; trace_id?: string | null; result?: RunResult; strategy?: Strategy; trigger?: Trigger }
  | { type: 'step'; run_id: number; step: string; status: StepStatus; duration_ms?: number; exit_code?: number | null; error?: string | null }
  | { type: 'output'; run_id: number; step: string; line: string };

/** How long a finished run's events stay in memory for late watchers. */
const HISTORY_KEPT_MS = 60_000;
/**
 * Output kept per run in memory for late watchers, in bytes (a line counts its length plus
 * OUTPUT_EVENT_OVERHEAD, so a flood of empty lines is bounded too). Past it the oldest lines are
 * dropped; status events (`run`, `step`) are always kept. The whole output is never needed here: the
 * database keeps each step's tail, and a watcher that joins late sees the newest lines.
 */
export const HISTORY_OUTPUT_BYTES = 1024 * 1024;
const OUTPUT_EVENT_OVERHEAD = 64;

interface History {
  events: RunEvent[];
  /** What the output events in `events` count against HISTORY_OUTPUT_BYTES. */
  outputBytes: number;
}

function outputCost(event: RunEvent): number {
  return event.type === 'output' ? event.line.length + OUTPUT_EVENT_OVERHEAD : 0;
}

/** Drops the oldest output lines until the run's output is within 3/4 of the bound: one pass, now and then. */
function trim(history: History, limit: number): void {
  let excess = history.outputBytes - Math.floor((limit * 3) / 4);
  history.events = history.events.filter((event) => {
    if (excess <= 0 || event.type !== 'output') return true;
    const cost = outputCost(event);
    excess -= cost;
    history.outputBytes -= cost;
    return false;
  });
}

/** Fans events out to subscribers, and keeps each known run's events a while for late watchers. */
export class RunEvents {
  private readonly listeners = new Set<(event: RunEvent) => void>();
  private readonly history = new Map<number, History>();

  constructor(private readonly outputBytesPerRun = HISTORY_OUTPUT_BYTES) {}

  /** Starts keeping a run's events (from its `queued` event on). */
  track(runId: number): void {
    this.history.set(runId, { events: [], outputBytes: 0 });
  }

  /** The run has ended: its events are forgotten after a while. */
  release(runId: number): void {
    setTimeout(() => this.history.delete(runId), HISTORY_KEPT_MS).unref();
  }

  emit(event: RunEvent): void {
    const past = this.history.get(event.run_id);
    if (past) {
      past.events.push(event);
      past.outputBytes += outputCost(event);
      if (past.outputBytes > this.outputBytesPerRun) trim(past, this.outputBytesPerRun);
    }
    for (const listener of this.listeners) listener(event);
  }

  subscribe(listener: (event: RunEvent) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /**
   * What already happened in a run this process knows, then every later event of it, with no gap and
   * no repeat (past HISTORY_OUTPUT_BYTES, the replay starts at a later output line). Undefined when this process never ran it (or forgot it): read the database instead.
   */
  watchRun(runId: number, listener: (event: RunEvent) => void): { replay: RunEvent[]; stop: () => void } | undefined {
    const past = this.history.get(runId);
    if (!past) return undefined;
    const stop = this.subscribe((event) => event.run_id === runId && listener(event));
    return { replay: [...past.events], stop };
  }
}
