// Several servers on PostgreSQL: the same push reaching two of them at once must be queued once. The
// check for an earlier delivery, the queueing and the delivery's record run under a PostgreSQL advisory
// lock on (repository, ref, after) — for a batch of deliveries, one per push, taken in one order (by
// hash) so two servers' batches cannot deadlock — held by a connection of a pool of its own: a waiting
// batch holds one of those, never one the queueing needs (the ORM's pool), so a burst cannot starve it.
// SQLite has one server, whose memory already serialises replays: no lock.
import type pg from 'pg';
import { databaseKind } from '../db/orm.ts';

/** How long a batch waits for another server's lock on one of its pushes (Gitea gives up after 5 s). */
const LOCK_TIMEOUT_MS = 4_000;

export type PushLock = <T>(keys: readonly string[], work: () => Promise<T>) => Promise<T>;

export function createPushLock(dbPath: string): PushLock {
  if (databaseKind(dbPath) === 'sqlite') return (_keys, work) => work();
  let pool: pg.Pool | undefined;
  return async (keys, work) => {
    if (!pool) {
      pool = new (await import('pg')).default.Pool({ connectionString: dbPath, max: 8, allowExitOnIdle: true, application_name: 'deploy_server push lock' });
      pool.on('error', () => undefined); // an idle connection lost (a restarted database): the next push opens another
    }
    const client = await pool.connect();
    // A connection lost while a batch holds it (a restarted database) must not be an uncaught error;
    // the batch's own queries, on the ORM's connections, go on (its lock is gone with the connection).
    let lost: Error | undefined;
    const onError = (error: Error) => {
      lost = error;
    };
    client.on('error', onError);
    try {
      await client.query('begin');
      // A server frozen while it holds a push's lock must not hold the others' webhooks for ever: after
      // this, the batch fails (500) and Gitea may deliver again.
      await client.query(`set local lock_timeout = '${LOCK_TIMEOUT_MS}ms'`);
      await client.query('select pg_advisory_xact_lock(h) from (select distinct hashtext(k) as h from unnest($1::text[]) as k order by h) as ordered', [keys]);
      return await work();
    } finally {
      if (!lost) await client.query('commit').catch((error: Error) => (lost = error)); // releases the lock
      // A lost connection is discarded, not put back in the pool, and keeps the listener: ending it
      // emits its error again.
      if (!lost) client.off('error', onError);
      client.release(lost);
    }
  };
}
