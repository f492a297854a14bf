import { shellQuote as q } from '../shell.ts';
import type { ShellCommand } from './shell-command.ts';
import type { TargetFields } from '../../domain/target-schema.ts';

/** `cd <remote_dir> && docker compose -f docker-compose.yml [-f <extra>…] <args>` (Compose v2). */
function compose(target: Pick<TargetFields, 'remote_dir' | 'compose_files'>, ...args: string[]): ShellCommand {
  const files = ['docker-compose.yml', ...target.compose_files].map((file) => `-f ${q(file)}`).join(' ');
  return { name: `docker compose ${args[0]}`, command: `cd ${q(target.remote_dir)} && docker compose ${files} ${args.join(' ')}` };
}

export function composePull(target: Pick<TargetFields, 'remote_dir' | 'compose_files'>): ShellCommand {
  return compose(target, 'pull');
}

export function composeUp(target: Pick<TargetFields, 'remote_dir' | 'compose_files'>): ShellCommand {
  return compose(target, 'up', '-d');
}

export function composeStatus(target: Pick<TargetFields, 'remote_dir' | 'compose_files'>): ShellCommand {
  return compose(target, 'ps');
}

/** Every container of the project, stopped ones too, one JSON object per line (or one array, before Compose 2.21): what the health check reads. */
export function composeServiceStates(target: Pick<TargetFields, 'remote_dir' | 'compose_files'>): ShellCommand {
  return compose(target, 'ps', '--all', '--format', 'json');
}
