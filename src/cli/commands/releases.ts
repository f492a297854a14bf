import { Command, Option } from 'clipanion';
import { DeployCommand } from '../base-command.ts';
import type { ReleaseRow } from '../../domain/releases.ts';
import { formatTable } from '../format.ts';

export class ReleasesCommand extends DeployCommand {
  static override paths = [['releases']];
  static override usage = Command.Usage({
    category: 'Deploys',
    description: 'list the releases each host keeps, and which is current',
    details: `
      systemd: the release directories under \`remote_dir/.releases/\` (named by the run that shipped
      them) and the one \`remote_dir/<binary>\` points at. Remote strategies: the commits successful and
      failed deploys left, and the checkout's HEAD. A release whose deploy failed is marked bad: a plain
      \`rollback\` never goes to it.
    `,
    examples: [
      ['Every host of my_app', '$0 releases my_app'],
      ['One host, for scripts', '$0 releases my_app --host vps1 --json'],
    ],
  });

  app = Option.String({ name: 'app' });
  host = Option.String('--host', { description: 'this host only' });
  json = Option.Boolean('--json', false, { description: 'print JSON' });

  async run() {
    let reachable = true;
    const report: { host: string; strategy: string; releases: ReleaseRow[]; error?: string }[] = [];
    const [{ createConnector }, { readHostReleases }, { findTargets }, { RunStore }] = await Promise.all([
      import('../../transport/ssh/connect.ts'), import('../../domain/releases.ts'), import('../../domain/targets.ts'), import('../../engine/run-store.ts'),
    ]);
    await this.withDatabase(async (orm, config) => {
      const store = new RunStore(orm);
      const connect = createConnector(config);
      for (const target of await findTargets(orm.em.fork(), this.app, this.host)) {
        try {
          const host = await connect(target.host);
          try {
            const releases = await readHostReleases(target, host, await store.runsOf(target.app, target.host));
            report.push({ host: target.host, strategy: target.strategy, releases });
          } finally {
            await host.close();
          }
        } catch (error) {
          reachable = false;
          report.push({ host: target.host, strategy: target.strategy, releases: [], error: (error as Error).message });
        }
      }
    });
    if (this.json) {
      this.context.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
    } else {
      for (const entry of report) {
        this.context.stdout.write(`== ${this.app} on ${entry.host} (${entry.strategy})\n`);
        if (entry.error) this.context.stdout.write(`unreachable: ${entry.error}\n`);
        else if (entry.releases.length === 0) this.context.stdout.write('no releases yet\n');
        else {
          const rows = entry.releases.map((r) => [r.release, r.run === null ? '-' : `#${r.run}`, r.deployed_at ?? '-', r.status, [r.current ? 'current' : '', r.bad ? 'bad' : ''].filter(Boolean).join(', ')]);
          this.context.stdout.write(formatTable(['RELEASE', 'RUN', 'DEPLOYED', 'STATUS', ''], rows));
        }
      }
    }
    return reachable ? 0 : 1;
  }
}
