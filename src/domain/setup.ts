import type { ShellCommand } from '../transport/remote/shell-command.ts';
import { lacksGitCheckout, makeDirectory } from '../transport/remote/fs.ts';
import { gitClone } from '../transport/remote/git.ts';
import { enableService, reloadUnits, renderUnit, writeUnitFile } from '../transport/remote/systemd.ts';
import { failIfNonZero } from '../transport/command-result.ts';
import type { RemoteHost } from '../transport/remote-host.ts';
import type { TargetFields } from './target-schema.ts';
import { usesSudo, type Config } from '../support/config.ts';

export interface SetupAction {
  title: string;
  commands: ShellCommand[];
  /** Run the action only when this command exits 0. */
  onlyIf?: ShellCommand;
  skipReason?: string;
  /** The action cannot be done: fail with this message. */
  fail?: string;
}

/** What `setup` does on a host for a target (SPEC §3), as plain data: the CLI runs it, tests read it. */
export function planSetup(target: TargetFields, sshUser: string, config: Pick<Config, 'unitDir' | 'sudo'>): SetupAction[] {
  const { unitDir } = config;
  const sudo = usesSudo(config, sshUser);
  const actions: SetupAction[] = [{ title: `create ${target.remote_dir}`, commands: [makeDirectory(target.remote_dir, sudo ? sshUser : null)] }];
  if (target.strategy !== 'systemd') {
    const missing = lacksGitCheckout(target.remote_dir);
    actions.push(
      target.repo
        ? { title: `clone ${target.repo} (${target.branch})`, commands: [gitClone(target.repo, target.branch, target.remote_dir)], onlyIf: missing, skipReason: 'already a git checkout' }
        : { title: 'git checkout', commands: [], onlyIf: missing, skipReason: 'already a git checkout', fail: `${target.remote_dir} on ${target.host} has no git checkout and the target has no --repo to clone` },
    );
  }
  if (target.strategy !== 'docker-compose') {
    actions.push({
      title: `write ${unitDir}/${target.app}.service, daemon-reload, enable`,
      commands: [writeUnitFile(unitDir, target.app, sudo, renderUnit(target)), reloadUnits(sudo), enableService(target.app, sudo)],
    });
  }
  return actions;
}


/** What became of one action when it ran: done, or skipped (and why). */
export type SetupProgress = { action: SetupAction; done: true } | { action: SetupAction; done: false; skipped: string };

/**
 * Runs the plan on the host, in order: an action whose `onlyIf` fails is skipped, one that cannot be
 * done throws its message, a command that fails throws with its output. Safe to run again.
 */
export async function applySetup(target: TargetFields, host: RemoteHost, config: Pick<Config, 'unitDir' | 'sudo'>, onProgress: (progress: SetupProgress) => void): Promise<void> {
  for (const action of planSetup(target, host.user, config)) {
    if (action.onlyIf && (await host.exec(action.onlyIf)).code !== 0) {
      onProgress({ action, done: false, skipped: action.skipReason ?? 'not needed' });
      continue;
    }
    if (action.fail) throw new Error(action.fail);
    for (const command of action.commands) failIfNonZero(command.display ?? command.command, await host.exec(command));
    onProgress({ action, done: true });
  }
}
