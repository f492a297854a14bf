/**
 * A real PostgreSQL for the tests. With DEPLOY_TEST_PG_URL (`postgres://user@host:port/db`) the tests
 * use that server; without it, the first test that asks starts a throwaway cluster (initdb + pg_ctl in
 * a temp dir, as the `postgres` user when run as root) that is stopped when the test process exits.
 * Every test gets a database of its own, dropped afterwards.
 *
 * Where PostgreSQL cannot run, the tests fail with the reason, unless DEPLOY_TESTS_ALLOW_SKIP=1 asks
 * for a skip (see skipWithoutPostgres), as for the sshd harness.
 */
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';

const PG_BIN_DIRS = ['/usr/lib/postgresql/17/bin', '/usr/lib/postgresql/16/bin', '/usr/lib/postgresql/15/bin'];

/** Where initdb and pg_ctl are, or null. */
function findPgBin(): string | null {
  return PG_BIN_DIRS.find((dir) => fs.existsSync(path.join(dir, 'pg_ctl'))) ?? null;
}

/** Why no PostgreSQL can be had here, or null when one can. */
export function postgresUnavailable(env: NodeJS.ProcessEnv = process.env): string | null {
  if (env.DEPLOY_TEST_PG_URL) return null;
  if (!findPgBin()) return `PostgreSQL is not installed (no pg_ctl in ${PG_BIN_DIRS.join(', ')}; apt-get install postgresql, or set DEPLOY_TEST_PG_URL)`;
  if (process.getuid?.() === 0 && spawnSync('id', ['-u', 'postgres']).status !== 0) return 'running as root, and there is no `postgres` user to run PostgreSQL as';
  return null;
}

/** The `skip` of every PostgreSQL test: false where it can run; the reason only when DEPLOY_TESTS_ALLOW_SKIP=1. */
export function skipWithoutPostgres(env: NodeJS.ProcessEnv = process.env): string | false {
  const reason = postgresUnavailable(env);
  return reason && env.DEPLOY_TESTS_ALLOW_SKIP === '1' ? `${reason} (DEPLOY_TESTS_ALLOW_SKIP=1)` : false;
}

let server: Promise<string> | undefined;

/** The URL (without a database) of this test process's PostgreSQL, started on first use. */
export function postgresServerUrl(env: NodeJS.ProcessEnv = process.env): Promise<string> {
  server ??= env.DEPLOY_TEST_PG_URL ? Promise.resolve(withDatabase(env.DEPLOY_TEST_PG_URL, '')) : startCluster();
  return server;
}

let migratedTemplate: Promise<string> | undefined;

/**
 * A fresh database for one test, dropped after it; its `postgres://` URL. Migrated (a copy of a
 * template migrated once per test process: a copy costs a fraction of running the migrations), or
 * `empty` for the tests of the migrations themselves.
 */
export async function createTestPostgresDatabase(t: { after: (fn: () => Promise<void>) => void }, options: { empty?: boolean } = {}): Promise<string> {
  const base = await postgresServerUrl();
  const name = `deploy_test_${randomBytes(6).toString('hex')}`;
  const template = options.empty ? 'template0' : await (migratedTemplate ??= createMigratedTemplate(base));
  await adminQuery(base, `create database ${name} template ${template}`);
  t.after(() => adminQuery(base, `drop database if exists ${name} with (force)`));
  return withDatabase(base, name);
}

async function createMigratedTemplate(base: string): Promise<string> {
  const name = `deploy_template_${randomBytes(6).toString('hex')}`;
  await adminQuery(base, `create database ${name}`);
  const { openDatabase } = await import('../../src/db/orm.ts');
  await (await openDatabase({ dbPath: withDatabase(base, name) })).close();
  // Dropped with a throwaway cluster; on a server given by DEPLOY_TEST_PG_URL it stays (a few MB).
  return name;
}

async function adminQuery(baseUrl: string, sql: string): Promise<void> {
  const { default: pg } = await import('pg');
  const client = new pg.Client({ connectionString: withDatabase(baseUrl, 'postgres') });
  await client.connect();
  try {
    await client.query(sql);
  } finally {
    await client.end();
  }
}

function withDatabase(url: string, database: string): string {
  const parsed = new URL(url);
  parsed.pathname = database ? `/${database}` : '';
  return parsed.toString();
}

async function freePort(): Promise<number> {
  const probe = net.createServer();
  await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
  const { port } = probe.address() as net.AddressInfo;
  await new Promise((resolve) => probe.close(resolve));
  return port;
}

/** initdb + pg_ctl start in a temp dir; stopped (immediately) and removed when this process exits. */
async function startCluster(): Promise<string> {
  const reason = postgresUnavailable({});
  if (reason) throw new Error(reason);
  const bin = findPgBin()!;
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'deploy-pg-'));
  const dataDir = path.join(dir, 'data');
  const asRoot = process.getuid?.() === 0;
  if (asRoot) {
    const uid = Number(execFileSync('id', ['-u', 'postgres'], { encoding: 'utf8' }).trim());
    const gid = Number(execFileSync('id', ['-g', 'postgres'], { encoding: 'utf8' }).trim());
    fs.chownSync(dir, uid, gid);
  }
  // As root, PostgreSQL refuses to run: its tools run as the `postgres` user.
  const run = (tool: string, args: string[]) => {
    const [command, argv] = asRoot ? ['setpriv', ['--reuid=postgres', '--regid=postgres', '--init-groups', path.join(bin, tool), ...args]] : [path.join(bin, tool), args];
    const result = spawnSync(command, argv, { cwd: dir, encoding: 'utf8', timeout: 60_000 });
    if (result.status !== 0) throw new Error(`PostgreSQL test cluster: ${tool} failed: ${(result.stderr || result.stdout || String(result.error)).trim()}`);
  };
  run('initdb', ['-A', 'trust', '-U', 'postgres', '-E', 'UTF8', '--no-sync', '-D', dataDir]);
  const port = await freePort();
  const options = `-p ${port} -k ${dir} -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200`;
  run('pg_ctl', ['-D', dataDir, '-o', options, '-l', path.join(dir, 'server.log'), '-w', '-t', '60', 'start']);
  const stop = () => {
    try {
      run('pg_ctl', ['-D', dataDir, '-m', 'immediate', '-w', 'stop']);
    } catch {
      // already gone
    }
    fs.rmSync(dir, { recursive: true, force: true });
  };
  process.on('exit', stop);
  // A test process killed by a signal (a test timeout, Ctrl-C, SIGKILL) runs no exit hook: a detached
  // watchdog stops the cluster once this process is gone, so no cluster outlives its tests.
  const pgCtl = asRoot ? `setpriv --reuid=postgres --regid=postgres --init-groups ${path.join(bin, 'pg_ctl')}` : path.join(bin, 'pg_ctl');
  spawn('sh', ['-c', `while kill -0 ${process.pid} 2>/dev/null; do sleep 1; done; ${pgCtl} -D '${dataDir}' -m immediate -w stop >/dev/null 2>&1; rm -rf '${dir}'`], { detached: true, stdio: 'ignore' }).unref();
  return `postgres://postgres@127.0.0.1:${port}`;
}
