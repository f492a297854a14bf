// The reads that serve makes of the runs, against the size of the history: each webhook batch asks what
// commit its targets run (deployedCommits), the dashboard's grid asks each target's newest runs after
// every run change (targetHistory), and retention asks which runs may go (pruneHistory, hourly). Each
// is measured on a database of 1,000 runs (the baseline) and on one of 200,000, in the same invocation:
// SQLite (better-sqlite3) runs on serve's event loop, so a read that grows with the history holds
// every request and every deploy for that long. 60 targets (20 apps × 3 hosts); a seventh of the runs
// succeeded, the rest were superseded, spread over the last 60 days (younger than DEPLOY_KEEP_DAYS:
// nothing is prunable, as on a busy server).
//   node --import tsx bench/history-reads.ts   (BENCH_RUNS=200000)
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import { openDatabase } from '../src/db/orm.ts';
import { saveTarget } from '../src/domain/targets.ts';
import { pruneHistory } from '../src/domain/retention.ts';
import { RunStore } from '../src/engine/run-store.ts';
import { longestStall } from '../test/helpers/event-loop.ts';
import { median } from './remote-deploy-bench.ts';

const LARGE = Number(process.env.BENCH_RUNS ?? 200_000);
const SMALL = 1_000;
const APPS = Array.from({ length: 20 }, (_, i) => `app${i}`);
const HOSTS = ['vps0', 'vps1', 'vps2'];
const DAY_MS = 24 * 60 * 60 * 1000;

/** A database with the 60 targets and `runs` runs, made by the migrations. */
async function historyOf(dir: string, runs: number): Promise<string> {
  const dbPath = path.join(dir, `history-${runs}.db`);
  const orm = await openDatabase({ dbPath });
  for (const app of APPS) for (const host of HOSTS) await saveTarget(orm.em.fork(), { app, host, strategy: 'docker-compose', remote_dir: `/srv/${app}`, repo: 'git@example.org:acme/registry.git' });
  await orm.close();
  const db = new Database(dbPath);
  const insert = db.prepare(`insert into deploy_run (app, host, strategy, "trigger", status, "commit", queued_at, finished_at, duration_ms, forced, rolled_back, cancel_requested)
    values (?, ?, 'docker-compose', 'webhook', ?, ?, ?, ?, 0, 0, 0, 0)`);
  const now = Date.now();
  db.transaction(() => {
    for (let i = 0; i < runs; i++) {
      const queuedAt = now - ((runs - i) / runs) * 60 * DAY_MS;
      insert.run(APPS[i % APPS.length], HOSTS[i % HOSTS.length], i % 7 === 0 ? 'success' : 'cancelled', i.toString(16).padStart(40, '0'), queuedAt, queuedAt);
    }
  })();
  db.close();
  return dbPath;
}

async function timed(times: number, read: () => Promise<unknown>): Promise<number> {
  await read(); // statements prepared, pages cached
  const ms: number[] = [];
  for (let i = 0; i < times; i++) {
    const started = performance.now();
    await read();
    ms.push(performance.now() - started);
  }
  return median(ms);
}

async function measure(dir: string, runs: number) {
  const dbPath = await historyOf(dir, runs);
  const orm = await openDatabase({ dbPath });
  try {
    const store = new RunStore(orm);
    // A push touching 4 apps, each on 3 hosts.
    const batch = APPS.slice(0, 4).flatMap((app) => HOSTS.map((host) => ({ app, host })));
    const commits = await timed(50, () => store.deployedCommits(batch));
    const history = await timed(20, () => store.targetHistory(10));
    const policy = { keepRuns: 200, keepDays: 90 };
    await pruneHistory(orm, dbPath, policy, { dryRun: true }); // warm
    const { wallMs: prune, stallMs: block } = await longestStall(() => pruneHistory(orm, dbPath, policy, { dryRun: true }));
    return { commits, history, prune, block };
  } finally {
    await orm.close();
  }
}

const dir = mkdtempSync(path.join(tmpdir(), 'history-reads-'));
try {
  const small = await measure(dir, SMALL);
  const large = await measure(dir, LARGE);
  const row = (name: string, a: number, b: number) =>
    `  ${name.padEnd(52)} ${a.toFixed(2).padStart(8)} ms ${b.toFixed(2).padStart(10)} ms ${(b / a).toFixed(1).padStart(7)}×`;
  console.log(`reads of the runs against the history's size (SQLite, ${APPS.length * HOSTS.length} targets), median of repeated reads:`);
  console.log(`  ${''.padEnd(52)} ${`${SMALL} runs`.padStart(11)} ${`${LARGE} runs`.padStart(13)}   ratio`);
  console.log(row('deployedCommits, 12 targets (each webhook batch)', small.commits, large.commits));
  console.log(row('targetHistory(10), 60 targets (the dashboard grid)', small.history, large.history));
  console.log(row('pruneHistory --dry-run, in all (hourly)', small.prune, large.prune));
  console.log(row('pruneHistory: longest event-loop stall meanwhile', small.block, large.block));
} finally {
  rmSync(dir, { recursive: true, force: true });
}
