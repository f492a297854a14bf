import { Command, Option } from 'clipanion';
import { DeployCommand } from '../base-command.ts';

export class DeployAppCommand extends DeployCommand {
  static override paths = [['deploy']];
  static override usage = Command.Usage({
    category: 'Deploys',
    description: 'deploy an app now, to every host it has (a run each) or to one',
    details: `
      Prints each step as it ends: ✓ or ✗, its name and duration. Exits 1 if any run failed.
      Ctrl-C cancels the runs (their remote commands are killed). When the health check fails, the
      previous release is put back (unless the target has --no-auto-rollback).
    `,
    examples: [
      ['Deploy my_app everywhere', '$0 deploy my_app'],
      ['One host, with the remote output', '$0 deploy my_app --host vps1 --verbose'],
      ['For scripts', '$0 deploy my_app --json'],
    ],
  });

  app = Option.String({ name: 'app' });
  host = Option.String('--host', { description: 'deploy to this host only' });
  force = Option.Boolean('--force', false, { description: 'go ahead although the target is locked (recorded on the run)' });
  verbose = Option.Boolean('--verbose', false, { description: 'stream the output of every step' });
  json = Option.Boolean('--json', false, { description: 'print the runs and their steps as JSON at the end' });

  async run() {
    // Loaded here, not at start-up: `target list` need not pay for SSH, the executor and the pipelines.
    const { runTargets } = await import('../run-targets.ts');
    return runTargets({
      app: this.app, host: this.host, trigger: 'manual', force: this.force, verbose: this.verbose, json: this.json,
      config: this.config(), env: this.context.env, stdout: this.context.stdout,
    });
  }
}
