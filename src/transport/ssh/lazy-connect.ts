import type { Config } from '../../support/config.ts';
import type { Connect } from './connect.ts';

/**
 * A connector (connect.ts) that loads the SSH client (node-ssh, ssh2) with its first connection: an
 * idle `serve` holds none of it. Made once per runtime, like the connector it loads.
 */
export function lazyConnector(config: Pick<Config, 'home' | 'sshConnectTimeoutMs'>): Connect {
  let connector: Promise<Connect> | undefined;
  return async (host, plan) => {
    // A failed load is not kept: the next connection loads again (Node keeps a failed import of a
    // module whose own dependency is missing, so that one fails again until a restart).
    connector ??= import('./connect.ts').then((module) => module.createConnector(config)).catch((error: unknown) => {
      connector = undefined;
      throw error;
    });
    return (await connector)(host, plan);
  };
}
