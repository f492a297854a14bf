import { test } from 'node:test';
import assert from 'node:assert/strict';
import { checkLocks, InvalidLockError, listLocks, lockOf, lockTarget, NoLockError, parseDuration, TargetLockedError, unlockTarget, type LockView } from '../../src/domain/locks.ts';
import { saveTarget, UnknownTargetError } from '../../src/domain/targets.ts';
import { openTestDatabase } from '../helpers/engine.ts';

test('parseDuration reads 90s, 30m, 2h, 1d12h and 1w; anything else is one clear error', () => {
  assert.equal(parseDuration('90s'), 90_000);
  assert.equal(parseDuration('30m'), 1_800_000);
  assert.equal(parseDuration('2h'), 7_200_000);
  assert.equal(parseDuration('1d12h'), 129_600_000);
  assert.equal(parseDuration('1w'), 604_800_000);
  for (const bad of ['', '2', 'h', '2 hours', '-1h', '1.5h', '0h', '2h ago']) {
    assert.throws(() => parseDuration(bad), (error: unknown) => error instanceof InvalidLockError && /--for must be/.test(error.message), bad);
  }
});

const lock = (app: string, host: string | null, reason = 'r'): LockView => ({ app, host, reason, locked_by: 'me', locked_at: '2026-01-01T00:00:00.000Z', expires_at: null });

test('lockOf: a host\'s own lock wins over the app-wide one; other apps\' locks never apply', () => {
  const locks = [lock('a', null, 'all'), lock('a', 'h1', 'one'), lock('b', 'h2')];
  assert.equal(lockOf(locks, { app: 'a', host: 'h1' })?.reason, 'one');
  assert.equal(lockOf(locks, { app: 'a', host: 'h9' })?.reason, 'all');
  assert.equal(lockOf(locks, { app: 'b', host: 'h1' }), undefined);
  assert.equal(lockOf(locks, { app: 'c', host: 'h2' }), undefined);
});

test('lock, list, check and unlock over a real database; expired locks neither list nor hold', async (t) => {
  const orm = await openTestDatabase(t);
  const em = () => orm.em.fork();
  await saveTarget(em(), { app: 'web', host: 'vps1' });
  await saveTarget(em(), { app: 'web', host: 'vps2' });
  const now = new Date('2026-06-01T10:00:00Z');

  await assert.rejects(lockTarget(em(), { app: 'nope', reason: 'x', by: 'me' }, now), UnknownTargetError);
  await assert.rejects(lockTarget(em(), { app: 'web', reason: '', by: 'me' }, now), /a reason is required/);
  const held = await lockTarget(em(), { app: 'web', host: 'vps1', reason: 'db migration', by: 'alice', for: '2h' }, now);
  assert.deepEqual(held, { app: 'web', host: 'vps1', reason: 'db migration', locked_by: 'alice', locked_at: '2026-06-01T10:00:00.000Z', expires_at: '2026-06-01T12:00:00.000Z' });

  assert.deepEqual(await checkLocks(em(), [{ app: 'web', host: 'vps2' }], false, now), [false]);
  await assert.rejects(checkLocks(em(), [{ app: 'web', host: 'vps1' }, { app: 'web', host: 'vps2' }], false, now), (error: unknown) =>
    error instanceof TargetLockedError && error.message === 'web@vps1 is locked by alice: db migration (until 2026-06-01T12:00:00.000Z) — use --force (API: "force": true) to go ahead anyway');
  assert.deepEqual(await checkLocks(em(), [{ app: 'web', host: 'vps1' }, { app: 'web', host: 'vps2' }], true, now), [true, false]);

  const later = new Date('2026-06-01T12:00:01Z');
  assert.deepEqual(await listLocks(em(), undefined, later), [], 'expired');
  assert.deepEqual(await checkLocks(em(), [{ app: 'web', host: 'vps1' }], false, later), [false]);
  await assert.rejects(unlockTarget(em(), 'web', 'vps1', later), NoLockError, 'an expired lock is nothing to unlock');

  await lockTarget(em(), { app: 'web', reason: 'freeze', by: 'bob' }, later);
  assert.deepEqual((await listLocks(em(), 'web', later)).map((l) => [l.host, l.locked_by]), [[null, 'bob']]);
  assert.deepEqual((await unlockTarget(em(), 'web', undefined, later)).map((l) => l.reason), ['freeze']);
  await assert.rejects(unlockTarget(em(), 'web'), /no lock on app "web"/);
});
