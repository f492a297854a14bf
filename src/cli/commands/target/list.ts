import { Command, Option } from 'clipanion';
import { DeployCommand } from '../../base-command.ts';
import { formatTable } from '../../format.ts';

export class TargetListCommand extends DeployCommand {
  static override paths = [['target', 'list']];
  static override usage = Command.Usage({
    category: 'Targets',
    description: 'list deploy targets',
    details: 'Prints a table, or with `--json` an array with every field of every target (env values masked).',
    examples: [
      ['Every target', '$0 target list'],
      ['One app, for scripts', '$0 target list --app my_app --json'],
    ],
  });

  app = Option.String('--app', { description: 'only the targets of this app' });
  json = Option.Boolean('--json', false, { description: 'print JSON instead of a table' });

  async run() {
    const { listTargets, viewTarget } = await import('../../../domain/targets.ts');
    const targets = await this.withDatabase(async (orm) => (await listTargets(orm.em.fork(), this.app)).map(viewTarget));
    if (this.json) {
      this.context.stdout.write(`${JSON.stringify(targets, null, 2)}\n`);
      return;
    }
    if (targets.length === 0) {
      this.context.stdout.write(this.app ? `no targets for app "${this.app}"\n` : 'no targets yet: add one with `deploy_server target add`\n');
      return;
    }
    const rows = targets.map((t) => [t.app, t.host, t.strategy, t.branch, t.port ? String(t.port) : '-', t.health || '-', t.remote_dir]);
    this.context.stdout.write(formatTable(['APP', 'HOST', 'STRATEGY', 'BRANCH', 'PORT', 'HEALTH', 'REMOTE DIR'], rows));
  }
}
