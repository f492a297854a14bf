import path from 'node:path';
import type { MikroORM } from '../../src/db/orm.ts';
import type { Tracer } from '@opentelemetry/api';
import { loadConfig, type Config } from '../../src/support/config.ts';
import { openDatabase, type DatabaseKind } from '../../src/db/orm.ts';
import { Executor } from '../../src/engine/executor.ts';
import type { RunEvent } from '../../src/engine/events.ts';
import { RunStore } from '../../src/engine/run-store.ts';
import { PgBossRunQueue } from '../../src/engine/pg-boss-queue.ts';
import { findTargets } from '../../src/domain/targets.ts';
import { STRATEGIES, type Strategy } from '../../src/db/entities/DeployTarget.ts';
import { DeployRun } from '../../src/db/entities/DeployRun.ts';
import { StepRun } from '../../src/db/entities/StepRun.ts';
import { definePipeline, type Pipeline, type StepContext } from '../../src/engine/pipeline.ts';
import { saveTarget } from '../../src/domain/targets.ts';
import { makeTempDir } from './cli.ts';
import { createTestPostgresDatabase, skipWithoutPostgres } from './postgres.ts';

type TestContext = Parameters<typeof makeTempDir>[0] & { after: (fn: () => Promise<void>) => void };

/**
 * The databases the engine's tests run on, each with the `skip` of its tests: SQLite always;
 * PostgreSQL where one runs (or fails with the reason; see test/helpers/postgres.ts).
 */
export const TEST_DATABASES = [
  { kind: 'sqlite', name: 'SQLite', skip: false },
  { kind: 'postgresql', name: 'PostgreSQL', skip: skipWithoutPostgres() },
] as const satisfies readonly { kind: DatabaseKind; name: string; skip: string | false }[];

/** A fresh database per test: a SQLite file in a temp dir, or a PostgreSQL database; its DEPLOY_DB value. */
export function createTestDatabaseUrl(t: TestContext, database: DatabaseKind = 'sqlite'): Promise<string> {
  return database === 'postgresql' ? createTestPostgresDatabase(t) : Promise.resolve(path.join(makeTempDir(t), 'operations.db'));
}

/** A real database per test, removed afterwards (closed first, after whatever `beforeClose` waits for). */
export async function openTestDatabase(t: TestContext, options: { database?: DatabaseKind; dbUrl?: string; beforeClose?: () => Promise<void> } = {}): Promise<MikroORM> {
  const { beforeClose } = options;
  const orm = await openDatabase({ dbPath: options.dbUrl ?? (await createTestDatabaseUrl(t, options.database)) });
  t.after(async () => {
    await beforeClose?.();
    await orm.close();
  });
  return orm;
}

/**
 * An executor over a real database whose every strategy runs `pipeline` (in-process steps), with the
 * given targets, and a log of its events.
 */
export async function createTestExecutor(
  t: TestContext,
  options: {
    pipeline: Pipeline;
    targets?: { app: string; host: string; branch?: string; env?: Record<string, string>; repo_name?: string }[];
    config?: Partial<Config>;
    tracer?: Tracer;
    stepTimeoutMs?: number;
    /** SQLite unless a test asks for PostgreSQL. */
    database?: DatabaseKind;
    /** An existing database to share (a second server on it); otherwise a fresh one. */
    dbUrl?: string;
    /** PostgreSQL: work the shared pg-boss queue as server `serverId` (several executors = several servers). */
    shared?: { serverId: string; leaseMs?: number; workQueue?: boolean };
  },
) {
  let executor: Executor | undefined;
  // Runs a test left going (a webhook answers before its runs end) are cancelled before the database closes.
  const dbUrl = options.dbUrl ?? (await createTestDatabaseUrl(t, options.shared ? 'postgresql' : options.database));
  const orm = await openTestDatabase(t, { dbUrl, beforeClose: () => executor?.shutdown(0) ?? Promise.resolve() });
  const config = { ...loadConfig({}), dbPath: dbUrl, ...options.config };
  for (const target of options.targets ?? [{ app: 'app', host: 'h1' }]) await saveTarget(orm.em.fork(), target);
  const pipelines = Object.fromEntries(STRATEGIES.map((s) => [s, { deploy: options.pipeline, rollback: options.pipeline }])) as Record<Strategy, { deploy: Pipeline; rollback: Pipeline }>;
  const store = new RunStore(orm);
  executor = new Executor({
    store,
    config,
    pipelines,
    tracer: options.tracer,
    stepTimeoutMs: options.stepTimeoutMs,
    findTarget: async (app, host) => (await findTargets(orm.em.fork(), app, host))[0],
    openRemote: async () => {
      throw new Error('no remote host in engine tests');
    },
    shared: options.shared && {
      queue: new PgBossRunQueue({ url: dbUrl, onError: (error) => console.error(`pg-boss: ${error.message}`) }),
      serverId: options.shared.serverId,
      leaseMs: options.shared.leaseMs ?? 30_000,
      workQueue: options.shared.workQueue,
      onError: (error) => console.error(`shared runs: ${String(error)}`),
    },
  });
  await executor.start();
  const events: RunEvent[] = [];
  executor.subscribe((event) => events.push(event));
  return {
    dbUrl,
    orm,
    store,
    config,
    executor: executor as Executor,
    events,
    run: (id: number) => orm.em.fork().findOneOrFail(DeployRun, { id }),
    runs: () => orm.em.fork().find(DeployRun, {}, { orderBy: { id: 'asc' } }),
    steps: async (runId: number) =>
      Object.fromEntries(
        (await orm.em.fork().find(StepRun, { run: runId }, { orderBy: { id: 'asc' } })).map((s) => [s.step, s]),
      ),
  };
}

/** A promise opened from outside: lets a test hold a step until it decides. */
export function gate<T = void>() {
  let open!: (value: T) => void;
  const promise = new Promise<T>((resolve) => (open = resolve));
  return { promise, open };
}

/** Resolves when `predicate` holds, polling; rejects after `ms` (a guard against a hang, not a timing claim). */
export async function until(predicate: () => boolean | Promise<boolean>, ms = 5000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await predicate())) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

/**
 * The busy target of the coalescing tests: a pipeline that records each run's commit, and whose run
 * of commit `c0` holds (firstRunning opens) until releaseFirst is opened.
 */
export function heldFirstRun() {
  const firstRunning = gate();
  const releaseFirst = gate();
  const deployed: (string | null)[] = [];
  const pipeline = definePipeline({
    deploy: {
      run: async ({ deploy }: StepContext) => {
        deployed.push(deploy.commit);
        if (deploy.commit === 'c0') {
          firstRunning.open();
          await releaseFirst.promise;
        }
      },
    },
  });
  return { pipeline, deployed, firstRunning, releaseFirst };
}

/** A step that opens `started`, then waits for its abort signal and fails with its reason; sawAbort() says whether it came. */
export function stepUntilAborted() {
  const started = gate();
  let aborted = false;
  const step = {
    run: async ({ signal }: StepContext) => {
      started.open();
      await new Promise((_, reject) => signal.addEventListener('abort', () => { aborted = true; reject(signal.reason); }));
    },
  };
  return { step, started, sawAbort: () => aborted };
}
