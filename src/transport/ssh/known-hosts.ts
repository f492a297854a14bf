import { createHmac } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';

/** How OpenSSH names a host in known_hosts: `host` on port 22, `[host]:port` otherwise. */
export function knownHostsName(hostname: string, port: number): string {
  return port === 22 ? hostname : `[${hostname}]:${port}`;
}

function matchesHost(field: string, name: string): boolean {
  if (field.startsWith('|1|')) {
    const [, , salt, hash] = field.split('|');
    return createHmac('sha1', Buffer.from(salt, 'base64')).update(name).digest().equals(Buffer.from(hash, 'base64'));
  }
  return field.split(',').includes(name);
}

/** The public key blobs that known_hosts files trust for a host (plain and hashed entries; `@revoked` ignored). */
export function trustedHostKeys(files: string[], hostname: string, port: number): Buffer[] {
  const name = knownHostsName(hostname, port);
  const keys: Buffer[] = [];
  for (const file of files) {
    if (!existsSync(file)) continue;
    for (const line of readFileSync(file, 'utf8').split('\n')) {
      let fields = line.trim().split(/\s+/);
      if (!fields[0] || fields[0].startsWith('#')) continue;
      if (fields[0].startsWith('@')) {
        if (fields[0] !== '@cert-authority') continue;
        fields = fields.slice(1);
      }
      if (fields[2] && matchesHost(fields[0], name)) keys.push(Buffer.from(fields[2], 'base64'));
    }
  }
  return keys;
}
