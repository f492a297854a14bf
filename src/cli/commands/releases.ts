import { Command, Option } from 'clipanion';
import { DeployCommand } from '../base-command.ts';
import { listTargets, noTargetError } from '../../domain/targets.ts';
import { DeployRun } from '../../db/entities/DeployRun.ts';
import { gitHead } from '../../transport/remote/git.ts';
import { listReleases, parseReleaseList } from '../../transport/remote/releases.ts';
import { formatTable } from '../format.ts';

interface ReleaseRow {
  release: string;
  run: number | null;
  deployed_at: string | null;
  status: string;
  current: boolean;
  bad: boolean;
}

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
    const { connectTo } = await import('../../engine/runtime.ts');
    await this.withDatabase(async (orm, config) => {
      const em = orm.em.fork();
      const targets = (await listTargets(em, this.app)).filter((t) => !this.host || t.host === this.host);
      if (targets.length === 0) throw noTargetError(this.app, this.host);
      for (const target of targets) {
        const runs = await em.find(DeployRun, { app: target.app, host: target.host }, { orderBy: { id: 'desc' } });
        const deploys = runs.filter((r) => r.trigger !== 'rollback');
        try {
          const host = await connectTo(target.host, config);
          try {
            let releases: ReleaseRow[];
            if (target.strategy === 'systemd') {
              const { current, releases: kept } = parseReleaseList((await host.exec(listReleases(target.remote_dir, target.binary))).stdout);
              releases = [...kept].reverse().map((id) => {
                const run = runs.find((r) => r.id === id);
                return { release: String(id), run: id, deployed_at: run?.finished_at?.toISOString() ?? null, status: run?.status ?? 'unknown', current: id === current, bad: run !== undefined && run.status !== 'success' };
              });
            } else {
              const head = (await host.exec(gitHead(target.remote_dir))).stdout.trim();
              const seen = new Set<string>();
              releases = deploys.filter((r) => r.commit_after && !seen.has(r.commit_after) && seen.add(r.commit_after)).map((r) => ({
                release: r.commit_after!.slice(0, 12), run: r.id, deployed_at: r.finished_at?.toISOString() ?? null, status: r.status,
                current: r.commit_after === head, bad: r.status !== 'success',
              }));
            }
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
