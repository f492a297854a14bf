import { lastLines } from './local-process.ts';
import type { ExecResult } from './remote-host.ts';

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

/** The result as it is when the command exited 0; else a CommandFailedError with the last lines of its output. */
export function failIfNonZero(what: string, result: ExecResult): ExecResult {
  if (result.code === 0) return result;
  const detail = lastLines(result.stderr) || lastLines(result.stdout);
  throw new CommandFailedError(`${what} exited with ${result.code}${detail ? `: ${detail}` : ''}`, result.code);
}
