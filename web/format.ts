import type { RunStatus, StepStatus, Trigger } from './api.ts';

export function formatDuration(ms: number | null | undefined): string {
  if (ms === null || ms === undefined) return '–';
  if (ms < 1000) return `${Math.round(ms)}ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(2)}s`;
  const s = Math.round(ms / 1000);
  return `${Math.floor(s / 60)}m ${String(s % 60).padStart(2, '0')}s`;
}

export function formatAgo(iso: string | null | undefined, now = Date.now()): string {
  if (!iso) return '–';
  const s = Math.max(0, Math.round((now - Date.parse(iso)) / 1000));
  if (s < 60) return `${s}s ago`;
  if (s < 3600) return `${Math.floor(s / 60)} min ago`;
  if (s < 86_400) return `${Math.floor(s / 3600)} h ago`;
  return `${Math.floor(s / 86_400)} d ago`;
}

export const shortCommit = (commit: string | null | undefined) => (commit ? commit.slice(0, 8) : null);

/** Icon and word of each state: never colour alone. */
const RUN_STATES: Record<RunStatus, [string, string]> = {
  queued: ['◷', 'queued'],
  running: ['⟳', 'running'],
  success: ['✓', 'success'],
  failure: ['✗', 'failed'],
  cancelled: ['⊘', 'cancelled'],
  interrupted: ['⚠', 'interrupted'],
  skipped: ['↷', 'skipped'],
};
const STEP_STATES: Record<StepStatus, [string, string]> = {
  pending: ['○', 'pending'],
  running: ['⟳', 'running'],
  success: ['✓', 'success'],
  failure: ['✗', 'failed'],
  skipped: ['↷', 'skipped'],
  cancelled: ['⊘', 'cancelled'],
};

export const runState = (status: RunStatus) => RUN_STATES[status] ?? ['?', status];
export const stepState = (status: StepStatus) => STEP_STATES[status] ?? ['?', status];

/** The trigger as people say it: a push, the API, the CLI, a rollback. */
export const TRIGGER_LABELS: Record<Trigger, string> = { webhook: 'push', api: 'api', manual: 'cli', rollback: 'rollback' };

/** "superseded by run #N, …": the run that replaced this request, or null. */
export function supersededBy(error: string | null | undefined): number | null {
  const match = /^superseded by run #(\d+)/.exec(error ?? '');
  return match ? Number(match[1]) : null;
}

/** What a run's status means to a reader: a superseded request is not an ordinary cancel. */
export function describeRunStatus(run: { status: RunStatus; error: string | null }): { icon: string; label: string; css: string } {
  const by = supersededBy(run.error);
  if (run.status === 'cancelled' && by) return { icon: '⤳', label: `superseded by #${by}`, css: 'superseded' };
  const [icon, label] = runState(run.status);
  return { icon, label, css: run.status };
}

export const isActive = (status: RunStatus) => status === 'queued' || status === 'running';
