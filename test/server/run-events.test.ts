// SSE of a run this process does not run (another process's, read from the database): the polls read
// statuses, and a step's output once, not every output every 500 ms (issue 12, item 7).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { definePipeline } from '../../src/engine/pipeline.ts';
import { startTestApi } from '../helpers/api.ts';
import { until } from '../helpers/engine.ts';

const noopPipeline = definePipeline({ work: { run: async () => undefined } });

test('watching another process\'s run: each step\'s output is read from SQLite once; the polls read no output', async (t) => {
  const api = await startTestApi(t, { pipeline: noopPipeline, targets: [{ app: 'big', host: 'h' }] });
  const [id] = await api.store.queue([{ app: 'big', host: 'h', strategy: 'systemd', trigger: 'api', ref: null, commit: null, rollback_to: null }], 1);
  const steps = await api.store.start(id, new Date(), null, ['build', 'rsync']);
  const output = 'x'.repeat(100) + '\n';
  await api.store.updateStep(steps.get('build')!, { status: 'success', output: output.repeat(600) }); // ~60 KiB

  let bytes = 0;
  const knex = (api.orm.em.getConnection() as unknown as { getKnex(): { on(event: string, fn: (response: unknown) => void): void } }).getKnex();
  knex.on('query-response', (response) => {
    for (const row of Array.isArray(response) ? response : []) {
      for (const value of Object.values(row as object)) bytes += typeof value === 'string' ? Buffer.byteLength(value) : Buffer.isBuffer(value) ? value.length : 0;
    }
  });

  const controller = new AbortController();
  t.after(() => controller.abort());
  const response = await fetch(`${api.url}/api/runs/${id}/events`, { signal: controller.signal });
  const reader = response.body!.getReader();
  let text = '';
  const read = async () => {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return;
      text += Buffer.from(value).toString();
    }
  };
  const reading = read().catch(() => undefined);
  await until(() => text.includes('event: step') && text.includes('"step":"build"'));
  assert.equal(text.split('event: output').length - 1, 600, 'the finished step\'s lines, once');
  const afterReplay = bytes;
  await new Promise((resolve) => setTimeout(resolve, 1600)); // three polls or more
  const perPolls = bytes - afterReplay;
  assert.ok(perPolls < 8 * 1024, `three polls read ${perPolls} bytes from SQLite (the build output is ${output.length * 600})`);

  await api.store.updateStep(steps.get('rsync')!, { status: 'success', output: 'done\n' });
  await api.store.finish({ id, status: 'success', failed_step: null, error: null, duration_ms: 5, trace_id: null, rolled_back: false }, new Date());
  await reading;
  assert.match(text, /event: output\ndata: \{"run_id":\d+,"step":"rsync","line":"done"\}/);
  assert.match(text, /event: result\ndata: \{"id":\d+,"status":"success"/);
  assert.equal(text.split('"step":"build","line"').length - 1, 600, 'never sent twice');
});
