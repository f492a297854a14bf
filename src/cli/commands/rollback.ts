import { Command, Option } from 'clipanion';
import { DeployCommand } from '../base-command.ts';

export class RollbackCommand extends DeployCommand {
  static override paths = [['rollback']];
  static override usage = Command.Usage({
    category: 'Deploys',
    description: 'go back to an earlier release, on every host of the app or one',
    details: `
      A run with trigger \`rollback\`, through the same executor, lock and history as a deploy: it waits
      for a deploy of that target that is running. Without \`--to\`, each host goes back to the newest
      release older than its current one whose deploy succeeded (a release whose deploy failed is never
      chosen); \`--to <run id>\` names the release (systemd) or the commit of that run (remote strategies).
      See what each host keeps with \`deploy_server releases <app>\`.
    `,
    examples: [
      ['Back to the previous good release everywhere', '$0 rollback my_app'],
      ['One host, to the release of run 41', '$0 rollback my_app --host vps1 --to 41'],
    ],
  });

  app = Option.String({ name: 'app' });
  host = Option.String('--host', { description: 'roll back this host only' });
  to = Option.String('--to', { description: 'the run whose release (or commit) to go back to' });
  force = Option.Boolean('--force', false, { description: 'go ahead although the target is locked (recorded on the run)' });
  verbose = Option.Boolean('--verbose', false, { description: 'stream the output of every step' });
  json = Option.Boolean('--json', false, { description: 'print the runs and their steps as JSON at the end' });

  async run() {
    if (this.to !== undefined && !/^\d+$/.test(this.to)) throw new Error(`--to must be a run id (got "${this.to}")`);
    // Loaded here, not at start-up: `target list` need not pay for SSH, the executor and the pipelines.
    const { runTargets } = await import('../run-targets.ts');
    return runTargets({
      app: this.app, host: this.host, trigger: 'rollback', rollbackTo: this.to === undefined ? undefined : Number(this.to),
      force: this.force, verbose: this.verbose, json: this.json, config: this.config(), env: this.context.env, stdout: this.context.stdout,
    });
  }
}
