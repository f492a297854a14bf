import type { Command } from '../transport/remote/shell-command.ts';
import { lacksGitCheckout, makeDirectory } from '../transport/remote/fs.ts';
import { gitClone } from '../transport/remote/git.ts';
import { enableService, reloadUnits, renderUnit, writeUnitFile } from '../transport/remote/systemd.ts';
import type { TargetFields } from './target-schema.ts';

export interface SetupAction {
  title: string;
  commands: Command[];
  /** Run the action only when this command exits 0. */
  onlyIf?: Command;
  skipReason?: string;
  /** The action cannot be done: fail with this message. */
  fail?: string;
}

/** What `setup` does on a host for a target (SPEC §3), as plain data: the CLI runs it, tests read it. */
export function planSetup(target: TargetFields, sshUser: string, unitDir: string): SetupAction[] {
  const sudo = sshUser !== 'root';
  const actions: SetupAction[] = [{ title: `create ${target.remote_dir}`, commands: [makeDirectory(target.remote_dir, sshUser)] }];
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

