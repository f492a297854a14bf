// A process that deploys one target ROUNDS times through its own executor on a shared database (the
// target-claim test runs two of these at once). Each run's one step holds the target for a while.
//   node --import tsx test/helpers/claim-hammer.ts <db> <rounds>
import { setTimeout as sleep } from 'node:timers/promises';
import { openDatabase } from '../../src/db/orm.ts';
import { STRATEGIES, type Strategy } from '../../src/db/entities/DeployTarget.ts';
import { findTargets } from '../../src/domain/targets.ts';
import { Executor } from '../../src/engine/executor.ts';
import { definePipeline, type Pipeline } from '../../src/engine/pipeline.ts';
import { RunStore } from '../../src/engine/run-store.ts';
import { loadConfig } from '../../src/support/config.ts';

const [dbPath, rounds] = [process.argv[2], Number(process.argv[3])];
const orm = await openDatabase({ dbPath });
const pipeline = definePipeline({ hold: { run: async () => void (await sleep(40)) } });
const executor = new Executor({
  store: new RunStore(orm),
  config: loadConfig({}),
  pipelines: Object.fromEntries(STRATEGIES.map((s) => [s, { deploy: pipeline, rollback: pipeline }])) as Record<Strategy, { deploy: Pipeline; rollback: Pipeline }>,
  findTarget: async (app, host) => (await findTargets(orm.em.fork(), app, host))[0],
  openRemote: async () => { throw new Error('no remote host here'); },
});
for (let i = 0; i < rounds; i++) {
  const { done } = await executor.requestDeploy({ app: 'app', host: 'h1', trigger: 'manual' });
  const result = await done;
  if (result.status !== 'success') throw new Error(`run #${result.id} ended ${result.status}: ${result.error}`);
}
await orm.close();
