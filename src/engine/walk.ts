// The DAG walk: which step starts, waits or is skipped, and when. Pure — it knows nothing of the
// database, SSH or spans; `runStep` does the work of one step and says how it ended.
import type { StepStatus } from '../db/entities/StepRun.ts';
import type { Pipeline, StepSpec } from './pipeline.ts';

export interface StepOutcome {
  status: StepStatus;
  value?: unknown;
  error?: string;
}

export interface WalkHooks {
  /** Runs one step with the results of the steps it needs; resolves however the step ended. */
  runStep: (id: string, results: Record<string, unknown>) => Promise<StepOutcome>;
  /** A step that will not run, and why (`skipped: build failed`). */
  skipStep: (id: string, reason: string) => Promise<void> | void;
  /** The step's `when` for this run (a target that opted out of auto-rollback, say). */
  isEnabled: (spec: StepSpec) => boolean;
  /** Aborted: no step starts any more (running ones finish on their own signal). */
  signal: AbortSignal;
}

export interface WalkResult {
  /** The first step that failed, or null. */
  failure: { step: string; error: string } | null;
  /** The compensation path ran through (every step of it succeeded). */
  compensated: boolean;
  /** How each step ended. */
  states: Record<string, StepStatus>;
}

/**
 * Walks the DAG: starts every step whose needs have all succeeded, as soon as they have (no waves).
 * After a failure or an abort no new step starts (the rest are skipped; running ones finish) — except
 * the compensation path: a step with `onFailureOf` starts when a step it compensates for has failed,
 * then the steps that need it. Rejects only when a hook throws.
 */
export function walkPipeline(pipeline: Pipeline, hooks: WalkHooks): Promise<WalkResult> {
  const state = new Map<string, StepStatus>(pipeline.order.map((id) => [id, 'pending']));
  const results: Record<string, unknown> = {};
  let failure: WalkResult['failure'] = null;
  let running = 0;
  const skips: Promise<void>[] = [];
  const finished = (id: string) => !['pending', 'running'].includes(state.get(id)!);

  /** What a pending step should do now: start, be skipped (and why), or wait. */
  const decide = (id: string): 'start' | 'wait' | { skip: string } => {
    const spec = pipeline.steps[id];
    const needs = spec.needs ?? [];
    if (hooks.signal.aborted) return { skip: 'skipped: run cancelled' };
    if (failure && !pipeline.compensation.has(id)) return { skip: `skipped: ${failure.step} failed` };
    const brokenNeed = needs.find((need) => finished(need) && state.get(need) !== 'success');
    if (brokenNeed) return { skip: `skipped: ${brokenNeed} did not succeed` };
    if (spec.onFailureOf) {
      const failed = spec.onFailureOf.some((step) => state.get(step) === 'failure');
      if (!failed) return spec.onFailureOf.every(finished) ? { skip: `skipped: ${spec.onFailureOf.join(', ')} did not fail` } : 'wait';
    }
    if (!needs.every((need) => state.get(need) === 'success')) return 'wait';
    if (!hooks.isEnabled(spec)) return { skip: 'skipped: not enabled for this target' };
    return 'start';
  };

  return new Promise((resolve, reject) => {
    const start = (id: string) => {
      state.set(id, 'running');
      running++;
      const needed = Object.fromEntries((pipeline.steps[id].needs ?? []).map((need) => [need, results[need]]));
      hooks.runStep(id, needed).then((outcome) => {
        running--;
        state.set(id, outcome.status);
        if (outcome.status === 'success') results[id] = outcome.value;
        else if (outcome.status === 'failure' && !failure) failure = { step: id, error: outcome.error ?? 'failed' };
        advance();
      }, reject);
    };
    const advance = () => {
      for (let changed = true; changed; ) {
        changed = false;
        for (const id of pipeline.order) {
          if (state.get(id) !== 'pending') continue;
          const decision = decide(id);
          if (decision === 'wait') continue;
          changed = true;
          if (decision === 'start') start(id);
          else {
            state.set(id, 'skipped');
            const reason = decision.skip;
            skips.push((async () => hooks.skipStep(id, reason))());
          }
        }
      }
      if (running > 0) return;
      const compensated = pipeline.compensation.size > 0 && [...pipeline.compensation].every((id) => state.get(id) === 'success');
      Promise.all(skips).then(() => resolve({ failure, compensated, states: Object.fromEntries(state) }), reject);
    };
    advance();
  });
}
