import type { Context, Tracer } from '@opentelemetry/api';
import type { Config } from '../support/config.ts';
import type { TargetFields } from '../domain/target-schema.ts';
import type { Trigger } from '../db/entities/DeployRun.ts';
import type { RemoteHost } from '../transport/remote-host.ts';

/** What a run knows about itself; every step gets it. */
export interface PastRun {
  id: number;
  trigger: Trigger;
  status: string;
  commit_after: string | null;
  release: number | null;
  rolled_back: boolean;
}

/** What a step may record on its run (the release it shipped, the commits it moved between). */
export interface RunRecord {
  commit_before?: string;
  commit_after?: string;
  release?: number;
}

export interface DeployContext {
  runId: number;
  target: TargetFields;
  trigger: Trigger;
  ref: string | null;
  commit: string | null;
  config: Config;
  /** For a rollback run: the run whose release to go back to (`rollback --to`), or null for the last good one. */
  rollbackTo: number | null;
  /** This target's earlier runs, newest first: what a rollback chooses from. */
  pastRuns: () => Promise<PastRun[]>;
  /** The run's SSH session to the target's host, opened on first use and shared by all of its steps. */
  remote: () => Promise<RemoteHost>;
  /**
   * Runs `work` while no other run of this process holds `key` (one local build per source directory
   * at a time: two hosts of an app build in the same tree).
   */
  exclusive: <T>(key: string, work: () => Promise<T>) => Promise<T>;
  /** Registers clean-up work (a build worktree, say) to run when the run ends, however it ends. */
  atEnd: (cleanup: () => Promise<void>) => void;
  /** For child spans of a step (remote commands); a no-op unless otel/ set tracing up. */
  tracer: Tracer;
  /** Masks the target's env values and the configured secrets. */
  redact: (text: string) => string;
}

/** What one step receives: the results of the steps it needs, an abort signal, and an output sink. */
export interface StepContext<Results = {}> {
  results: Results;
  deploy: DeployContext;
  /** Aborted on cancel and on the step's timeout: a step stops its work (and its remote command). */
  signal: AbortSignal;
  /** Appends to the step's output (secrets are masked before anything is stored or shown). */
  output: (chunk: string) => void;
  /** The step's span context, for child spans of remote commands. */
  telemetry: Context;
  /** Writes facts about the deploy on the run row (kept in its history). */
  record: (fields: RunRecord) => Promise<void>;
}

export interface StepSpec<Id extends string = string> {
  run: (context: StepContext<any>) => Promise<unknown>;
  needs?: readonly Id[];
  /** Longer than this and the step is aborted and fails (default: the executor's, 10 minutes). */
  timeoutMs?: number;
  /**
   * A compensation step: it runs only when one of these steps has failed (and its own needs have
   * succeeded), otherwise it is skipped. Steps that need it form the compensation path, which goes on
   * after the failure while every other pending step is skipped.
   */
  onFailureOf?: readonly Id[];
  /** The step runs only when this holds for the run; otherwise it is skipped (e.g. auto-rollback off). */
  when?: (deploy: DeployContext) => boolean;
}

/**
 * How many commands a step function runs on the host when it goes well, or how to tell from the run:
 * its `remoteCommands` property (none: 0). A hint for the SSH transport, which opens each command's
 * shell ahead but none beyond what the run's steps will use: a count too high costs a shell opened for
 * nothing (a channel and a login shell on the host), one too low a command that waits for its shell.
 */
export type RemoteCommands = number | ((deploy: DeployContext) => number);

/**
 * The commands on the host of a run that goes well: the steps off the compensation path that are
 * enabled for it, each counted as its step function says (RemoteCommands).
 */
export function plannedRemoteCommands(pipeline: Pipeline, deploy: DeployContext): number {
  let commands = 0;
  for (const id of pipeline.order) {
    const spec = pipeline.steps[id];
    if (pipeline.compensation.has(id) || (spec.when && !spec.when(deploy))) continue;
    const count = (spec.run as { remoteCommands?: RemoteCommands }).remoteCommands ?? 0;
    commands += typeof count === 'function' ? count(deploy) : count;
  }
  return commands;
}

type ResultOf<S, K> = S[K & keyof S] extends { run: (...args: any[]) => Promise<infer R> } ? R : never;
type NeedsOf<S, K extends keyof S> = S[K] extends { needs: readonly (infer N)[] } ? N : never;
type ResultsFor<S, K extends keyof S> = { [N in NeedsOf<S, K> & keyof S]: ResultOf<S, N> };

/**
 * Each step's `run` must accept the results of exactly the steps it lists in `needs`: a step that uses
 * `results.build` without needing `build` does not compile.
 */
type WithTypedResults<S> = { [K in keyof S]: { run: (context: StepContext<ResultsFor<S, K>>) => Promise<unknown> } };

export interface Pipeline {
  steps: Readonly<Record<string, StepSpec>>;
  /** Step ids in a dependency order (each after everything it needs, or compensates for). */
  order: readonly string[];
  /** The compensation path: steps with `onFailureOf`, and every step that needs one of them. */
  compensation: ReadonlySet<string>;
}

export class PipelineError extends Error {
  override name = 'PipelineError';
}

/**
 * Declares a pipeline as a literal object of named steps. Unknown ids in `needs` are compile errors;
 * unknown ids (from plain JS) and cycles are rejected here, at load, naming the cycle.
 */
export function definePipeline<const S extends Record<string, StepSpec<Extract<keyof S, string>>>>(steps: S & WithTypedResults<S>): Pipeline {
  for (const [id, step] of Object.entries(steps) as [string, StepSpec][]) {
    for (const need of step.needs ?? []) {
      if (!(need in steps)) throw new PipelineError(`step "${id}" needs "${need}", which is not a step of this pipeline`);
    }
    for (const failed of step.onFailureOf ?? []) {
      if (!(failed in steps)) throw new PipelineError(`step "${id}" runs on failure of "${failed}", which is not a step of this pipeline`);
    }
  }
  const cycle = findCycle(steps);
  if (cycle) throw new PipelineError(`pipeline has a cycle: ${cycle.join(' → ')}`);
  const order = orderSteps(steps);
  const compensation = new Set<string>();
  for (const id of order) {
    const step: StepSpec = steps[id];
    if (step.onFailureOf?.length || (step.needs ?? []).some((need) => compensation.has(need))) compensation.add(id);
  }
  return { steps, order, compensation };
}

/** What a step waits for: the steps it needs and the steps it compensates for. */
function predecessors(step: StepSpec | undefined): readonly string[] {
  return [...(step?.needs ?? []), ...(step?.onFailureOf ?? [])];
}

/** The first cycle found, as a path that ends where it starts (`a → b → a`), or null. */
export function findCycle(steps: Record<string, StepSpec>): string[] | null {
  const done = new Set<string>();
  const path: string[] = [];
  const visit = (id: string): string[] | null => {
    const seen = path.indexOf(id);
    if (seen >= 0) return [...path.slice(seen), id];
    if (done.has(id)) return null;
    path.push(id);
    for (const need of predecessors(steps[id])) {
      const cycle = visit(need);
      if (cycle) return cycle;
    }
    path.pop();
    done.add(id);
    return null;
  };
  for (const id of Object.keys(steps)) {
    const cycle = visit(id);
    if (cycle) return cycle;
  }
  return null;
}

function orderSteps(steps: Record<string, StepSpec>): string[] {
  const order: string[] = [];
  const place = (id: string) => {
    if (order.includes(id)) return;
    for (const need of predecessors(steps[id])) place(need);
    order.push(id);
  };
  Object.keys(steps).forEach(place);
  return order;
}

export interface PipelineGraph {
  steps: { id: string; needs: string[]; onFailureOf?: string[] }[];
  /** [from, to]: `to` needs `from`. */
  edges: [string, string][];
  /** [from, to]: `to` runs only when `from` failed. */
  failureEdges: [string, string][];
}

/** The steps and edges of a pipeline as plain data (for `pipelines show` and the API). */
export function describePipeline(pipeline: Pipeline): PipelineGraph {
  const steps = pipeline.order.map((id) => {
    const spec = pipeline.steps[id];
    return { id, needs: [...(spec.needs ?? [])], ...(spec.onFailureOf ? { onFailureOf: [...spec.onFailureOf] } : {}) };
  });
  return {
    steps,
    edges: steps.flatMap(({ id, needs }) => needs.map((need): [string, string] => [need, id])),
    failureEdges: steps.flatMap(({ id, onFailureOf }) => (onFailureOf ?? []).map((failed): [string, string] => [failed, id])),
  };
}
