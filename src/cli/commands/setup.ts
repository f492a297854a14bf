import { Command, Option } from 'clipanion';
import { DeployCommand } from '../base-command.ts';

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
    const { findTargets } = await import('../../domain/targets.ts');
    // The database is closed again before the SSH work starts.
    const [target] = await this.withDatabase((orm) => findTargets(orm.em.fork(), this.app, this.host));
    const [{ createConnector }, { applySetup }] = await Promise.all([import('../../transport/ssh/connect.ts'), import('../../domain/setup.ts')]);
    const host = await createConnector(config)(this.host);
    try {
      await applySetup(target, host, config, (progress) => {
        this.context.stdout.write(progress.done ? `✓ ${progress.action.title}\n` : `- ${progress.action.title} (${progress.skipped})\n`);
      });
    } finally {
      await host.close();
    }
    this.context.stdout.write(`${this.app} is set up on ${this.host}: deploy with \`deploy_server deploy ${this.app} --host ${this.host}\`\n`);
  }
}
