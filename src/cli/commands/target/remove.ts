import { Command, Option } from 'clipanion';
import { DeployCommand } from '../../base-command.ts';

export class TargetRemoveCommand extends DeployCommand {
  static override paths = [['target', 'remove']];
  static override usage = Command.Usage({
    category: 'Targets',
    description: 'remove the targets of an app (one host, or all of them)',
    details: 'Deploy history is kept. Fails when the app has no target (on that host).',
    examples: [
      ['Stop deploying my_app to vps1', '$0 target remove my_app --host vps1'],
      ['Remove every host of my_app', '$0 target remove my_app'],
    ],
  });

  app = Option.String({ name: 'app' });
  host = Option.String('--host', { description: 'remove only this host' });

  async run() {
    const { removeTargets } = await import('../../../domain/targets.ts');
    const removed = await this.withDatabase((orm) => removeTargets(orm.em.fork(), this.app, this.host));
    this.context.stdout.write(`removed ${removed} target${removed === 1 ? '' : 's'} of ${this.app}\n`);
  }
}
