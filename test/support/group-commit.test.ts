import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createGroupCommit } from '../../src/support/group-commit.ts';

/** A write whose batches the test sees, and ends one at a time. */
function gatedWrite() {
  const batches: number[][] = [];
  const gates: (() => void)[] = [];
  const write = async (items: number[]) => {
    batches.push(items);
    await new Promise<void>((resolve) => gates.push(resolve));
    if (items.includes(13)) throw new Error('unlucky batch');
    return items.map((n) => n * 10);
  };
  const open = async () => {
    while (gates.length === 0) await new Promise((resolve) => setImmediate(resolve));
    gates.shift()!();
  };
  return { batches, write, open };
}

test('a lone item is written at once; items that arrive during a write go together in the next batch, each getting its own result', async () => {
  const { batches, write, open } = gatedWrite();
  const submit = createGroupCommit(write);
  const first = submit(1);
  const rest = [2, 3, 4].map((n) => submit(n));
  assert.deepEqual(batches, [[1]]);
  await open();
  assert.equal(await first, 10);
  await open();
  assert.deepEqual(await Promise.all(rest), [20, 30, 40]);
  assert.deepEqual(batches, [[1], [2, 3, 4]]);
});

test('a failed batch fails each of its items, and the next batch is written', async () => {
  const { batches, write, open } = gatedWrite();
  const submit = createGroupCommit(write);
  const first = submit(1);
  const failing = [12, 13].map((n) => submit(n));
  await open();
  await first;
  const after = submit(14); // arrives while the failing batch is written
  await open();
  for (const item of failing) await assert.rejects(item, /unlucky batch/);
  await open();
  assert.equal(await after, 140);
  assert.deepEqual(batches, [[1], [12, 13], [14]]);
});

test('at most max items per batch', async () => {
  const { batches, write, open } = gatedWrite();
  const submit = createGroupCommit(write, 2);
  const all = [1, 2, 3, 4, 5].map((n) => submit(n));
  for (let i = 0; i < 3; i += 1) await open();
  assert.deepEqual(await Promise.all(all), [10, 20, 30, 40, 50]);
  assert.deepEqual(batches, [[1], [2, 3], [4, 5]]);
});

test('a write that returns the wrong number of results fails its batch, not silently', async () => {
  const submit = createGroupCommit(async (items: number[]) => items.slice(1));
  await assert.rejects(submit(1), /a batch of 1 gave 0 results/);
});
