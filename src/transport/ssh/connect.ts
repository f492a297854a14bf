import type { Config } from '../../support/config.ts';
import { SshHost } from './ssh-host.ts';
import { createSshFiles } from './ssh-files.ts';

/**
 * Opens an SSH connection to a host alias; `plan.commands`: how many commands the caller will run,
 * when it knows (see SshOptions.commands).
 */
export type Connect = (host: string, plan?: { commands?: number }) => Promise<SshHost>;

/**
 * Connections with the configured home (~/.ssh) and connect timeout, sharing the SSH files as read
 * (ssh-files.ts): a process that connects many times makes one connector and keeps it.
 */
export function createConnector(config: Pick<Config, 'home' | 'sshConnectTimeoutMs'>): Connect {
  const files = createSshFiles();
  return (host, plan = {}) => SshHost.connect(host, { home: config.home, connectTimeoutMs: config.sshConnectTimeoutMs, commands: plan.commands, files });
}

