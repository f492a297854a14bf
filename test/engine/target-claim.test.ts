// One run per target across processes: two processes deploy the same target over and over on one
// database, and no two of its runs may ever overlap (read from the step rows' own timestamps).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import path from 'node:path';
import { openDatabase } from '../../src/db/orm.ts';
import { StepRun } from '../../src/db/entities/StepRun.ts';
import { saveTarget } from '../../src/domain/targets.ts';
import { makeTempDir } from '../helpers/cli.ts';

const HAMMER = new URL('../helpers/claim-hammer.ts', import.meta.url).pathname;
const ROUNDS = 15;

test('two processes hammering one target: every run succeeds and no two runs of it ever overlap', async (t) => {
  const dbPath = path.join(makeTempDir(t), 'operations.db');
  const orm = await openDatabase({ dbPath });
  t.after(() => orm.close());
  await saveTarget(orm.em.fork(), { app: 'app', host: 'h1' });

  const hammer = () => {
    const child = spawn(process.execPath, ['--import', 'tsx', HAMMER, dbPath, String(ROUNDS)], { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (chunk) => (stderr += chunk));
    const timer = setTimeout(() => child.kill('SIGKILL'), 120_000);
    return once(child, 'exit').then(([code]) => {
      clearTimeout(timer);
      assert.equal(code, 0, stderr);
    });
  };
  await Promise.all([hammer(), hammer()]);

  const steps = await orm.em.fork().find(StepRun, {}, { orderBy: { started_at: 'asc' }, populate: ['run'] });
  assert.equal(steps.length, 2 * ROUNDS, 'every request ran (none was coalesced away: each waited for its own)');
  assert.equal(new Set(steps.map((s) => s.run.owner_pid)).size, 2, 'both processes ran some');
  for (let i = 1; i < steps.length; i++) {
    const previousEnd = steps[i - 1].started_at!.getTime() + steps[i - 1].duration_ms!;
    assert.ok(steps[i].started_at!.getTime() >= previousEnd, `run #${steps[i].run.id} started before run #${steps[i - 1].run.id} ended`);
  }
});
