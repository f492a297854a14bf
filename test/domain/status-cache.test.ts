import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createStatusCache } from '../../src/domain/status-cache.ts';
import { parseTarget } from '../../src/domain/target-schema.ts';
import { loadConfig } from '../../src/support/config.ts';
import type { ServiceStatus } from '../../src/domain/service-status.ts';

const config = loadConfig({});

/** A host read that counts logins, and how many were open at once per host. */
function countingRead(ms = 30) {
  const logins: string[] = [];
  const open = new Map<string, number>();
  let maxOpenPerHost = 0;
  let maxOpen = 0;
  const read = async (target: { app: string; host: string; strategy: string }): Promise<ServiceStatus> => {
    logins.push(`${target.app}@${target.host}`);
    open.set(target.host, (open.get(target.host) ?? 0) + 1);
    maxOpenPerHost = Math.max(maxOpenPerHost, open.get(target.host)!);
    maxOpen = Math.max(maxOpen, [...open.values()].reduce((sum, n) => sum + n, 0));
    await new Promise((resolve) => setTimeout(resolve, ms));
    open.set(target.host, open.get(target.host)! - 1);
    return { host: target.host, strategy: target.strategy, active: true, output: `${target.app} ok` } as unknown as ServiceStatus;
  };
  return { read: read as never, logins, maxOpenPerHost: () => maxOpenPerHost, maxOpen: () => maxOpen };
}

test('five requests at once for one target: one login; within the TTL: none; after it: one more', async () => {
  let clock = 1000;
  const host = countingRead();
  const cached = createStatusCache(host.read, { ttlMs: 5000, now: () => clock });
  const target = parseTarget({ app: 'a', host: 'vps1' });
  const answers = await Promise.all(Array.from({ length: 5 }, () => cached(target, config)));
  assert.equal(host.logins.length, 1);
  assert.ok(answers.every((answer) => answer === answers[0]));
  clock += 4999;
  await cached(target, config);
  assert.equal(host.logins.length, 1, 'still fresh');
  clock += 2;
  await cached(target, config);
  assert.equal(host.logins.length, 2, 'stale: read again');
});

test('targets on one host are read one login at a time; other hosts in parallel', async () => {
  const host = countingRead();
  const cached = createStatusCache(host.read);
  const targets = ['a', 'b', 'c'].map((app) => parseTarget({ app, host: 'vps1' }));
  await Promise.all([...targets, parseTarget({ app: 'a', host: 'vps2' })].map((target) => cached(target, config)));
  assert.equal(host.logins.length, 4);
  assert.equal(host.maxOpenPerHost(), 1);
  assert.equal(host.maxOpen(), 2, 'vps2 was read while vps1 was');
});

test('a failed read is not cached', async () => {
  let calls = 0;
  const cached = createStatusCache(async () => {
    calls++;
    throw new Error('unreachable');
  });
  const target = parseTarget({ app: 'a', host: 'vps1' });
  await assert.rejects(cached(target, config), /unreachable/);
  await assert.rejects(cached(target, config), /unreachable/);
  assert.equal(calls, 2);
});
