// A TCP proxy that holds every chunk for half a round trip in each direction: a WAN link's latency
// on loopback (this kernel has no netem). Order is kept: a chunk never overtakes an earlier one.
import fs from 'node:fs';
import net from 'node:net';
import type { SshdHarness } from '../test/helpers/sshd.ts';

export interface DelayProxy {
  port: number;
  /** The link goes down: open connections are reset, new ones refused, until restore(). */
  cut(): void;
  restore(): void;
  close(): Promise<void>;
}

/** Forwards one direction, each chunk `delayMs` after it arrived. */
function delayedPipe(from: net.Socket, to: net.Socket, delayMs: number): void {
  from.on('data', (chunk) => {
    if (delayMs === 0) to.write(chunk);
    else setTimeout(() => to.writable && to.write(chunk), delayMs);
  });
  from.on('end', () => setTimeout(() => to.end(), delayMs));
  from.on('error', () => to.destroy());
}

/** Listens on 127.0.0.1 (a free port) and forwards to 127.0.0.1:`targetPort` with `rttMs` of latency. */
export function startDelayProxy(targetPort: number, rttMs: number): Promise<DelayProxy> {
  const sockets = new Set<net.Socket>();
  let down = false;
  const server = net.createServer((client) => {
    if (down) return void client.destroy();
    const upstream = net.connect({ host: '127.0.0.1', port: targetPort });
    for (const socket of [client, upstream]) {
      socket.setNoDelay(true);
      sockets.add(socket);
      socket.on('close', () => sockets.delete(socket));
    }
    delayedPipe(client, upstream, rttMs / 2);
    delayedPipe(upstream, client, rttMs / 2);
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      resolve({
        port: (server.address() as net.AddressInfo).port,
        cut: () => {
          down = true;
          for (const socket of sockets) socket.destroy();
        },
        restore: () => void (down = false),
        close: () =>
          new Promise((done) => {
            for (const socket of sockets) socket.destroy();
            server.close(() => done());
          }),
      });
    });
  });
}

/**
 * Writes `aliases` into the harness's ssh config (replacing what an earlier call wrote), each
 * reaching its sshd through the proxy on `proxyPort`: known_hosts names the sshd's real port, hence
 * HostKeyAlias. OpenSSH and deploy_server read the same file.
 */
export function routeAliasesThrough(harness: SshdHarness, aliases: string[], proxyPort: number): void {
  const marker = '\n# aliases through the delay proxy\n';
  const config = fs.readFileSync(harness.sshConfigFile, 'utf8').split(marker)[0];
  const settings = `  HostName 127.0.0.1\n  Port ${proxyPort}\n  HostKeyAlias [127.0.0.1]:${harness.port}\n  User ${harness.user}\n` +
    `  IdentityFile ${harness.identityFile}\n  IdentitiesOnly yes\n  UserKnownHostsFile ${harness.knownHostsFile}\n  BatchMode yes\n`;
  fs.writeFileSync(harness.sshConfigFile, `${config}${marker}Host ${aliases.join(' ')}\n${settings}`);
}
