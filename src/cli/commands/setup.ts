import { Command, Option } from 'clipanion';
import { DeployCommand } from '../base-command.ts';
import { DeployTarget } from '../../db/entities/DeployTarget.ts';
import { noTargetError, toTargetFields } from '../../domain/targets.ts';
import { planSetup } from '../../domain/setup.ts';

export class SetupCommand extends DeployCommand {
  static override paths = [['setup']];
  static override usage = Command.Usage({
    category: 'Deploys',
    description: 'prepare a host for a target: remote dir, systemd unit, git checkout',
    details: `
      Creates \`remote_dir\`. For systemd strategies, writes \`/etc/systemd/system/<app>.service\` (User,
      WorkingDirectory, ExecStart, one Environment= per env entry, Restart=on-failure), then
      daemon-reload and enable. For remote strategies, clones \`--repo\` into \`remote_dir\` when it has no
      checkout. Safe to run again.
    `,
    examples: [['Prepare vps1 for my_app', '$0 setup my_app --host vps1']],
  });

  app = Option.String({ name: 'app' });
  host = Option.String('--host', { description: 'the host to prepare (required)' });

  async run() {
    if (!this.host) throw new Error('--host is required: setup prepares one host at a time');
    const config = this.config();
    // The database is closed again before the SSH work starts.
    const target = await this.withDatabase(async (orm) => {
      const row = await orm.em.fork().findOne(DeployTarget, { app: this.app, host: this.host! });
      if (!row) throw noTargetError(this.app, this.host);
      return toTargetFields(row);
    });
    const [{ connectTo }, { failIfNonZero }] = await Promise.all([import('../../engine/runtime.ts'), import('../../steps/remote.ts')]);
    const host = await connectTo(this.host, config);
    try {
      for (const action of planSetup(target, host.user, config.unitDir)) {
        if (action.onlyIf && (await host.exec(action.onlyIf)).code !== 0) {
          this.context.stdout.write(`- ${action.title} (${action.skipReason})\n`);
          continue;
        }
        if (action.fail) throw new Error(action.fail);
        for (const command of action.commands) failIfNonZero(command.display ?? command.command, await host.exec(command));
        this.context.stdout.write(`✓ ${action.title}\n`);
      }
    } finally {
      await host.close();
    }
    this.context.stdout.write(`${this.app} is set up on ${this.host}: deploy with \`deploy_server deploy ${this.app} --host ${this.host}\`\n`);
  }
}
