import type { Command } from '../commands/command.ts';
import { lastLines } from '../local-process.ts';
import type { StepContext } from '../pipeline.ts';
import type { ExecResult } from '../remote-host.ts';

/** A command that exited non-zero: the executor records `exitCode` on the step. */
export class CommandFailedError extends Error {
  override name = 'CommandFailedError';
  constructor(
    message: string,
    readonly exitCode: number,
  ) {
    super(message);
  }
}

export function failIfNonZero(what: string, result: ExecResult): ExecResult {
  if (result.code === 0) return result;
  const detail = lastLines(result.stderr) || lastLines(result.stdout);
  throw new CommandFailedError(`${what} exited with ${result.code}${detail ? `: ${detail}` : ''}`, result.code);
}

/** Runs a command on the run's host: echoed, output streamed into the step, non-zero exit fails the step. */
export async function runRemote(context: StepContext<any>, command: Command): Promise<ExecResult> {
  const host = await context.deploy.remote();
  const shown = command.display ?? command.command;
  context.output(`$ ${shown}\n`);
  const result = await host.exec(command, { signal: context.signal, onOutput: context.output });
  return failIfNonZero(shown, result);
}

/** `sudo -n` for systemctl unless the SSH user is root. */
export async function needsSudo(context: StepContext<any>): Promise<boolean> {
  return (await context.deploy.remote()).user !== 'root';
}
