import { Command, Option } from 'clipanion';
import { DeployCommand } from '../base-command.ts';

export class StatusCommand extends DeployCommand {
  static override paths = [['status']];
  static override usage = Command.Usage({
    category: 'Deploys',
    description: "show an app's service on each of its hosts, and its last deploy",
    details: '`systemctl status <app>` (systemd strategies) or `docker compose ps` (docker-compose), per host. Exits 1 if a host cannot be reached.',
    examples: [
      ['One app', '$0 status my_app'],
      ['Every app', '$0 status --all'],
    ],
  });

  app = Option.String({ name: 'app', required: false });
  all = Option.Boolean('--all', false, { description: 'every target of every app' });

  async run() {
    if (!this.app && !this.all) throw new Error('name an app, or use --all');
    if (this.app && this.all) throw new Error('name an app or use --all, not both');
    const [{ readServiceStatus }, { listTargets, toTargetFields, UnknownTargetError }, { RunStore }, { createConnector }] = await Promise.all([
      import('../../domain/service-status.ts'), import('../../domain/targets.ts'), import('../../engine/run-store.ts'), import('../../transport/ssh/connect.ts'),
    ]);
    let healthy = true;
    await this.withDatabase(async (orm, config) => {
      const store = new RunStore(orm);
      const connect = createConnector(config);
      const targets = (await listTargets(orm.em.fork(), this.app)).map(toTargetFields);
      if (targets.length === 0) throw new UnknownTargetError(this.app ? `no target for app "${this.app}"` : 'no targets yet');
      for (const target of targets) {
        const [last] = await store.runsOf(target.app, target.host, { limit: 1 });
        const lastLine = last
          ? `last deploy: run #${last.id} ${last.status}${last.failed_step ? ` at ${last.failed_step}` : ''}, ${last.queued_at}`
          : 'never deployed';
        this.context.stdout.write(`== ${target.app} on ${target.host} (${target.strategy}) — ${lastLine}\n`);
        const status = await readServiceStatus(target, config, connect);
        if (status.error) {
          healthy = false;
          this.context.stdout.write(`unreachable: ${status.error}\n`);
        } else {
          this.context.stdout.write(status.output);
        }
      }
    });
    return healthy ? 0 : 1;
  }
}
