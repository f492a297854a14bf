import type { Config } from '../../support/config.ts';
import type { Connector } from './connect.ts';

/**
 * A connector (connect.ts) that loads the SSH client (node-ssh, ssh2) with its first connection: an
 * idle `serve` holds none of it. Made once per runtime, like the connector it loads. `persistMs`:
 * how long a connection is kept open after a clean use (0: none; see createPooledConnector).
 */
export function lazyConnector(config: Pick<Config, 'home' | 'sshConnectTimeoutMs'>, persistMs = 0): Connector {
  let connector: Promise<Connector> | undefined;
  let loaded: Connector | undefined;
  let closed = false;
  return {
    connect: async (host, plan) => {
      // A failed load is not kept: the next connection loads again (Node keeps a failed import of a
      // module whose own dependency is missing, so that one fails again until a restart).
      connector ??= import('./connect.ts').then((module) => (loaded = module.createPooledConnector(config, closed ? 0 : persistMs))).catch((error: unknown) => {
        connector = undefined;
        throw error;
      });
      return (await connector).connect(host, plan);
    },
    close: () => {
      closed = true;
      // Nothing loaded: nothing open. Loading: it keeps nothing (`closed`); a use under way closes at its end.
      loaded?.close();
    },
  };
}
