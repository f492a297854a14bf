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
    const targets = await this.readTargets();
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

  /** Without the ORM when SQLite's file is there and current (see sqlite-reader.ts); through it otherwise (it creates or migrates). */
  private async readTargets() {
    const { readTargetRows, targetRowsQuery, viewTarget } = await import('../../../domain/target-view.ts');
    const { openSqliteReader } = await import('../../../db/sqlite-reader.ts');
    const reader = await openSqliteReader(this.config().dbPath);
    if (reader) {
      try {
        const { sql, params } = targetRowsQuery(this.app);
        return readTargetRows(reader.all(sql, params)).map(viewTarget);
      } finally {
        reader.close();
      }
    }
    const { listTargets } = await import('../../../domain/targets.ts');
    return this.withDatabase(async (orm) => (await listTargets(orm.em.fork(), this.app)).map(viewTarget));
  }
}
