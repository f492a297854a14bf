import { Builtins, Cli } from 'clipanion';
import type { CliContext } from './context.ts';
import { describeError } from './base-command.ts';
import { TargetAddCommand } from './commands/target/add.ts';
import { TargetListCommand } from './commands/target/list.ts';
import { TargetRemoveCommand } from './commands/target/remove.ts';
import { ServeCommand } from './commands/serve.ts';
import { PruneCommand } from './commands/prune.ts';
import { PipelinesShowCommand } from './commands/pipelines/show.ts';
import { DeployAppCommand } from './commands/deploy.ts';
import { SetupCommand } from './commands/setup.ts';
import { StatusCommand } from './commands/status.ts';
import { RollbackCommand } from './commands/rollback.ts';
import { ReleasesCommand } from './commands/releases.ts';
import { LockCommand } from './commands/lock/lock.ts';
import { UnlockCommand } from './commands/lock/unlock.ts';
import { LockListCommand } from './commands/lock/list.ts';

export function createCli(): Cli<CliContext> {
  const cli = new Cli<CliContext>({ binaryLabel: 'deploy_server', binaryName: 'deploy_server', binaryVersion: '0.1.0', enableColors: false });
  for (const command of [TargetAddCommand, TargetListCommand, TargetRemoveCommand, SetupCommand, DeployAppCommand, RollbackCommand, ReleasesCommand, StatusCommand, PipelinesShowCommand, ServeCommand, PruneCommand]) cli.register(command);
  for (const command of [LockCommand, UnlockCommand, LockListCommand]) cli.register(command);
  cli.register(Builtins.HelpCommand);
  cli.register(Builtins.VersionCommand);
  return cli;
}

/** Runs one command line; parse errors (unknown flag, missing argument) are one line on stderr, exit 2. */
export async function runCli(argv: string[], context: CliContext): Promise<number> {
  const cli = createCli();
  let command;
  try {
    command = cli.process(argv, context);
  } catch (error) {
    const problem = describeError(error).startsWith('Command not found') ? `unknown command "${argv.join(' ')}"` : describeError(error);
    context.stderr.write(`error: ${problem} (see \`deploy_server --help\`)\n`);
    return 2;
  }
  return cli.run(command, context);
}
