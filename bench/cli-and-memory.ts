// CLI start-up (`deploy_server target list`, a new process each time) against bare `node -e 0`, and the
// resident memory of `serve` at idle and with 100 runs queued.
//   node --import tsx bench/cli-and-memory.ts   (BENCH_RUNS=10)
import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { BIN, makeTempDir, runCliInProcess, startServe, stopChild } from '../test/helpers/cli.ts';

const RUNS = Number(process.env.BENCH_RUNS ?? 10);
const cleanups: (() => void)[] = [];
const dir = makeTempDir({ after: (fn) => cleanups.push(fn) }, 'bench-cli-');
const env = { ...process.env, DEPLOY_DB: path.join(dir, 'operations.db'), HOME: dir };

const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)];
const time = (argv: string[]) => {
  const started = performance.now();
  execFileSync(process.execPath, argv, { env, stdio: 'ignore' });
  return performance.now() - started;
};
for (let i = 0; i < 3; i++) await runCliInProcess(['target', 'add', '--app', `app${i}`, '--host', 'vps1'], env);
time([BIN, 'target', 'list']); // the first run also fills tsx's transform cache
const bare: number[] = [];
const list: number[] = [];
for (let i = 0; i < RUNS; i++) {
  bare.push(time(['-e', '0']));
  list.push(time([BIN, 'target', 'list']));
}
console.log(`CLI start-up, ${RUNS} runs each, medians:`);
console.log(`  node -e 0                      ${median(bare).toFixed(0).padStart(5)} ms`);
console.log(`  deploy_server target list      ${median(list).toFixed(0).padStart(5)} ms   (${(median(list) / median(bare)).toFixed(1)}× bare node)`);

// 100 targets on a host whose SSH port accepts connections and never answers: the two runs the host
// limit lets start wait in sshCheck, the other 98 stay queued.
const sockets: net.Socket[] = [];
const blackhole = net.createServer((socket) => sockets.push(socket)).listen(0, '127.0.0.1');
await new Promise((resolve) => blackhole.once('listening', resolve));
const port = (blackhole.address() as net.AddressInfo).port;
execFileSync('mkdir', ['-p', path.join(dir, '.ssh')]);
writeFileSync(path.join(dir, '.ssh', 'config'), `Host blackhole\n  HostName 127.0.0.1\n  Port ${port}\n`);
writeFileSync(path.join(dir, '.ssh', 'id_ed25519'), '');
for (let i = 0; i < 100; i++) await runCliInProcess(['target', 'add', '--app', `mem${i}`, '--host', 'blackhole'], env);
const serve = await startServe({ ...env, DEPLOY_API_TOKEN: 'bench', DEPLOY_SSH_TIMEOUT: '120', DEPLOY_SHUTDOWN_TIMEOUT: '1' });
const rss = () => Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${serve.child.pid}/status`, 'utf8'))![1]) / 1024;
await new Promise((resolve) => setTimeout(resolve, 1000));
const idle = rss();
for (let i = 0; i < 100; i++) {
  await fetch(`${serve.url}/api/deploy/mem${i}`, { method: 'POST', headers: { authorization: 'Bearer bench', 'content-type': 'application/json' }, body: '{}' });
}
await new Promise((resolve) => setTimeout(resolve, 1000));
const logs = (await (await fetch(`${serve.url}/api/logs?limit=200`)).json()) as { status: string }[];
const queued = logs.filter((r) => r.status === 'queued').length;
const running = logs.filter((r) => r.status === 'running').length;
const busy = rss();
await stopChild(serve.child);
for (const socket of sockets) socket.destroy();
blackhole.close();
cleanups.forEach((fn) => fn());
console.log('serve resident memory (VmRSS):');
console.log(`  idle                           ${idle.toFixed(0).padStart(5)} MiB`);
console.log(`  ${running} running + ${queued} queued runs     ${busy.toFixed(0).padStart(5)} MiB`);
