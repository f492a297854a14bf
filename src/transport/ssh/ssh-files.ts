// The SSH files every connection reads — ~/.ssh/config and its includes, identity keys, known_hosts —
// parsed once and re-read only once they change (see file-cache.ts). One per process that connects
// many times (serve's runtime makes one with its connector); a one-off command makes its own.
import { createKeyFiles, type KeyFiles } from './authentication.ts';
import { createKnownHostsFiles, type KnownHostsFiles } from './known-hosts.ts';
import { createConfigFiles, type ConfigFiles } from './ssh-config.ts';

export interface SshFiles {
  config: ConfigFiles;
  keys: KeyFiles;
  knownHosts: KnownHostsFiles;
}

export function createSshFiles(): SshFiles {
  return { config: createConfigFiles(), keys: createKeyFiles(), knownHosts: createKnownHostsFiles() };
}
