import type { Writable } from 'node:stream';
import type { Config } from '../support/config.ts';
import { findRun } from '../engine/run-store.ts';
import type { ExecutorEvent, RunOutcome } from '../engine/executor.ts';
import { startRuntime } from '../engine/runtime.ts';
import { listTargets, noTargetError } from '../domain/targets.ts';
import { loadTracing, traceUrl } from '../support/tracing.ts';
import { formatSeconds } from './format.ts';

export interface RunTargetsOptions {
  app: string;
  host?: string;
  trigger: 'manual' | 'rollback';
  rollbackTo?: number;
  verbose: boolean;
  json: boolean;
  config: Config;
  env: NodeJS.ProcessEnv;
  stdout: Writable;
}

/**
 * What `deploy` and `rollback` share: a run per host of the app (or one), each step printed as it
 * ends (`--verbose`: the output too), a summary per run or `--json`; Ctrl-C cancels. Exit code 1 if a
 * run did not succeed.
 */
export async function runTargets(options: RunTargetsOptions): Promise<number> {
  const { config, stdout: out } = options;
  const tracing = await loadTracing(options.env);
  const { orm, executor } = await startRuntime(config, tracing?.tracer);
  try {
    const targets = (await listTargets(orm.em.fork(), options.app)).filter((t) => !options.host || t.host === options.host);
    if (targets.length === 0) throw noTargetError(options.app, options.host);
    const label = new Map<number, string>();
    const prefix = (runId: number) => (targets.length > 1 ? `${label.get(runId)}  ` : '  ');
    if (!options.json) {
      executor.subscribe((event: ExecutorEvent) => {
        if (!label.has(event.runId)) return;
        if (event.type === 'step' && (event.status === 'success' || event.status === 'failure' || event.status === 'cancelled')) {
          const mark = event.status === 'success' ? '✓' : '✗';
          const detail = event.error ? `  ${event.error}` : '';
          out.write(`${prefix(event.runId)}${mark} ${event.step.padEnd(12)} ${formatSeconds(event.durationMs ?? 0)}${detail}\n`);
        } else if (event.type === 'output' && options.verbose) {
          out.write(`${prefix(event.runId)}  │ ${event.line}\n`);
        }
      });
    }
    const verb = options.trigger === 'rollback' ? 'rolling back' : 'deploying';
    const queued = await executor.requestDeploys(targets.map((target) => ({
      request: { app: target.app, host: target.host, trigger: options.trigger, rollbackTo: options.rollbackTo ?? null },
      target,
    })));
    const runs = queued.map(({ runId, done }, i) => {
      const target = targets[i];
      label.set(runId, `${target.app}@${target.host}`);
      if (!options.json) out.write(`${verb} ${target.app} ${options.trigger === 'rollback' ? 'on' : 'to'} ${target.host} (${target.strategy}, run #${runId})\n`);
      return done;
    });
    const cancelAll = () => label.forEach((_, runId) => void executor.cancel(runId));
    process.once('SIGINT', cancelAll);
    const outcomes: RunOutcome[] = await Promise.all(runs);
    process.off('SIGINT', cancelAll);

    if (options.json) {
      const report = [];
      for (const o of outcomes) {
        const { steps } = (await findRun(orm.em.fork(), o.runId, 0))!;
        report.push({
          run_id: o.runId,
          target: label.get(o.runId),
          status: o.status,
          failed_step: o.failedStep,
          error: o.error,
          rolled_back: o.rolledBack ?? false,
          duration_ms: o.durationMs,
          trace_id: o.traceId ?? null,
          steps: steps.map((s) => ({ step: s.step, status: s.status, duration_ms: s.duration_ms, exit_code: s.exit_code, error: s.error })),
        });
      }
      out.write(`${JSON.stringify(report, null, 2)}\n`);
    } else {
      for (const o of outcomes) {
        const where = label.get(o.runId);
        const took = formatSeconds(o.durationMs ?? 0);
        if (o.status === 'success') {
          out.write(`${where}: ${options.trigger === 'rollback' ? 'rolled back' : 'deployed'} in ${took}\n`);
        } else {
          const at = o.failedStep ? ` at ${o.failedStep}` : '';
          const undone = o.rolledBack ? ' — rolled back: the previous release is serving' : '';
          out.write(`${where}: ${o.status}${at} after ${took}${o.error ? `: ${o.error}` : ''}${undone}\n`);
        }
        const link = traceUrl(config.jaegerUrl, o.traceId);
        if (link) out.write(`  trace: ${link}\n`);
      }
    }
    return outcomes.every((o) => o.status === 'success') ? 0 : 1;
  } finally {
    await orm.close();
    // Half a second to hand the spans over: a dead collector must not hold up the command.
    await tracing?.shutdown(500);
  }
}
