// One run, from `running` to its final status: claim the target, walk the strategy's pipeline, clean
// up, write how it ended. Every step failure ends up on the run, not thrown.
import { ROOT_CONTEXT, trace, type Context, type Link, type Tracer } from '@opentelemetry/api';
import type { RunStatus, Trigger } from '../db/entities/DeployRun.ts';
import type { Strategy } from '../db/entities/DeployTarget.ts';
import type { TargetFields } from '../domain/target-schema.ts';
import type { Config } from '../support/config.ts';
import { createTargetRedactor } from '../support/redact.ts';
import { ATTR, endSpan, traceIdOf } from '../support/telemetry.ts';
import type { RemoteHost } from '../transport/remote-host.ts';
import type { RunEvents } from './events.ts';
import { plannedRemoteCommands, type DeployContext, type Pipeline } from './pipeline.ts';
import { endedResult, LEASE_RENEW_MS, type RunResult, type RunStore } from './run-store.ts';
import { describe, recordStep, runStep, type StepRunContext } from './step-runner.ts';
import { claimTarget } from './target-claim.ts';
import { walkPipeline } from './walk.ts';

export interface DeployRequest {
  app: string;
  host: string;
  trigger: Trigger;
  ref?: string | null;
  commit?: string | null;
  /** The context of whatever asked for the run (an HTTP request span, say): the run span's parent. */
  telemetry?: Context;
  /** With trigger `rollback`: the run whose release to go back to (null: the last good one). */
  rollbackTo?: number | null;
  /** It goes ahead although a lock holds the target (`--force`): recorded on the run. */
  forced?: boolean;
  /** The pushed repository (`owner/name`), for a webhook run. */
  repository?: string | null;
}

/** A queued run: its request, its target as read when queued, and the requests it replaced. */
export interface PendingRun {
  runId: number;
  request: DeployRequest;
  target: TargetFields;
  /** Requests this run replaced: their spans are linked from the run span. */
  links: Link[];
}

export interface RunDeps {
  store: RunStore;
  events: RunEvents;
  config: Config;
  tracer: Tracer;
  /** Each strategy's deploy pipeline, and the pipeline of its rollback runs. */
  pipelines: Record<Strategy, { deploy: Pipeline; rollback: Pipeline }>;
  /**
   * Opens the SSH session of a run; called on the first step that needs the host. `plan.commands`:
   * how many commands the run will run there if all goes well (the steps' `remoteCommands`).
   */
  openRemote: (target: TargetFields, signal: AbortSignal, plan: { commands: number }) => Promise<RemoteHost>;
  /** Runs `work` while no other run of this process holds `key`. */
  exclusive: DeployContext['exclusive'];
  stepTimeoutMs: number;
  /** The run was claimed already (the shared queue's claim): skip the cross-process wait of target-claim.ts. */
  claimed?: boolean;
}

export async function executeRun(pending: PendingRun, signal: AbortSignal, deps: RunDeps): Promise<RunResult> {
  const { runId, target } = pending;
  const { store } = deps;
  if (!deps.claimed && !(await claimTarget(store, { runId, app: target.app, host: target.host }, signal))) {
    const reason = `cancelled while another process ran ${target.app}@${target.host}`;
    await store.endUnstarted([{ id: runId, status: 'cancelled', reason }]);
    return endedResult(runId, 'cancelled', reason);
  }
  // The lease says this run is alive to other processes: renewed while it runs; a failed renewal (the
  // database failing) lets it lapse.
  const heartbeat = setInterval(() => void store.renewLease(runId).catch(() => undefined), LEASE_RENEW_MS);
  heartbeat.unref();
  try {
    return await walkClaimed(pending, signal, deps);
  } finally {
    clearInterval(heartbeat);
  }
}

async function walkClaimed(pending: PendingRun, signal: AbortSignal, deps: RunDeps): Promise<RunResult> {
  const { runId, request, target } = pending;
  const { store, events, tracer } = deps;
  const pipeline = deps.pipelines[target.strategy][request.trigger === 'rollback' ? 'rollback' : 'deploy'];
  const startedAt = new Date();
  const parent = request.telemetry ?? ROOT_CONTEXT;
  const span = tracer.startSpan(`deploy ${target.app}@${target.host}`, { attributes: runAttributes(pending), links: pending.links }, parent);
  const traceId = traceIdOf(span);
  const stepRowIds = await store.start(runId, startedAt, traceId, pipeline.order);
  events.emit({ type: 'run', run_id: runId, app: target.app, host: target.host, status: 'running', trace_id: traceId });

  let remote: Promise<RemoteHost> | undefined;
  const cleanups: (() => Promise<void>)[] = [];
  const redact = createTargetRedactor(target, deps.config);
  const deploy: DeployContext = {
    runId,
    target,
    trigger: request.trigger,
    ref: request.ref ?? null,
    commit: request.commit ?? null,
    rollbackTo: request.rollbackTo ?? null,
    pastRuns: () => store.pastRuns(target.app, target.host, runId),
    config: deps.config,
    remote: () => (remote ??= deps.openRemote(target, signal, { commands: plannedRemoteCommands(pipeline, deploy) })),
    atEnd: (cleanup) => void cleanups.push(cleanup),
    exclusive: deps.exclusive,
    tracer,
    redact,
  };
  const steps: StepRunContext = {
    deploy, signal, redact, stepRowIds, store, events, tracer,
    parent: trace.setSpan(parent, span),
    defaultTimeoutMs: deps.stepTimeoutMs,
  };
  let walked;
  try {
    walked = await walkPipeline(pipeline, {
      runStep: (id, results) => runStep(steps, id, pipeline.steps[id], results),
      skipStep: (id, reason) => recordStep(steps, id, { status: 'skipped', error: reason }),
      isEnabled: (spec) => !spec.when || spec.when(deploy),
      signal,
    });
  } finally {
    // Also when the database fails mid-run: the connection closes and the worktrees go.
    if (remote) await remote.then((host) => host.close()).catch(() => undefined);
    for (const cleanup of cleanups.reverse()) await cleanup().catch(() => undefined); // last registered, first run
  }

  const { failure, compensated } = walked;
  const status: RunStatus = signal.aborted ? 'cancelled' : failure ? 'failure' : 'success';
  const error = signal.aborted ? redact(describe(signal.reason)) : (failure?.error ?? null);
  const finishedAt = new Date();
  const result: RunResult = {
    id: runId,
    status,
    failed_step: status === 'failure' ? failure!.step : null,
    error,
    duration_ms: finishedAt.getTime() - startedAt.getTime(),
    trace_id: traceId,
    rolled_back: status === 'failure' && compensated,
  };
  // Ended meanwhile by another server (interrupted): that end is the run's, here too.
  const ended = (await store.finish(result, finishedAt)) ? result : ((await store.findResult(runId)) ?? result);
  endSpan(span, ended.error ? { message: ended.error } : undefined);
  return ended;
}

function runAttributes({ runId, request, target }: PendingRun) {
  return {
    [ATTR.app]: target.app,
    [ATTR.host]: target.host,
    [ATTR.strategy]: target.strategy,
    [ATTR.trigger]: request.trigger,
    [ATTR.runId]: runId,
    ...(request.ref ? { [ATTR.ref]: request.ref } : {}),
    ...(request.commit ? { [ATTR.revision]: request.commit } : {}),
  };
}
