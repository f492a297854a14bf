import { shellQuote as q } from '../shell.ts';
import type { ShellCommand } from './shell-command.ts';

/** `git pull origin <branch>` in the checkout; fast-forward only, so a server never makes merge commits. */
export function gitPull(dir: string, branch: string): ShellCommand {
  return { name: 'git pull', command: `git -C ${q(dir)} pull --ff-only origin ${q(branch)}` };
}

export function gitHead(dir: string): ShellCommand {
  return { name: 'git rev-parse', command: `git -C ${q(dir)} rev-parse HEAD` };
}

export function gitClone(repo: string, branch: string, dir: string): ShellCommand {
  return { name: 'git clone', command: `git clone --branch ${q(branch)} -- ${q(repo)} ${q(dir)}` };
}

/** Puts the checkout back at a commit (a rollback); `--` so a value can never read as an option. */
export function gitResetTo(dir: string, commit: string): ShellCommand {
  return { name: 'git reset', command: `git -C ${q(dir)} reset --hard ${q(commit)} --` };
}
