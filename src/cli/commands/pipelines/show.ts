import { Command, Option } from 'clipanion';
import { DeployCommand } from '../../base-command.ts';
import { STRATEGIES, type Strategy } from '../../../entities/DeployTarget.ts';
import { describePipeline } from '../../../pipeline.ts';
import { pipelines } from '../../../../pipelines/index.ts';

export class PipelinesShowCommand extends DeployCommand {
  static override paths = [['pipelines', 'show']];
  static override usage = Command.Usage({
    category: 'Pipelines',
    description: 'print the step DAG of each strategy',
    details: 'Each step with the steps it needs. A step starts as soon as everything it needs has succeeded.',
    examples: [
      ['Every strategy', '$0 pipelines show'],
      ['One strategy, for scripts', '$0 pipelines show systemd --json'],
    ],
  });

  strategy = Option.String({ name: 'strategy', required: false });
  json = Option.Boolean('--json', false, { description: 'print JSON: steps with their needs, and edges [from, to]' });

  async run() {
    if (this.strategy !== undefined && !STRATEGIES.includes(this.strategy as Strategy)) {
      throw new Error(`unknown strategy "${this.strategy}": one of ${STRATEGIES.join(', ')}`);
    }
    const shown = (this.strategy ? [this.strategy] : STRATEGIES) as Strategy[];
    const graphs = shown.map((strategy) => ({ strategy, ...describePipeline(pipelines[strategy]) }));
    if (this.json) {
      this.context.stdout.write(`${JSON.stringify(graphs, null, 2)}\n`);
      return;
    }
    const text = graphs.map(({ strategy, steps }) => {
      const width = Math.max(...steps.map((step) => step.id.length));
      const lines = steps.map(({ id, needs }) => (needs.length ? `  ${id.padEnd(width)}  ← ${needs.join(', ')}` : `  ${id}`));
      return [strategy, ...lines].join('\n');
    });
    this.context.stdout.write(`${text.join('\n\n')}\n`);
  }
}
