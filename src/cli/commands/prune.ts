import { Command, Option } from 'clipanion';
import { DeployCommand } from '../base-command.ts';

export class PruneCommand extends DeployCommand {
  static override paths = [['prune']];
  static override usage = Command.Usage({
    category: 'Server',
    description: 'delete old deploy history from operations.db and give the space back',
    details: [
      'A finished run is deleted when it is beyond the newest DEPLOY_KEEP_RUNS (200) runs of its target and older than DEPLOY_KEEP_DAYS (90) days; never a queued or running run, a target\'s last successful run, or a run whose release a kept run names. Its steps and notification attempts go with it. Webhook deliveries older than DEPLOY_KEEP_DAYS go too.',
      '',
      '`serve` does the same every hour in the background. By hand, the file is then compacted (VACUUM the first time on a database made before this version, which takes a while and blocks writers: run it when nothing deploys).',
    ].join('\n'),
    examples: [
      ['See what would go', '$0 prune --dry-run'],
      ['Keep 50 runs per target, or 30 days', 'DEPLOY_KEEP_RUNS=50 DEPLOY_KEEP_DAYS=30 $0 prune'],
    ],
  });

  dryRun = Option.Boolean('--dry-run', false, { description: 'count what would be deleted, delete nothing' });

  async run() {
    const { pruneHistory, describePrune } = await import('../../domain/retention.ts'); // loaded by the command that needs it
    const report = await this.withDatabase((orm, config) =>
      pruneHistory(orm, config.dbPath, { keepRuns: config.keepRuns, keepDays: config.keepDays }, { dryRun: this.dryRun, reclaim: 'full' }),
    );
    this.context.stdout.write(`${describePrune(report)}\n`);
  }
}
