// The health check's retry schedule (the loop itself runs over a real sshd in test/e2e/deploy.test.ts).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { retryDelayMs } from '../../src/steps/health-check.ts';

test('retryDelayMs: 50 ms after the first attempt, then every 100 ms for the first 5 s, then every 500 ms', () => {
  assert.equal(retryDelayMs(1, 0), 50);
  assert.equal(retryDelayMs(2, 50), 100);
  assert.equal(retryDelayMs(30, 2950), 100);
  assert.equal(retryDelayMs(50, 4999), 100);
  assert.equal(retryDelayMs(51, 5000), 500);
  assert.equal(retryDelayMs(60, 29_000), 500);
});
