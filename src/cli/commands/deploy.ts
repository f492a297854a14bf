import { Command, Option } from 'clipanion';
import { DeployCommand } from '../base-command.ts';
import { startRuntime } from '../../runtime.ts';
import { listTargets, UnknownTargetError } from '../../targets.ts';
import { StepRun } from '../../entities/StepRun.ts';
import type { ExecutorEvent, RunOutcome } from '../../executor.ts';
import { formatSeconds } from '../format.ts';
import { loadTracing, traceUrl } from '../../tracing.ts';

export class DeployAppCommand extends DeployCommand {
  static override paths = [['deploy']];
  static override usage = Command.Usage({
    category: 'Deploys',
    description: 'deploy an app now, to every host it has (a run each) or to one',
    details: `
      Prints each step as it ends: ✓ or ✗, its name and duration. Exits 1 if any run failed.
      Ctrl-C cancels the runs (their remote commands are killed).
    `,
    examples: [
      ['Deploy my_app everywhere', '$0 deploy my_app'],
      ['One host, with the remote output', '$0 deploy my_app --host vps1 --verbose'],
      ['For scripts', '$0 deploy my_app --json'],
    ],
  });

  app = Option.String({ name: 'app' });
  host = Option.String('--host', { description: 'deploy to this host only' });
  verbose = Option.Boolean('--verbose', false, { description: 'stream the output of every step' });
  json = Option.Boolean('--json', false, { description: 'print the runs and their steps as JSON at the end' });

  async run() {
    const config = this.config();
    const tracing = await loadTracing(this.context.env);
    const { orm, executor } = await startRuntime(config, tracing?.tracer);
    try {
      const targets = (await listTargets(orm.em.fork(), this.app)).filter((t) => !this.host || t.host === this.host);
      if (targets.length === 0) {
        throw new UnknownTargetError(this.host ? `no target for app "${this.app}" on host "${this.host}"` : `no target for app "${this.app}"`);
      }
      const label = new Map<number, string>();
      const prefix = (runId: number) => (targets.length > 1 ? `${label.get(runId)}  ` : '  ');
      const out = this.context.stdout;
      if (!this.json) {
        executor.subscribe((event: ExecutorEvent) => {
          if (!label.has(event.runId)) return;
          if (event.type === 'step' && (event.status === 'success' || event.status === 'failure' || event.status === 'cancelled')) {
            const mark = event.status === 'success' ? '✓' : '✗';
            const detail = event.error ? `  ${event.error}` : '';
            out.write(`${prefix(event.runId)}${mark} ${event.step.padEnd(12)} ${formatSeconds(event.durationMs ?? 0)}${detail}\n`);
          } else if (event.type === 'output' && this.verbose) {
            out.write(`${prefix(event.runId)}  │ ${event.line}\n`);
          }
        });
      }
      const runs = [];
      for (const target of targets) {
        const { runId, done } = await executor.requestDeploy({ app: target.app, host: target.host, trigger: 'manual' });
        label.set(runId, `${target.app}@${target.host}`);
        if (!this.json) out.write(`deploying ${target.app} to ${target.host} (${target.strategy}, run #${runId})\n`);
        runs.push(done);
      }
      const cancelAll = () => label.forEach((_, runId) => void executor.cancel(runId));
      process.once('SIGINT', cancelAll);
      const outcomes: RunOutcome[] = await Promise.all(runs);
      process.off('SIGINT', cancelAll);

      if (this.json) {
        const em = orm.em.fork();
        const report = [];
        for (const o of outcomes) {
          const steps = await em.find(StepRun, { run: o.runId }, { orderBy: { id: 'asc' } });
          report.push({
            run_id: o.runId,
            target: label.get(o.runId),
            status: o.status,
            failed_step: o.failedStep,
            error: o.error,
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
          out.write(o.status === 'success' ? `${where}: deployed in ${took}\n` : `${where}: ${o.status}${o.failedStep ? ` at ${o.failedStep}` : ''} after ${took}${o.error ? `: ${o.error}` : ''}\n`);
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
}
