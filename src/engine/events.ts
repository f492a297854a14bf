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
/** Output lines kept per run in memory (status events are always kept). */
const HISTORY_MAX_EVENTS = 20_000;

/** Fans events out to subscribers, and keeps each known run's events a while for late watchers. */
export class RunEvents {
  private readonly listeners = new Set<(event: RunEvent) => void>();
  private readonly history = new Map<number, RunEvent[]>();

  /** Starts keeping a run's events (from its `queued` event on). */
  track(runId: number): void {
    this.history.set(runId, []);
  }

  /** The run has ended: its events are forgotten after a while. */
  release(runId: number): void {
    setTimeout(() => this.history.delete(runId), HISTORY_KEPT_MS).unref();
  }

  emit(event: RunEvent): void {
    const past = this.history.get(event.run_id);
    if (past && (past.length < HISTORY_MAX_EVENTS || event.type !== 'output')) past.push(event);
    for (const listener of this.listeners) listener(event);
  }

  subscribe(listener: (event: RunEvent) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /**
   * What already happened in a run this process knows, then every later event of it, with no gap and
   * no repeat. Undefined when this process never ran it (or forgot it): read the database instead.
   */
  watchRun(runId: number, listener: (event: RunEvent) => void): { replay: RunEvent[]; stop: () => void } | undefined {
    const past = this.history.get(runId);
    if (!past) return undefined;
    const stop = this.subscribe((event) => event.run_id === runId && listener(event));
    return { replay: [...past], stop };
  }
}
