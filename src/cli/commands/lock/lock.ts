import { Command, Option } from 'clipanion';
import { DeployCommand } from '../../base-command.ts';

export class LockCommand extends DeployCommand {
  static override paths = [['lock']];
  static override usage = Command.Usage({
    category: 'Deploy freezes',
    description: 'freeze deploys of an app (every host) or of one host',
    details: `
      While the lock holds, webhook pushes of that target deploy nothing: each is recorded as a run
      \`skipped\` with the reason and who locked it. \`deploy\` and \`rollback\` refuse unless \`--force\`
      (recorded on the run). Locking the same app (and host) again replaces the lock. \`--for\` makes
      it expire (\`30m\`, \`2h\`, \`1d12h\`); without it, it holds until \`deploy_server unlock\`.
    `,
    examples: [
      ['Freeze every host of my_app', '$0 lock my_app --reason "release freeze until the audit"'],
      ['One host, for two hours', '$0 lock my_app --host vps1 --reason "db migration" --for 2h'],
    ],
  });

  app = Option.String({ name: 'app' });
  host = Option.String('--host', { description: 'lock this host only (default: every host of the app)' });
  reason = Option.String('--reason', { description: 'why: shown on every run the lock skips or refuses' });
  for = Option.String('--for', { description: 'how long the lock holds, e.g. 30m, 2h, 1d (default: until unlocked)' });
  by = Option.String('--by', { description: 'who locks (default: $USER)' });

  async run() {
    const { describeLock, lockTarget } = await import('../../../domain/locks.ts'); // loaded by the command that needs it
    const by = this.by ?? this.context.env.USER ?? 'unknown';
    const lock = await this.withDatabase((orm) => lockTarget(orm.em.fork(), { app: this.app, host: this.host, reason: this.reason ?? '', for: this.for, by }));
    this.context.stdout.write(`locked ${lock.app}${lock.host ? `@${lock.host}` : ' (every host)'}: ${describeLock(lock)}\n`);
  }
}
