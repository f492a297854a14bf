import type { Config } from '../../support/config.ts';
import { SshHost } from './ssh-host.ts';

/**
 * Opens an SSH connection to a host alias with the configured home (~/.ssh) and connect timeout;
 * `plan.commands`: how many commands the caller will run, when it knows (see SshOptions.commands).
 */
export function connectTo(host: string, config: Pick<Config, 'home' | 'sshConnectTimeoutMs'>, plan: { commands?: number } = {}): Promise<SshHost> {
  return SshHost.connect(host, { home: config.home, connectTimeoutMs: config.sshConnectTimeoutMs, commands: plan.commands });
}
