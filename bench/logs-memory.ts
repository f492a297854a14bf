// Peak RSS of `serve` answering GET /api/logs?limit=200 over 200 runs × 5 steps of 64 KiB output each
// (issue 12, item 7): three requests one after another, then three at once. Runs a real `serve` of a
// checkout (default: this one), so a before/after is one command per checkout:
//
//   node --import tsx bench/logs-memory.ts                 # this tree
//   node --import tsx bench/logs-memory.ts /tmp/before     # another checkout (the "before")
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { openDatabase } from '../src/db/orm.ts';
import { serveCheckout } from './serve-checkout.ts';

const root = path.resolve(process.argv[2] ?? new URL('..', import.meta.url).pathname);
const bin = path.join(root, 'src/cli/bin.js');
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bench-logs-'));
const TOKEN = 'bench-token';
const env = { ...process.env, DEPLOY_DB: path.join(dir, 'operations.db'), DEPLOY_API_TOKEN: TOKEN };

// The checkout's own schema (its migrations), then the rows, written here with plain SQL.
execFileSync(process.execPath, [bin, 'target', 'add', '--app', 'big', '--host', 'nowhere'], { env, cwd: root });
const orm = await openDatabase({ dbPath: env.DEPLOY_DB, migrate: false });
const connection = orm.em.getConnection();
const output = 'x'.repeat(99) + '\n';
const big = output.repeat(Math.ceil((64 * 1024) / output.length)).slice(0, 64 * 1024);
await connection.execute('begin');
for (let run = 1; run <= 200; run++) {
  await connection.execute(`insert into deploy_run (id, app, host, strategy, "trigger", status, queued_at, duration_ms) values (?, 'big', 'nowhere', 'systemd', 'api', 'success', ?, 1)`, [run, Date.now()]);
  for (const step of ['sshCheck', 'build', 'rsync', 'restart', 'healthCheck']) {
    await connection.execute(`insert into step_run (run_id, step, status, output) values (?, ?, 'success', ?)`, [run, step, big]);
  }
}
await connection.execute('commit');
await orm.close();

const { url, child: serve, memoryMiB } = await serveCheckout(root, env);
const logs = async () => {
  const response = await fetch(`${url}/api/logs?limit=200`, { headers: { authorization: `Bearer ${TOKEN}` } });
  const body = (await response.json()) as unknown[];
  if (response.status !== 200 || body.length !== 200) throw new Error(`GET /api/logs: ${response.status}`);
};

const idle = memoryMiB('VmRSS');
for (let i = 0; i < 3; i++) await logs();
const sequential = memoryMiB('VmHWM');
await Promise.all([logs(), logs(), logs()]);
const parallel = memoryMiB('VmHWM');

serve.kill('SIGTERM');
await new Promise((resolve) => serve.once('exit', resolve));
fs.rmSync(dir, { recursive: true, force: true });
console.log(`checkout: ${root}`);
console.log(`serve RSS idle ${idle.toFixed(0)} MiB; peak after 3 × /api/logs?limit=200 ${sequential.toFixed(0)} MiB; peak after 3 more at once ${parallel.toFixed(0)} MiB`);
process.exit(0);
