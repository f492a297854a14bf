// The push lock of several servers on one PostgreSQL (src/domain/push-lock.ts), over a real PostgreSQL.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import pg from 'pg';
import { createPushLock } from '../../src/domain/push-lock.ts';
import { createTestPostgresDatabase, skipWithoutPostgres } from '../helpers/postgres.ts';

describe('push lock on PostgreSQL', { skip: skipWithoutPostgres() }, () => {
  test('a lock connection lost while a batch holds it (a restarted database) is no uncaught error; the batch ends', async (t) => {
    const url = await createTestPostgresDatabase(t);
    const uncaught: unknown[] = [];
    const onUncaught = (error: unknown) => uncaught.push(error);
    process.prependListener('uncaughtException', onUncaught);
    t.after(() => process.removeListener('uncaughtException', onUncaught));
    const admin = new pg.Client({ connectionString: url });
    admin.on('error', () => undefined); // the test database is dropped (its connections ended) before admin.end runs
    await admin.connect();
    t.after(() => admin.end());

    const lock = createPushLock(url);
    const result = await lock(['k1'], async () => {
      await admin.query(`select pg_terminate_backend(pid) from pg_stat_activity where application_name = 'deploy_server push lock'`);
      await new Promise((resolve) => setTimeout(resolve, 300));
      return 'done';
    });
    assert.equal(result, 'done');
    assert.deepEqual(uncaught.map((error) => (error as Error).message), []);
    assert.equal(await lock(['k1'], async () => 'again'), 'again', 'the next batch gets a working connection');
  });

  test('a batch waits for another server holding one of its pushes, but not for ever: it fails after the lock timeout', async (t) => {
    const url = await createTestPostgresDatabase(t);
    const serverA = createPushLock(url);
    const serverB = createPushLock(url);
    let release!: () => void;
    const held = serverA(['k2', 'k1'], () => new Promise<void>((resolve) => (release = resolve)));
    await new Promise((resolve) => setTimeout(resolve, 200));
    const started = Date.now();
    await assert.rejects(serverB(['k3', 'k1'], async () => 'never'), /lock timeout/);
    assert.ok(Date.now() - started >= 3_500, `gave up after ${Date.now() - started} ms`);
    assert.equal(await serverB(['k3'], async () => 'free'), 'free', 'other pushes are not held');
    release();
    await held;
    assert.equal(await serverB(['k1'], async () => 'after'), 'after');
  });
});
