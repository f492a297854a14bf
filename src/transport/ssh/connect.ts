import type { Config } from '../../support/config.ts';
import { ConnectionPool } from './connection-pool.ts';
import { SshHost } from './ssh-host.ts';
import { createSshFiles } from './ssh-files.ts';

/**
 * Opens an SSH connection to a host alias; `plan.commands`: how many commands the caller will run,
 * when it knows (see SshOptions.commands).
 */
export type Connect = (host: string, plan?: { commands?: number }) => Promise<SshHost>;

/** A connector that may keep connections open between uses: `close` closes the idle ones, and keeps no more. */
export interface Connector {
  connect: Connect;
  close(): void;
}

/**
 * Connections with the configured home (~/.ssh) and connect timeout, sharing the SSH files as read
 * (ssh-files.ts): a process that connects many times makes one connector and keeps it.
 */
export function createConnector(config: Pick<Config, 'home' | 'sshConnectTimeoutMs'>): Connect {
  const files = createSshFiles();
  return (host, plan = {}) => SshHost.connect(host, { home: config.home, connectTimeoutMs: config.sshConnectTimeoutMs, commands: plan.commands, files });
}

/**
 * As createConnector; with `persistMs` > 0 (DEPLOY_SSH_PERSIST_SECONDS), a connection whose use ended
 * cleanly is kept open that long for the next use of the same alias (connection-pool.ts).
 */
export function createPooledConnector(config: Pick<Config, 'home' | 'sshConnectTimeoutMs'>, persistMs: number): Connector {
  if (persistMs <= 0) return { connect: createConnector(config), close: () => undefined };
  const pool = new ConnectionPool({ idleMs: persistMs, ssh: { home: config.home, connectTimeoutMs: config.sshConnectTimeoutMs, files: createSshFiles() } });
  return { connect: (host, plan) => pool.connect(host, plan), close: () => pool.close() };
}
