// The push receiver alone (domain/push.ts: parse, replay check, match, queue, record), without HTTP
// and without deploys: CPU per delivery and deliveries/s at 1, 4 and 16 concurrent callers, each
// delivery a distinct push touching 4 apps. Runs never start (the executor's queue takes nothing), so
// every target always has a queued run for the next delivery to supersede, as in webhook-intake.ts
// while deploys run. What webhook-intake.ts measures besides (HTTP, autocannon, the deploys, a machine
// shared with others) is left out: this is the intake's own cost. A diagnostic for profiling the
// receiver, without a baseline of its own: not part of `npm run bench` nor of BENCHMARKS.md.
//   node --import tsx bench/webhook-receiver.ts   (BENCH_SECONDS=3 per concurrency)
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import path from 'node:path';
import { pino } from 'pino';
import { loadConfig } from '../src/support/config.ts';
import { openDatabase } from '../src/db/orm.ts';
import { RunStore } from '../src/engine/run-store.ts';
import { Executor } from '../src/engine/executor.ts';
import { findTargets, saveTarget } from '../src/domain/targets.ts';
import { createPushReceiver } from '../src/domain/push.ts';
import { createMetrics } from '../src/server/metrics.ts';
import { signedPushes } from './webhook-load.ts';

const SECONDS = Number(process.env.BENCH_SECONDS ?? 3);
const APPS = ['alpha', 'beta', 'gamma', 'delta'];

const dir = mkdtempSync(path.join(tmpdir(), 'webhook-receiver-'));
try {
  const registryRoot = path.join(dir, 'registry');
  mkdirSync(registryRoot);
  execFileSync('git', ['init', '-q', registryRoot]);
  const config = loadConfig({ HOME: dir, DEPLOY_DB: path.join(dir, 'receiver.db'), DEPLOY_REGISTRY_ROOT: registryRoot });
  const orm = await openDatabase({ dbPath: config.dbPath });
  const store = new RunStore(orm);
  const executor = new Executor({
    store, config, pipelines: {} as never, queue: { enqueue: () => undefined },
    findTarget: async (app, host) => (await findTargets(orm.em.fork(), app, host))[0],
    openRemote: () => Promise.reject(new Error('no deploys in this bench')),
  });
  for (const app of APPS) await saveTarget(orm.em.fork(), { app, host: 'vps1', strategy: 'docker-compose', remote_dir: `/srv/${app}`, repo: 'git@example.org:acme/registry.git' });
  createMetrics().observe((listener) => executor.subscribe(listener)); // as createApp does
  const receiver = createPushReceiver({ orm, store, config, executor, logger: pino({ level: 'warn' }) });
  const pushes = signedPushes('unused', APPS);

  /** `callers` loops, each receiving one push after the other, for `ms`: how many were queued. */
  const load = async (callers: number, ms: number) => {
    let queued = 0;
    const end = performance.now() + ms;
    await Promise.all(Array.from({ length: callers }, async () => {
      while (performance.now() < end) {
        const receipt = await receiver.receive(Buffer.from(pushes.next().body));
        if (receipt.outcome !== 'queued' || receipt.queued.length !== APPS.length) throw new Error(`unexpected receipt: ${JSON.stringify(receipt)}`);
        queued++;
      }
    }));
    return queued;
  };
  await load(16, 1000); // warm-up
  console.log(`push receiver alone (no HTTP, no deploys), ${SECONDS} s per line, each delivery a distinct push touching ${APPS.length} apps:`);
  for (const callers of [1, 4, 16]) {
    const cpu = process.cpuUsage();
    const started = performance.now();
    const count = await load(callers, SECONDS * 1000);
    const used = process.cpuUsage(cpu);
    const perSecond = count / ((performance.now() - started) / 1000);
    console.log(`  ${String(callers).padStart(2)} concurrent: ${perSecond.toFixed(0).padStart(5)} deliveries/s, CPU ${((used.user + used.system) / 1000 / count).toFixed(3)} ms per delivery`);
  }
  console.log(`  (load average ${loadavg().map((l) => l.toFixed(1)).join(' ')})`);
  await executor.shutdown(1000);
  await orm.close();
} finally {
  rmSync(dir, { recursive: true, force: true });
}
