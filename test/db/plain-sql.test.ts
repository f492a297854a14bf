// src/db/plain-sql.ts: the hot paths' SQL on the event loop (better-sqlite3) must not hold it while
// another process holds SQLite's write lock, and its failures are the ORM's DriverExceptions (the CLI
// and the API name them without their SQL), on both databases.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import path from 'node:path';
import { createRequire } from 'node:module';
import { openDatabase } from '../../src/db/orm.ts';
import { plainSql, SQLITE_BUSY_TIMEOUT_MS } from '../../src/db/plain-sql.ts';
import { RunStore } from '../../src/engine/run-store.ts';
import { describeError } from '../../src/cli/base-command.ts';
import { makeTempDir } from '../helpers/cli.ts';
import { openTestDatabase, TEST_DATABASES } from '../helpers/engine.ts';
import { longestStall } from '../helpers/event-loop.ts';

const run = { app: 'web', host: 'vps1', strategy: 'systemd' as const, trigger: 'manual' as const, ref: 'main', commit: null, rollback_to: null };

/** Another process takes the database's write lock (begin immediate) and keeps it `ms`; resolves once it holds it (`released`: its exit). */
async function holdWriteLock(dbPath: string, ms: number): Promise<{ released: Promise<unknown> }> {
  const holder = spawn(process.execPath, ['-e', `
    const db = new (require(${JSON.stringify(createRequire(import.meta.url).resolve('better-sqlite3'))}))(${JSON.stringify(dbPath)});
    db.exec('begin immediate'); console.log('locked');
    setTimeout(() => { db.exec('commit'); db.close(); }, ${ms});`], { stdio: ['ignore', 'pipe', 'inherit'] });
  const exited = once(holder, 'exit');
  await once(holder.stdout!, 'data');
  return { released: exited };
}

test('a write that finds the file locked by another process waits on timers, not on the event loop, and lands', async (t) => {
  const dbPath = path.join(makeTempDir(t), 'operations.db');
  const orm = await openDatabase({ dbPath });
  t.after(() => orm.close());
  const store = new RunStore(orm);
  const [id] = await store.queue([run], process.pid);
  await store.setStatus(id, 'running');
  // Another process (`deploy_server prune` by hand, `target add`, …) holds the write lock for 1.5 s.
  const { released } = await holdWriteLock(dbPath, 1500);
  const { stallMs, wallMs } = await longestStall(() => store.renewLease(id));
  await released;
  assert.ok(wallMs >= 1000, `the write waited for the lock (${wallMs.toFixed(0)} ms)`);
  assert.ok(stallMs < 250, `the event loop was held ${stallMs.toFixed(0)} ms while the write waited for the lock`);
  assert.equal((await store.findResult(id))?.status, 'running');
});

test('the very first plain statement of a connection does not wait on the event loop either', async (t) => {
  const dbPath = path.join(makeTempDir(t), 'operations.db');
  const orm = await openDatabase({ dbPath });
  t.after(() => orm.close());
  await orm.em.getKnex().raw('create table first_statement (v integer)'); // through the ORM: no plain statement yet
  const { released } = await holdWriteLock(dbPath, 1500);
  const { stallMs, wallMs } = await longestStall(() => plainSql(orm).run('insert into first_statement values (1)'));
  await released;
  assert.ok(wallMs >= 1000, `the write waited for the lock (${wallMs.toFixed(0)} ms)`);
  assert.ok(stallMs < 250, `the event loop was held ${stallMs.toFixed(0)} ms by the first plain statement (busy_timeout not yet 0)`);
});

test('after a plain statement the connection waits for a lock again as long as the ORM statements do', async (t) => {
  const orm = await openDatabase({ dbPath: path.join(makeTempDir(t), 'operations.db') });
  t.after(() => orm.close());
  const store = new RunStore(orm);
  const busyTimeout = async () => (await orm.em.getConnection().execute<{ timeout: number }[]>('pragma busy_timeout'))[0].timeout;
  for (let i = 0; i < 2; i++) {
    await store.queue([run], process.pid); // the second time through the statements kept
    assert.equal(await busyTimeout(), SQLITE_BUSY_TIMEOUT_MS);
  }
});

test('a plain statement while a transaction of the ORM holds the connection waits for it, and is not rolled back with it', async (t) => {
  const orm = await openDatabase({ dbPath: path.join(makeTempDir(t), 'operations.db') });
  t.after(() => orm.close());
  const store = new RunStore(orm);
  const [id] = await store.queue([run], process.pid);
  let plain: Promise<void> | undefined;
  await orm.em.fork().transactional(async (em) => {
    await em.execute(`update deploy_run set error = 'rolled back' where id = ?`, [id]);
    plain = store.record(id, { release: 7 }); // on the idle-connection path this would run inside the transaction
    await new Promise((resolve) => setTimeout(resolve, 20));
    throw new Error('roll back');
  }).catch(() => undefined);
  await plain;
  const [row] = await orm.em.getConnection().execute<{ error: string | null; release: number | null }[]>('select error, "release" from deploy_run where id = ?', [id]);
  assert.deepEqual({ ...row }, { error: null, release: 7 });
});

for (const db of TEST_DATABASES) describe(db.name, { skip: db.skip }, () => {
  test('a failing plain statement is a DriverException, described without its SQL or values', async (t) => {
    const orm = await openTestDatabase(t, { database: db.kind });
    const store = new RunStore(orm);
    const [id] = await store.queue([run], process.pid);
    const steps = await store.start(id, new Date(), null, ['build']);
    // NOT NULL broken on purpose (a step's status), with a secret in the same statement's values.
    const error = await store.updateStep(steps.get('build')!, { status: null as never, output: 'TOKEN=hunter2-secret' }).then(() => null, (e: unknown) => e);
    assert.ok(error instanceof Error);
    assert.match(describeError(error), /^database error \(\w+\): run again, or check DEPLOY_DB$/);
    assert.doesNotMatch(describeError(error), /hunter2|update step_run/);
  });
});
