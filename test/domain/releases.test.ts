import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chooseCommit, chooseRelease, releasesToPrune } from '../../src/domain/releases.ts';
import { parseReleaseList, switchRelease } from '../../src/transport/remote/releases.ts';
import type { PastRun } from '../../src/engine/pipeline.ts';

const run = (id: number, status: string, extra: Partial<PastRun> = {}): PastRun => ({
  id, trigger: 'manual', status, commit_after: null, release: null, rolled_back: false, ...extra,
});

test('pruning keeps the newest `keep`, and never the release just shipped or the one before it', () => {
  assert.deepEqual(releasesToPrune([1, 2, 3, 4, 5], 2, [5, 4]), [3, 2, 1]);
  // After a rollback to 2, release 6 ships: 2 is what a failed health check would go back to.
  assert.deepEqual(releasesToPrune([2, 3, 4, 5, 6], 2, [6, 2]), [4, 3]);
  assert.deepEqual(releasesToPrune([7, 8], 1, [8, 7]), [], 'keep 1 still keeps the previous one while the deploy runs');
  assert.deepEqual(releasesToPrune([1, 2, 3], 5, [3, 2]), []);
});

test('a plain rollback goes to the newest older release whose deploy succeeded; --to names a run', () => {
  const past = [run(5, 'success', { release: 5 }), run(4, 'failure', { release: 4 }), run(3, 'success'), run(2, 'cancelled'), run(1, 'success')];
  assert.equal(chooseRelease(past, [1, 3, 4, 5], 5, null), 3, 'past the failed 4');
  assert.equal(chooseRelease(past, [1, 2, 3, 4, 5], 3, null), 1, 'past the cancelled 2');
  assert.throws(() => chooseRelease(past, [1, 3], 1, null), /no earlier good release to go back to \(current: 1, kept: 1, 3\)/);
  assert.equal(chooseRelease(past, [1, 3, 4, 5], 5, 4), 4, '--to may name a bad release on purpose');
  const rollbackRun = run(6, 'success', { trigger: 'rollback', release: 3 });
  assert.equal(chooseRelease([rollbackRun, ...past], [1, 3, 5], 5, 6), 3, '--to a rollback run means the release it went back to');
  assert.throws(() => chooseRelease(past, [3, 5], 5, 1), /release #1 is not on the host \(kept: 3, 5\)/);
});

test('a plain rollback of a remote strategy goes to the commit of the last good deploy before the current one', () => {
  const past = [
    run(6, 'success', { commit_after: 'c4' }),
    run(5, 'failure', { commit_after: 'c3' }),
    run(4, 'success', { commit_after: 'c2' }),
    run(3, 'success', { trigger: 'rollback', commit_after: 'c1' }),
    run(2, 'success', { commit_after: 'c1' }),
  ];
  assert.equal(chooseCommit(past, 'c4', null), 'c2', 'past the failed c3');
  assert.equal(chooseCommit(past, 'c2', null), 'c1');
  assert.equal(chooseCommit(past, 'c4', 2), 'c1');
  assert.throws(() => chooseCommit(past, 'c1', null), /no earlier good commit/);
});

test('the release list a host prints is parsed; the switch renames a new link over the old', () => {
  assert.deepEqual(parseReleaseList('.releases/12/app\n--\n10\n12\n11\n'), { current: 12, releases: [10, 11, 12] });
  assert.deepEqual(parseReleaseList('\n--\n'), { current: null, releases: [] });
  assert.equal(
    switchRelease('/srv/my app', 'app', 7).command,
    "ln -sfn .releases/7/app '/srv/my app/.app.next' && mv -f '/srv/my app/.app.next' '/srv/my app/app'",
  );
});
