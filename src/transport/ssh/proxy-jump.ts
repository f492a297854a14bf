// ProxyJump values, read as OpenSSH reads `-J` (readconf.c parse_jump): comma-separated hops, each
// `[user@]host[:port]` or `ssh://[user@]host[:port]`, an IPv6 address in brackets.

export class ProxyJumpError extends Error {
  override name = 'ProxyJumpError';
}

export interface JumpHop {
  /** An alias (resolved through ~/.ssh/config like any host) or an address. */
  host: string;
  /** Given in the hop: wins over the alias's User / Port. */
  user?: string;
  port?: number;
}

function parsePort(text: string, value: string): number {
  const port = /^\d{1,5}$/.test(text) ? Number(text) : NaN;
  if (!(port >= 1 && port <= 65535)) throw new ProxyJumpError(`ProxyJump ${value}: bad port "${text}"`);
  return port;
}

function parseHop(text: string, value: string): JumpHop {
  const rest = text.startsWith('ssh://') ? text.slice('ssh://'.length).replace(/\/$/, '') : text;
  const at = rest.lastIndexOf('@');
  const user = at >= 0 ? rest.slice(0, at) : undefined;
  const address = at >= 0 ? rest.slice(at + 1) : rest;
  const bracketed = /^\[([^\]]+)\](?::(.*))?$/.exec(address);
  const [host, port] = bracketed ? [bracketed[1], bracketed[2]] : address.includes(':') ? [address.slice(0, address.indexOf(':')), address.slice(address.indexOf(':') + 1)] : [address, undefined];
  if (!host || /[\s/]/.test(host) || user === '') throw new ProxyJumpError(`ProxyJump ${value}: cannot read the hop "${text}"`);
  return { host, ...(user !== undefined ? { user } : {}), ...(port !== undefined ? { port: parsePort(port, value) } : {}) };
}

/** The hops of a ProxyJump value, first to last (the last one connects to the destination). */
export function parseProxyJump(value: string): JumpHop[] {
  const hops = value.split(',').map((hop) => hop.trim());
  if (hops.some((hop) => hop === '')) throw new ProxyJumpError(`ProxyJump ${value}: empty hop`);
  return hops.map((hop) => parseHop(hop, value));
}
