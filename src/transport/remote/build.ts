import { shellQuote as q } from '../shell.ts';
import type { ShellCommand } from './shell-command.ts';

/**
 * `build_cmd` on the host, in the checkout: the only value that is a shell command by design. Not
 * `cd dir && build`: a `&` or `;` in the build would take parts of it out of the directory.
 */
export function remoteBuild(dir: string, buildCmd: string): ShellCommand {
  return { name: 'build', command: `cd ${q(dir)} || exit 1; ${buildCmd}` };
}
