import assert from 'node:assert/strict';
import { chmodSync, mkdirSync, mkdtempSync, renameSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, test } from 'node:test';
import { FileCache } from '../../src/transport/file-cache.ts';

const dir = mkdtempSync(path.join(os.tmpdir(), 'file-cache-'));
after(() => rmSync(dir, { recursive: true, force: true }));

/**
 * Waits past a timestamp tick: a change that only moves the ctime (same size, mtime put back, a chmod)
 * must land in a later tick than the read before it, or nothing tells them apart. Before Linux 6.13,
 * ctimes come from the coarse clock (a jiffy, up to 10 ms); the cache's racy window covers that for
 * real reads, but these tests move the cache's clock past it.
 */
const nextTick = () => new Promise((resolve) => setTimeout(resolve, 25));

/** A cache that counts its parses; `settledAfterMs`: how long after the real clock reads happen (past the racy window). */
function countingCache(settledAfterMs: number) {
  let parses = 0;
  const cache = new FileCache(
    (content) => {
      parses++;
      return { text: content.toString('utf8') };
    },
    () => BigInt(Date.now() + settledAfterMs) * 1_000_000n,
  );
  return { cache, parses: () => parses };
}

test('an unchanged file is parsed once; every change to it (append, same-size rewrite, rename over, chmod, removal) is read again', async () => {
  const file = path.join(dir, 'config');
  const { cache, parses } = countingCache(10_000);
  writeFileSync(file, 'Host a\n');
  const first = cache.get(file);
  assert.deepEqual(first, { text: 'Host a\n' });
  assert.equal(cache.get(file), first, 'the same parsed value, not parsed again');
  assert.equal(parses(), 1);

  writeFileSync(file, 'Host a\nHost b\n');
  assert.deepEqual(cache.get(file), { text: 'Host a\nHost b\n' }, 'appended');

  // The same size, and the mtime put back: the ctime (which no one can set) still moved.
  const stamp = new Date(Date.now() - 60_000);
  utimesSync(file, stamp, stamp);
  cache.get(file);
  const before = parses();
  await nextTick();
  writeFileSync(file, 'Host c\nHost d\n');
  utimesSync(file, stamp, stamp);
  assert.deepEqual(cache.get(file), { text: 'Host c\nHost d\n' }, 'rewritten at the same size and mtime');
  assert.equal(parses(), before + 1);

  const replacement = path.join(dir, 'config.new');
  writeFileSync(replacement, 'Host e\nHost f\n');
  renameSync(replacement, file);
  assert.deepEqual(cache.get(file), { text: 'Host e\nHost f\n' }, 'replaced by rename (another inode)');

  const beforeChmod = parses();
  await nextTick();
  chmodSync(file, 0o600);
  cache.get(file);
  assert.equal(parses(), beforeChmod + 1, 'a chmod is a change too (it may make the file unreadable)');
  assert.equal(cache.get(file), cache.get(file));
  assert.equal(parses(), beforeChmod + 1);

  rmSync(file);
  assert.equal(cache.get(file), undefined, 'removed');
  writeFileSync(file, 'Host g\n');
  assert.deepEqual(cache.get(file), { text: 'Host g\n' }, 'created again');
});

test('a file changed within its timestamp tick is not trusted: with the real clock, a fresh file is read on every get', () => {
  const file = path.join(dir, 'known_hosts');
  const { cache, parses } = countingCache(0);
  writeFileSync(file, 'aaaa\n');
  assert.deepEqual(cache.get(file), { text: 'aaaa\n' });
  writeFileSync(file, 'bbbb\n'); // same size, likely the same mtime and ctime tick
  assert.deepEqual(cache.get(file), { text: 'bbbb\n' });
  cache.get(file);
  assert.equal(parses(), 3);
});

test('a missing file is undefined; any other error is thrown, and nothing is kept for it', () => {
  const { cache } = countingCache(10_000);
  assert.equal(cache.get(path.join(dir, 'missing')), undefined);
  const directory = path.join(dir, 'a-directory');
  mkdirSync(directory);
  assert.throws(() => cache.get(directory), { code: 'EISDIR' });
  const file = path.join(dir, 'plain-file');
  writeFileSync(file, 'x');
  assert.throws(() => cache.get(path.join(file, 'below')), { code: 'ENOTDIR' });
});
