import type { Writable } from 'node:stream';
import type { Config } from '../support/config.ts';
import type { RunEvent } from '../engine/events.ts';
import type { RunResult, RunView } from '../engine/run-store.ts';
import { startRuntime } from '../engine/runtime.ts';
import { findTargets } from '../domain/targets.ts';
import { checkLocks } from '../domain/locks.ts';
import { loadTracing, traceUrl } from '../support/tracing.ts';
import { formatSeconds } from './format.ts';

export interface RunTargetsOptions {
  app: string;
  host?: string;
  trigger: 'manual' | 'rollback';
  rollbackTo?: number;
  /** Go ahead although a lock holds a target (recorded on its run). */
  force?: boolean;
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
  const { orm, store, executor, notifier } = await startRuntime(config, tracing?.tracer, undefined, false);
  try {
    const targets = await findTargets(orm.em.fork(), options.app, options.host);
    const locked = await checkLocks(orm.em.fork(), targets, options.force ?? false);
    const label = new Map<number, string>();
    const prefix = (runId: number) => (targets.length > 1 ? `${label.get(runId)}  ` : '  ');
    if (!options.json) {
      executor.subscribe((event: RunEvent) => {
        if (!label.has(event.run_id)) return;
        if (event.type === 'step' && (event.status === 'success' || event.status === 'failure' || event.status === 'cancelled')) {
          const mark = event.status === 'success' ? '✓' : '✗';
          const detail = event.error ? `  ${event.error}` : '';
          out.write(`${prefix(event.run_id)}${mark} ${event.step.padEnd(12)} ${formatSeconds(event.duration_ms ?? 0)}${detail}\n`);
        } else if (event.type === 'output' && options.verbose) {
          out.write(`${prefix(event.run_id)}  │ ${event.line}\n`);
        }
      });
    }
    const verb = options.trigger === 'rollback' ? 'rolling back' : 'deploying';
    const queued = await executor.requestDeploys(targets.map((target, i) => ({
      request: { app: target.app, host: target.host, trigger: options.trigger, rollbackTo: options.rollbackTo ?? null, forced: locked[i] },
      target,
    })));
    const runs = queued.map(({ runId, done }, i) => {
      const target = targets[i];
      label.set(runId, `${target.app}@${target.host}`);
      if (!options.json) out.write(`${verb} ${target.app} ${options.trigger === 'rollback' ? 'on' : 'to'} ${target.host} (${target.strategy}, run #${runId})${locked[i] ? ' — forced past its lock' : ''}\n`);
      return done;
    });
    const cancelAll = () => label.forEach((_, runId) => void executor.cancel(runId));
    process.once('SIGINT', cancelAll);
    const outcomes: RunResult[] = await Promise.all(runs);
    process.off('SIGINT', cancelAll);

    if (options.json) {
      // The one shape of a run, as the API gives it (step output left out: --verbose streams it).
      const report: (RunView & { trace_url: string | null })[] = [];
      for (const o of outcomes) {
        const run = (await store.findRun(o.id, 0))!;
        report.push({ ...run, trace_url: traceUrl(config.jaegerUrl, run.trace_id) });
      }
      out.write(`${JSON.stringify(report, null, 2)}\n`);
    } else {
      for (const o of outcomes) {
        const where = label.get(o.id);
        const took = formatSeconds(o.duration_ms ?? 0);
        if (o.status === 'success') {
          out.write(`${where}: ${options.trigger === 'rollback' ? 'rolled back' : 'deployed'} in ${took}\n`);
        } else {
          const at = o.failed_step ? ` at ${o.failed_step}` : '';
          const undone = o.rolled_back ? ' — rolled back: the previous release is serving' : '';
          out.write(`${where}: ${o.status}${at} after ${took}${o.error ? `: ${o.error}` : ''}${undone}\n`);
        }
        const link = traceUrl(config.jaegerUrl, o.trace_id);
        if (link) out.write(`  trace: ${link}\n`);
      }
    }
    return outcomes.every((o) => o.status === 'success') ? 0 : 1;
  } finally {
    // PostgreSQL: its lease dropped, nothing else to wait for (it ran only its own runs); SQLite: its runs have ended.
    await executor.shutdown(0);
    await notifier.drain(3000); // notifications of these runs: a dead sink holds the exit up 3 s at most
    await orm.close();
    // Half a second to hand the spans over: a dead collector must not hold up the command.
    await tracing?.shutdown(500);
  }
}
