import type { Config } from '../../support/config.ts';
import { SshHost } from './ssh-host.ts';

/** Opens an SSH connection to a host alias with the configured home (~/.ssh) and connect timeout. */
export function connectTo(host: string, config: Pick<Config, 'home' | 'sshConnectTimeoutMs'>): Promise<SshHost> {
  return SshHost.connect(host, { home: config.home, connectTimeoutMs: config.sshConnectTimeoutMs });
}
