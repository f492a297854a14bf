import { Command, Option } from 'clipanion';
import { DeployCommand } from '../../base-command.ts';
import { formatTable } from '../../format.ts';

export class LockListCommand extends DeployCommand {
  static override paths = [['lock', 'list']];
  static override usage = Command.Usage({
    category: 'Deploy freezes',
    description: 'list the deploy freezes that hold now',
    details: 'Expired locks are not shown. `--json` prints an array of `{app, host, reason, locked_by, locked_at, expires_at}` (`host` null: every host).',
    examples: [
      ['Every lock', '$0 lock list'],
      ['For scripts', '$0 lock list --app my_app --json'],
    ],
  });

  app = Option.String('--app', { description: 'only the locks of this app' });
  json = Option.Boolean('--json', false, { description: 'print JSON instead of a table' });

  async run() {
    const { listLocks } = await import('../../../domain/locks.ts'); // loaded by the command that needs it
    const locks = await this.withDatabase((orm) => listLocks(orm.em.fork(), this.app));
    if (this.json) {
      this.context.stdout.write(`${JSON.stringify(locks, null, 2)}\n`);
      return;
    }
    if (locks.length === 0) {
      this.context.stdout.write('no locks\n');
      return;
    }
    const rows = locks.map((l) => [l.app, l.host ?? '(every host)', l.locked_by, l.locked_at, l.expires_at ?? '-', l.reason]);
    this.context.stdout.write(formatTable(['APP', 'HOST', 'BY', 'SINCE', 'UNTIL', 'REASON'], rows));
  }
}
