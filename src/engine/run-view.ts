// The one outward shape of a run, as plain types with no dependency but the vocabulary: the API, the
// SSE stream, the CLI's --json and the dashboard (web/, which type-checks against this file) share it.
import type { RunStatus, StepStatus, Strategy, Trigger } from '../domain/vocabulary.ts';

export interface StepView {
  step: string;
  status: StepStatus;
  started_at: string | null;
  duration_ms: number | null;
  exit_code: number | null;
  error: string | null;
  output: string;
}

/** How a run ended: what `done` resolves with, the SSE `result` event, and the head of a RunView. */
export interface RunResult {
  id: number;
  status: RunStatus;
  failed_step: string | null;
  error: string | null;
  duration_ms: number | null;
  trace_id: string | null;
  /** The deploy failed and its compensation path put the previous release back. */
  rolled_back: boolean;
}

/** A run as everything outside the engine sees it. */
export interface RunView extends RunResult {
  app: string;
  host: string;
  strategy: Strategy;
  trigger: Trigger;
  ref: string | null;
  commit: string | null;
  commit_before: string | null;
  commit_after: string | null;
  release: number | null;
  rollback_to: number | null;
  /** Went ahead although a lock held (`--force`). */
  forced: boolean;
  /** The pushed repository (`owner/name`) of a webhook run. */
  repository: string | null;
  queued_at: string;
  started_at: string | null;
  finished_at: string | null;
  steps: StepView[];
}

/** A run's status as the live lists see it. */
export interface RunChange {
  run_id: number;
  app: string;
  host: string;
  status: RunStatus;
  trace_id: string | null;
}

/** One run of a target's recent history (the dashboard's grid): no steps. */
export type HistoryRun = Pick<RunView, 'id' | 'app' | 'host' | 'trigger' | 'status' | 'commit' | 'error' | 'duration_ms' | 'queued_at' | 'finished_at' | 'rolled_back'>;
