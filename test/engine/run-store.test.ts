// The run store's reads cut step output in SQL: what SQLite hands this process is bounded by the
// requested tail, however large the stored outputs (issue 12, item 7).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { MikroORM } from '../../src/db/orm.ts';
import { RunStore } from '../../src/engine/run-store.ts';
import { tail } from '../../src/support/redact.ts';
import { openTestDatabase } from '../helpers/engine.ts';

/** Bytes of every row SQLite returns to this process from now on. */
function countResponseBytes(orm: MikroORM): { bytes: () => number; reset: () => void } {
  let bytes = 0;
  const knex = (orm.em.getConnection() as unknown as { getKnex(): { on(event: string, fn: (response: unknown) => void): void } }).getKnex();
  knex.on('query-response', (response) => {
    for (const row of Array.isArray(response) ? response : []) {
      for (const value of Object.values(row as object)) {
        if (typeof value === 'string') bytes += Buffer.byteLength(value);
        else if (Buffer.isBuffer(value)) bytes += value.length;
      }
    }
  });
  return { bytes: () => bytes, reset: () => (bytes = 0) };
}

/** `count` finished runs of three steps, each with `size` bytes of output (multi-byte characters included). */
async function seedRuns(store: RunStore, count: number, size: number): Promise<string> {
  const output = ('é€ line of build output\n'.repeat(Math.ceil(size / 25))).slice(0, size);
  const ids = await store.queue(Array.from({ length: count }, () => ({ app: 'big', host: 'h', strategy: 'systemd' as const, trigger: 'api' as const, ref: null, commit: null, rollback_to: null })), 1);
  for (const id of ids) {
    const steps = await store.start(id, new Date(), null, ['build', 'rsync', 'restart']);
    for (const stepId of steps.values()) await store.updateStep(stepId, { status: 'success', output });
    await store.finish({ id, status: 'success', failed_step: null, error: null, duration_ms: 1, trace_id: null, rolled_back: false }, new Date());
  }
  return output;
}

test('listRuns and findRun read only the tail of each output from SQLite, the same tail the JS cut gave', async (t) => {
  const orm = await openTestDatabase(t);
  const store = new RunStore(orm);
  const output = await seedRuns(store, 30, 64 * 1024);
  const counter = countResponseBytes(orm);

  const runs = await store.listRuns({ limit: 30, outputBytes: 4096 });
  assert.equal(runs.length, 30);
  for (const step of runs.flatMap((run) => run.steps)) assert.equal(step.output, tail(output, 4096));
  // 90 steps × 64 KiB stored; read: 90 × 4 KiB plus the rows' other columns.
  assert.ok(counter.bytes() < 90 * 4096 + 64 * 1024, `read ${counter.bytes()} bytes from SQLite`);

  counter.reset();
  const one = await store.findRun(runs[0].id, 0);
  assert.deepEqual(one?.steps.map((step) => step.output), ['', '', '']);
  assert.ok(counter.bytes() < 4096, `a run without outputs read ${counter.bytes()} bytes`);
  const full = await store.findRun(runs[0].id, 64 * 1024);
  assert.equal(full?.steps[0].output, tail(output, 64 * 1024));
});

test('stepOutputs reads the named steps\' tails only', async (t) => {
  const orm = await openTestDatabase(t);
  const store = new RunStore(orm);
  const output = await seedRuns(store, 1, 10_000);
  const [run] = await store.listRuns({ limit: 1, outputBytes: 0 });
  const counter = countResponseBytes(orm);
  const outputs = await store.stepOutputs(run.id, ['rsync'], 100);
  assert.deepEqual([...outputs.keys()], ['rsync']);
  assert.equal(outputs.get('rsync'), tail(output, 100));
  assert.ok(counter.bytes() < 1000);
});
