import { shellQuote as q } from '../shell.ts';
import type { Command } from './command.ts';

/** `build_cmd` on the host, in the checkout. The only value that is a shell command by design. */
export function remoteBuild(dir: string, buildCmd: string): Command {
  return { command: `cd ${q(dir)} && ${buildCmd}` };
}
