// The DAG walk on literal graphs: no database, no executor — a runStep that says how each step ends.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { definePipeline, type Pipeline } from '../../src/engine/pipeline.ts';
import { walkPipeline, type StepOutcome } from '../../src/engine/walk.ts';

const run = async () => undefined;

/** Walks `pipeline` with steps that end as `outcomes` says (success by default); logs starts and skips. */
async function walk(pipeline: Pipeline, outcomes: Record<string, Partial<StepOutcome>> = {}, options: { signal?: AbortSignal; disabled?: string[] } = {}) {
  const log: string[] = [];
  const skipped: Record<string, string> = {};
  const received: Record<string, Record<string, unknown>> = {};
  const result = await walkPipeline(pipeline, {
    runStep: async (id, results) => {
      log.push(id);
      received[id] = results;
      await new Promise((resolve) => setImmediate(resolve));
      return { status: 'success', value: `${id}-result`, ...outcomes[id] };
    },
    skipStep: (id, reason) => {
      skipped[id] = reason;
    },
    isEnabled: (spec) => !options.disabled?.some((id) => pipeline.steps[id] === spec),
    signal: options.signal ?? new AbortController().signal,
  });
  return { ...result, log, skipped, received };
}

test('a diamond: both branches start together, the join waits for both and gets both results', async () => {
  const pipeline = definePipeline({
    a: { run },
    b: { run, needs: ['a'] },
    c: { run, needs: ['a'] },
    d: { run, needs: ['b', 'c'] },
  });
  const walked = await walk(pipeline);
  assert.deepEqual(walked.log, ['a', 'b', 'c', 'd']);
  assert.deepEqual(walked.received.d, { b: 'b-result', c: 'c-result' });
  assert.deepEqual(walked.received.b, { a: 'a-result' });
  assert.deepEqual(walked.states, { a: 'success', b: 'success', c: 'success', d: 'success' });
  assert.deepEqual([walked.failure, walked.compensated], [null, false]);
});

test('a failure skips what is still pending, naming the failed step; a running sibling finishes', async () => {
  const pipeline = definePipeline({
    broken: { run },
    sibling: { run },
    after: { run, needs: ['broken'] },
    afterSibling: { run, needs: ['sibling'] },
  });
  const walked = await walk(pipeline, { broken: { status: 'failure', error: 'exit 2' } });
  assert.deepEqual(walked.failure, { step: 'broken', error: 'exit 2' });
  assert.deepEqual(walked.states, { broken: 'failure', sibling: 'success', after: 'skipped', afterSibling: 'skipped' });
  assert.deepEqual(walked.skipped, { after: 'skipped: broken failed', afterSibling: 'skipped: broken failed' });
});

test('the compensation path runs only on failure of the steps it covers, then its own dependents', async () => {
  const pipeline = definePipeline({
    ship: { run },
    health: { run, needs: ['ship'] },
    undo: { run, needs: ['ship'], onFailureOf: ['health'] },
    healthAgain: { run, needs: ['undo'] },
  });
  const red = await walk(pipeline, { health: { status: 'failure', error: 'HTTP 500' } });
  assert.deepEqual(red.log, ['ship', 'health', 'undo', 'healthAgain']);
  assert.deepEqual([red.failure?.step, red.compensated], ['health', true]);

  const green = await walk(pipeline);
  assert.deepEqual(green.log, ['ship', 'health']);
  assert.deepEqual(green.skipped, { undo: 'skipped: health did not fail', healthAgain: 'skipped: undo did not succeed' });
  assert.equal(green.compensated, false);

  const worse = await walk(pipeline, { health: { status: 'failure', error: 'HTTP 500' }, undo: { status: 'failure', error: 'no previous release' } });
  assert.deepEqual([worse.states.undo, worse.states.healthAgain, worse.compensated], ['failure', 'skipped', false]);
  assert.equal(worse.failure?.step, 'health', 'the first failure is the one reported');
});

test('a disabled step (its `when`) is skipped with a reason, and so is what needs it', async () => {
  const pipeline = definePipeline({
    ship: { run },
    health: { run, needs: ['ship'] },
    undo: { run, needs: ['ship'], onFailureOf: ['health'] },
    healthAgain: { run, needs: ['undo'] },
  });
  const walked = await walk(pipeline, { health: { status: 'failure', error: 'HTTP 500' } }, { disabled: ['undo'] });
  assert.deepEqual(walked.skipped, { undo: 'skipped: not enabled for this target', healthAgain: 'skipped: undo did not succeed' });
  assert.equal(walked.compensated, false);
});

test('after an abort no step starts; the one running ends as it says', async () => {
  const abort = new AbortController();
  const pipeline = definePipeline({ first: { run }, second: { run, needs: ['first'] }, third: { run, needs: ['second'] } });
  const walked = await walkPipeline(pipeline, {
    runStep: async (id) => {
      abort.abort(new Error('cancelled'));
      return { status: id === 'first' ? 'cancelled' : 'success' };
    },
    skipStep: () => undefined,
    isEnabled: () => true,
    signal: abort.signal,
  });
  assert.deepEqual(walked.states, { first: 'cancelled', second: 'skipped', third: 'skipped' });
  assert.equal(walked.failure, null, 'a cancel is not a failure');
});

test('a hook that throws (the database failing) rejects the walk', async () => {
  const pipeline = definePipeline({ only: { run } });
  await assert.rejects(
    walkPipeline(pipeline, {
      runStep: async () => { throw new Error('SQLITE_READONLY'); },
      skipStep: () => undefined,
      isEnabled: () => true,
      signal: new AbortController().signal,
    }),
    /SQLITE_READONLY/,
  );
});
