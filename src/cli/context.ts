import type { BaseContext } from 'clipanion';

/** What every command gets from the process that runs it: passed in, never read from globals. */
export interface CliContext extends BaseContext {
  env: NodeJS.ProcessEnv;
  cwd: string;
}
