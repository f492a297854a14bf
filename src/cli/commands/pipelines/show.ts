import { Command, Option } from 'clipanion';
import { DeployCommand } from '../../base-command.ts';
import type { Strategy } from '../../../domain/target-schema.ts';

export class PipelinesShowCommand extends DeployCommand {
  static override paths = [['pipelines', 'show']];
  static override usage = Command.Usage({
    category: 'Pipelines',
    description: 'print the step DAG of each strategy',
    details: `
      Each step with the steps it needs (←). A step starts as soon as everything it needs has succeeded.
      Steps marked "if X fails" are the compensation path: they run only when X has failed (the
      automatic rollback). Each strategy also has the pipeline of its \`rollback\` runs.
    `,
    examples: [
      ['Every strategy', '$0 pipelines show'],
      ['One strategy, for scripts', '$0 pipelines show systemd --json'],
    ],
  });

  strategy = Option.String({ name: 'strategy', required: false });
  json = Option.Boolean('--json', false, { description: 'print JSON: steps with their needs, and edges [from, to]' });

  async run() {
    const [{ STRATEGIES }, { describePipeline }, { pipelines }] = await Promise.all([
      import('../../../domain/target-schema.ts'), import('../../../engine/pipeline.ts'), import('../../../../pipelines/index.ts'),
    ]);
    if (this.strategy !== undefined && !STRATEGIES.includes(this.strategy as Strategy)) {
      throw new Error(`unknown strategy "${this.strategy}": one of ${STRATEGIES.join(', ')}`);
    }
    const shown = (this.strategy ? [this.strategy] : STRATEGIES) as Strategy[];
    const graphs = shown.flatMap((strategy) => [
      { strategy, pipeline: 'deploy', ...describePipeline(pipelines[strategy].deploy) },
      { strategy, pipeline: 'rollback', ...describePipeline(pipelines[strategy].rollback) },
    ]);
    if (this.json) {
      this.context.stdout.write(`${JSON.stringify(graphs, null, 2)}\n`);
      return;
    }
    const text = graphs.map(({ strategy, pipeline, steps }) => {
      const width = Math.max(...steps.map((step) => step.id.length));
      const lines = steps.map(({ id, needs, onFailureOf }) => {
        const edges = [needs.length ? `← ${needs.join(', ')}` : '', onFailureOf ? `if ${onFailureOf.join(' or ')} fails` : ''].filter(Boolean);
        return edges.length ? `  ${id.padEnd(width)}  ${edges.join(', ')}` : `  ${id}`;
      });
      return [pipeline === 'deploy' ? strategy : `${strategy} (rollback runs)`, ...lines].join('\n');
    });
    this.context.stdout.write(`${text.join('\n\n')}\n`);
  }
}
