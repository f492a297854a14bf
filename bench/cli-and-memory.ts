// CLI start-up (`deploy_server target list` and `--help`, a new process each time, through the built
// dist/deploy_server.js that `npm ci` builds) against bare `node -e 0`, and the resident memory of `serve`
// at idle and with 100 runs queued, against an idle bare node process. Baselines run interleaved with
// the measured runs, in the same invocation.
//   npm run build && node --import tsx bench/cli-and-memory.ts   (BENCH_RUNS=15)
import { execFileSync, spawn } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { loadavg } from 'node:os';
import path from 'node:path';
import { builtBin, makeTempDir, runCliInProcess, startServe, stopChild } from '../test/helpers/cli.ts';

const RUNS = Number(process.env.BENCH_RUNS ?? 15);
const cleanups: (() => void)[] = [];
const dir = makeTempDir({ after: (fn) => cleanups.push(fn) }, 'bench-cli-');
const env = { ...process.env, DEPLOY_DB: path.join(dir, 'operations.db'), HOME: dir };

const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)];
const time = (argv: string[]) => {
  const started = performance.now();
  execFileSync(process.execPath, argv, { env, stdio: 'ignore' });
  return performance.now() - started;
};
const ms = (value: number) => `${value.toFixed(0).padStart(5)} ms`;
await runCliInProcess(['target', 'add', '--app', 'app0', '--host', 'vps1'], env); // a database with one target
const BIN = builtBin();
time([BIN, 'target', 'list']); // warm the page cache
const loadBefore = loadavg()[0];
const bare: number[] = [];
const list: number[] = [];
const help: number[] = [];
for (let i = 0; i < RUNS; i++) {
  bare.push(time(['-e', '0']));
  list.push(time([BIN, 'target', 'list']));
  help.push(time([BIN, '--help']));
}
const ratio = (values: number[]) => `${(median(values) / median(bare)).toFixed(1)}× bare node`;
console.log(`CLI start-up, ${RUNS} runs each (interleaved; load average ${loadBefore.toFixed(1)} → ${loadavg()[0].toFixed(1)}), medians:`);
console.log(`  node -e 0 (baseline)           ${ms(median(bare))}`);
console.log(`  deploy_server target list      ${ms(median(list))}   (${ratio(list)}; goal ≤ 250 ms and ≤ 4×)`);
console.log(`  deploy_server --help           ${ms(median(help))}   (${ratio(help)}; goal ≤ 150 ms)`);

// 100 targets on a host whose SSH port accepts connections and never answers: the two runs the host
// limit lets start wait in sshCheck, the other 98 stay queued.
const sockets: net.Socket[] = [];
const blackhole = net.createServer((socket) => sockets.push(socket)).listen(0, '127.0.0.1');
await new Promise((resolve) => blackhole.once('listening', resolve));
const port = (blackhole.address() as net.AddressInfo).port;
execFileSync('mkdir', ['-p', path.join(dir, '.ssh')]);
writeFileSync(path.join(dir, '.ssh', 'config'), `Host blackhole\n  HostName 127.0.0.1\n  Port ${port}\n`);
// A real key: with none to offer, the runs would fail before connecting instead of waiting in sshCheck.
execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', path.join(dir, '.ssh', 'id_ed25519')]);
for (let i = 0; i < 100; i++) await runCliInProcess(['target', 'add', '--app', `mem${i}`, '--host', 'blackhole'], env);
// Baseline: a bare node process doing nothing, measured the same way.
const idleNode = spawn(process.execPath, ['-e', 'setInterval(() => {}, 1000)'], { stdio: 'ignore' });
await new Promise((resolve) => setTimeout(resolve, 1000));
const bareRss = rssOf(idleNode.pid!);
idleNode.kill();
const serve = await startServe({ ...env, DEPLOY_API_TOKEN: 'bench', DEPLOY_SSH_TIMEOUT: '120', DEPLOY_SHUTDOWN_TIMEOUT: '1' });
const rss = () => rssOf(serve.child.pid!);
await new Promise((resolve) => setTimeout(resolve, 1000));
const idle = rss();
for (let i = 0; i < 100; i++) {
  await fetch(`${serve.url}/api/deploy/mem${i}`, { method: 'POST', headers: { authorization: 'Bearer bench', 'content-type': 'application/json' }, body: '{}' });
}
await new Promise((resolve) => setTimeout(resolve, 1000));
const logs = (await (await fetch(`${serve.url}/api/logs?limit=200`, { headers: { authorization: 'Bearer bench' } })).json()) as { status: string }[];
const queued = logs.filter((r) => r.status === 'queued').length;
const running = logs.filter((r) => r.status === 'running').length;
const busy = rss();
await stopChild(serve.child);
for (const socket of sockets) socket.destroy();
blackhole.close();
cleanups.forEach((fn) => fn());
if (running !== 2 || queued !== 98) throw new Error(`expected 2 running + 98 queued runs, found ${running} running + ${queued} queued: the figure would not be the one the goal names`);
const mib = (value: number) => `${value.toFixed(0).padStart(5)} MiB`;
console.log('serve resident memory (VmRSS):');
console.log(`  bare node, idle (baseline)     ${mib(bareRss)}`);
console.log(`  serve, idle                    ${mib(idle)}   (+${(idle - bareRss).toFixed(0)} MiB over bare node; goal ≤ 90 MiB)`);
console.log(`  ${running} running + ${queued} queued runs     ${mib(busy)}   (+${(busy - bareRss).toFixed(0)} MiB over bare node; goal ≤ 120 MiB)`);

function rssOf(pid: number): number {
  return Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))![1]) / 1024;
}
