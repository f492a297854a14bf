import { Command, Option } from 'clipanion';
import { DeployCommand } from '../../base-command.ts';

export class UnlockCommand extends DeployCommand {
  static override paths = [['unlock']];
  static override usage = Command.Usage({
    category: 'Deploy freezes',
    description: 'lift a deploy freeze',
    details: 'With `--host`, lifts that host\'s lock; without, every lock of the app. Exits 1 when none held.',
    examples: [
      ['Lift every lock of my_app', '$0 unlock my_app'],
      ['One host', '$0 unlock my_app --host vps1'],
    ],
  });

  app = Option.String({ name: 'app' });
  host = Option.String('--host', { description: 'lift this host\'s lock only' });

  async run() {
    const { unlockTarget } = await import('../../../domain/locks.ts'); // loaded by the command that needs it
    const lifted = await this.withDatabase((orm) => unlockTarget(orm.em.fork(), this.app, this.host));
    for (const lock of lifted) this.context.stdout.write(`unlocked ${lock.app}${lock.host ? `@${lock.host}` : ' (every host)'}\n`);
  }
}
