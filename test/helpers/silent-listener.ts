// A TCP listener on 127.0.0.1 that accepts connections and never says a word: a host, an origin or a
// health endpoint that hangs. Closed (its connections destroyed) when the test ends.
import net from 'node:net';

export async function startSilentListener(t: { after: (fn: () => unknown) => void }) {
  const sockets = new Set<net.Socket>();
  const server = net.createServer((socket) => sockets.add(socket));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.after(() => {
    for (const socket of sockets) socket.destroy();
    server.close();
  });
  return { port: (server.address() as net.AddressInfo).port, connections: () => sockets.size };
}
