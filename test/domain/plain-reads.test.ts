// The webhook's hot path reads targets and locks with plain SQL (targets.ts readTargets, locks.ts
// readActiveLocks); `target list` reads targets without the ORM at all. The ORM's own reads are the
// oracle: every field of every target and lock, with JSON, booleans, integers and datetimes, on both databases.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { listLocks, lockTarget, readActiveLocks } from '../../src/domain/locks.ts';
import { listTargets, readTargets, saveTarget, toTargetFields, viewTarget } from '../../src/domain/targets.ts';
import { openTestDatabase, TEST_DATABASES } from '../helpers/engine.ts';
import { plainSql } from '../../src/db/plain-sql.ts';

/** Targets that between them set every kind of column: JSON objects and lists, both booleans either way, integers, empty strings. */
const TARGETS = [
  { app: 'web', host: 'vps2', strategy: 'docker-compose', compose_files: ['compose.yml', 'compose.prod.yml'], env: { A: '1', 'B_2': 'x y' }, auto_rollback: false, keep_releases: 3 },
  { app: 'web', host: 'vps1', port: 8080, health: '/healthz', skip_ci_marker: true, repo: 'https://git.example/o/web.git', build_cmd: 'make build' },
  { app: 'api', host: 'vps1', strategy: 'systemd-remote', branch: 'release', remote_dir: '/srv/api', env: {} },
];

for (const db of TEST_DATABASES) describe(db.name, { skip: db.skip }, () => {
  test('readTargets gives what the ORM reads: every field, the timestamps, the order; and one app\'s', async (t) => {
    const orm = await openTestDatabase(t, { database: db.kind });
    for (const target of TARGETS) await saveTarget(orm.em.fork(), target);
    await saveTarget(orm.em.fork(), { app: 'web', host: 'vps1', port: 9090 }); // updated_at moves on
    const byOrm = await listTargets(orm.em.fork());
    const plain = await readTargets(plainSql(orm));
    assert.deepEqual(plain.map(toTargetFields), byOrm.map(toTargetFields));
    assert.deepEqual(plain.map(viewTarget), byOrm.map(viewTarget));
    assert.deepEqual(plain.map((t) => `${t.app}@${t.host}`), ['api@vps1', 'web@vps1', 'web@vps2']);
    assert.deepEqual((await readTargets(plainSql(orm), 'web')).map(viewTarget), (await listTargets(orm.em.fork(), 'web')).map(viewTarget));
    assert.deepEqual(await readTargets(plainSql(orm), 'nope'), []);
  });

  test('readActiveLocks gives what listLocks gives: app-wide and per host, expiring and not; expired ones neither', async (t) => {
    const orm = await openTestDatabase(t, { database: db.kind });
    for (const target of TARGETS) await saveTarget(orm.em.fork(), target);
    const then = new Date(Date.now() - 3 * 3600_000);
    await lockTarget(orm.em.fork(), { app: 'web', reason: 'freeze', by: 'alice' }, then);
    await lockTarget(orm.em.fork(), { app: 'api', host: 'vps1', reason: 'migration', by: 'bob', for: '1h' }, then); // expired an hour ago
    await lockTarget(orm.em.fork(), { app: 'web', host: 'vps2', reason: 'disk', by: 'carol', for: '1d' });
    const now = new Date();
    const locks = await readActiveLocks(plainSql(orm), now);
    assert.deepEqual(locks, await listLocks(orm.em.fork(), undefined, now));
    assert.deepEqual(locks.map((lock) => [lock.app, lock.host, lock.reason, lock.expires_at === null]), [['web', null, 'freeze', true], ['web', 'vps2', 'disk', false]]);
  });
});
