// The executor's cost per step: a 100-step no-op pipeline (a chain, and 100 independent steps) run
// through the real executor and a real SQLite file, against calling the same 100 no-op steps directly.
//   node --import tsx bench/executor-overhead.ts
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { loadConfig } from '../src/support/config.ts';
import { openDatabase } from '../src/db/orm.ts';
import { Executor } from '../src/engine/executor.ts';
import { STRATEGIES, type Strategy } from '../src/db/entities/DeployTarget.ts';
import { definePipeline, type Pipeline, type StepSpec } from '../src/engine/pipeline.ts';
import { findTargets, saveTarget } from '../src/domain/targets.ts';
import { RunStore } from '../src/engine/run-store.ts';

const STEPS = 100;
const RUNS = Number(process.env.BENCH_RUNS ?? 20);
const noop = async () => undefined;

function buildPipeline(shape: 'chain' | 'wide'): Pipeline {
  const steps: Record<string, StepSpec> = {};
  for (let i = 0; i < STEPS; i++) steps[`s${i}`] = { run: noop, needs: shape === 'chain' && i > 0 ? [`s${i - 1}`] : [] };
  return definePipeline(steps as never);
}

async function measure(shape: 'chain' | 'wide'): Promise<number[]> {
  const dir = mkdtempSync(path.join(tmpdir(), 'bench-executor-'));
  const orm = await openDatabase({ dbPath: path.join(dir, 'operations.db') });
  await saveTarget(orm.em.fork(), { app: 'bench', host: 'h1' });
  const pipeline = buildPipeline(shape);
  const store = new RunStore(orm);
  const executor = new Executor({
    store,
    findTarget: async (app, host) => (await findTargets(orm.em.fork(), app, host))[0],
    config: loadConfig({}),
    pipelines: Object.fromEntries(STRATEGIES.map((s) => [s, { deploy: pipeline, rollback: pipeline }])) as Record<Strategy, { deploy: Pipeline; rollback: Pipeline }>,
    openRemote: async () => { throw new Error('no remote in this benchmark'); },
  });
  const perStep: number[] = [];
  for (let i = 0; i < RUNS + 2; i++) {
    const started = performance.now();
    const { done } = await executor.requestDeploy({ app: 'bench', host: 'h1', trigger: 'manual' });
    const outcome = await done;
    if (outcome.status !== 'success') throw new Error(`run failed: ${outcome.error}`);
    if (i >= 2) perStep.push((performance.now() - started) / STEPS); // two warm-up runs
  }
  await orm.close();
  rmSync(dir, { recursive: true, force: true });
  return perStep;
}

async function measureDirect(): Promise<number[]> {
  const perStep: number[] = [];
  for (let i = 0; i < RUNS; i++) {
    const started = performance.now();
    for (let s = 0; s < STEPS; s++) await noop();
    perStep.push((performance.now() - started) / STEPS);
  }
  return perStep;
}

const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)];
const p90 = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length * 0.9)];

const direct = await measureDirect();
const chain = await measure('chain');
const wide = await measure('wide');
console.log(`executor overhead per step, ${STEPS}-step no-op pipeline, ${RUNS} runs each (node ${process.version})`);
console.log(`  direct await of the step functions: median ${(median(direct) * 1000).toFixed(2)} µs/step`);
for (const [name, values] of [['chain (each needs the previous)', chain], ['wide (no edges)', wide]] as const) {
  console.log(`  executor, ${name}: median ${median(values).toFixed(3)} ms/step, p90 ${p90(values).toFixed(3)} ms/step`);
}
console.log('  (each step is two row updates in operations.db — running, then its result — plus a span and events)');
