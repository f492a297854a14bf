// Time to answer a signed webhook whose changed files must come from git while the registry's origin
// accepts TCP and never answers (issue 12, item 4). Runs a real `serve` of a checkout (default: this
// one) as a child process, so a before/after is one command per checkout:
//
//   node --import tsx bench/webhook-stalled-origin.ts                 # this tree
//   mkdir /tmp/before && git archive 9ac449a | tar -x -C /tmp/before && (cd /tmp/before && npm ci)
//   node --import tsx bench/webhook-stalled-origin.ts /tmp/before     # the "before": this change's base
import { execFileSync } from 'node:child_process';
import { createHmac } from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { serveCheckout } from './serve-checkout.ts';

const root = path.resolve(process.argv[2] ?? new URL('..', import.meta.url).pathname);
const bin = path.join(root, 'src/cli/bin.js');
const SAMPLES = 3;
const SECRET = 'bench-secret';

const sockets = new Set<net.Socket>();
const origin = net.createServer((socket) => sockets.add(socket));
await new Promise<void>((resolve) => origin.listen(0, '127.0.0.1', resolve));
const originPort = (origin.address() as net.AddressInfo).port;

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bench-stalled-'));
const registry = path.join(dir, 'registry');
fs.mkdirSync(registry);
const git = (...args: string[]) => execFileSync('git', ['-c', 'user.name=b', '-c', 'user.email=b@example.com', ...args], { cwd: registry, encoding: 'utf8' }).trim();
git('init', '-q', '-b', 'main');
const commits: string[] = [];
for (let i = 0; i <= SAMPLES; i++) {
  fs.mkdirSync(path.join(registry, 'apps/my_app'), { recursive: true });
  fs.writeFileSync(path.join(registry, `apps/my_app/f${i}`), `${i}\n`);
  git('add', '-A');
  git('commit', '-q', '-m', `c${i}`);
  commits.push(git('rev-parse', 'HEAD'));
}
git('remote', 'add', 'origin', `git://127.0.0.1:${originPort}/registry.git`);

const env = { ...process.env, DEPLOY_DB: path.join(dir, 'operations.db'), DEPLOY_REGISTRY_ROOT: registry, DEPLOY_WEBHOOK_SECRET: SECRET, DEPLOY_API_TOKEN: 'bench-token' };
execFileSync(process.execPath, [bin, 'target', 'add', '--app', 'my_app', '--host', 'nowhere'], { env, cwd: root });
const { url, child: serve } = await serveCheckout(root, env);

const times: number[] = [];
const statuses: number[] = [];
for (let i = 0; i < SAMPLES; i++) {
  // Gitea cut the list (total_commits 2, one listed): the files must come from git.
  const body = JSON.stringify({
    ref: 'refs/heads/main', before: commits[i], after: commits[i + 1], total_commits: 2,
    commits: [{ id: commits[i + 1], added: [], removed: [], modified: ['README.md'] }],
    repository: { name: 'registry', full_name: 'acme/registry' },
  });
  const signature = createHmac('sha256', SECRET).update(body).digest('hex');
  const started = performance.now();
  const response = await fetch(`${url}/webhook/push`, { method: 'POST', headers: { 'content-type': 'application/json', 'x-gitea-event': 'push', 'x-gitea-signature': signature }, body });
  await response.text();
  times.push(performance.now() - started);
  statuses.push(response.status);
}

serve.kill('SIGTERM');
for (const socket of sockets) socket.destroy();
origin.close();
await new Promise((resolve) => serve.once('exit', resolve));
fs.rmSync(dir, { recursive: true, force: true });

const fmt = (ms: number) => `${(ms / 1000).toFixed(2)} s`;
console.log(`checkout: ${root}`);
console.log(`webhook answer with a stalled origin (${SAMPLES} pushes, statuses ${statuses.join(',')}): min ${fmt(Math.min(...times))}, max ${fmt(Math.max(...times))}`);
process.exit(0);
