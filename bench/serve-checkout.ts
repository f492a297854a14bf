// `deploy_server serve` of a checkout (this tree, or an older one for a before/after), on a free
// loopback port, for the benches that measure a real server.
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';

export interface ServedCheckout {
  url: string;
  child: ChildProcess;
  /** VmRSS (now) or VmHWM (the peak so far) of the server, in MiB. */
  memoryMiB: (field: 'VmRSS' | 'VmHWM') => number;
}

/** Starts `serve` from `root`'s sources (src/cli/bin.js) and resolves once it listens. */
export function serveCheckout(root: string, env: NodeJS.ProcessEnv): Promise<ServedCheckout> {
  const child = spawn(process.execPath, [path.join(root, 'src/cli/bin.js'), 'serve', '--port', '0', '--bind', '127.0.0.1'], { env, cwd: root, stdio: ['ignore', 'pipe', 'ignore'] });
  const memoryMiB = (field: 'VmRSS' | 'VmHWM') => Number(new RegExp(`${field}:\\s+(\\d+) kB`).exec(fs.readFileSync(`/proc/${child.pid}/status`, 'utf8'))![1]) / 1024;
  return new Promise((resolve, reject) => {
    let out = '';
    child.stdout!.on('data', (chunk) => {
      out += chunk;
      const match = /listening on (http:\/\/[^ ]+)/.exec(out);
      if (match) resolve({ url: match[1], child, memoryMiB });
    });
    child.once('exit', () => reject(new Error(`serve exited: ${out}`)));
  });
}
