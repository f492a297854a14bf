import { shellQuote as q } from '../shell.ts';
import type { ShellCommand } from './shell-command.ts';

/** `mkdir -p`; with `sudoFor` (the SSH user), falls back to `sudo -n install -d` owned by that user. */
export function makeDirectory(dir: string, sudoFor: string | null): ShellCommand {
  if (sudoFor === null) return { name: 'mkdir', command: `mkdir -p ${q(dir)}` };
  return { name: 'mkdir', command: `mkdir -p ${q(dir)} 2>/dev/null || sudo -n install -d -o ${q(sudoFor)} ${q(dir)}` };
}

export function makeExecutable(path: string): ShellCommand {
  return { name: 'chmod', command: `chmod +x ${q(path)}` };
}

/** Exits 0 when a directory is not (yet) a git checkout. */
export function lacksGitCheckout(dir: string): ShellCommand {
  return { name: 'test git checkout', command: `test ! -d ${q(`${dir}/.git`)}` };
}
