// The push receiver over a real database: deliveries outlive the process that received them.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { pino } from 'pino';
import { definePipeline } from '../../src/engine/pipeline.ts';
import { WebhookDelivery } from '../../src/db/entities/WebhookDelivery.ts';
import { createPushReceiver } from '../../src/domain/push.ts';
import { parsePushPayload } from '../../src/domain/push-payload.ts';
import { createTestExecutor } from '../helpers/engine.ts';
import { fixture } from '../helpers/gitea-fixtures.ts';
import { makeTempDir } from '../helpers/cli.ts';

const noopPipeline = definePipeline({ work: { run: async () => undefined } });
const logger = pino({ level: 'silent' });
const TARGETS = [{ app: 'my_app', host: 'vps1' }, { app: 'other', host: 'vps1' }];

test('a replayed delivery is recognised by a new receiver (a restarted server): by delivery id, and by (repo, ref, after)', async (t) => {
  const engine = await createTestExecutor(t, { pipeline: noopPipeline, targets: TARGETS });
  const body = fixture('push-monorepo.json');
  const first = await createPushReceiver({ ...engine, logger }).receive(body, { deliveryId: 'abc-1' });
  assert.equal(first.outcome, 'queued');
  assert.equal(first.queued.length, 2);

  const restarted = createPushReceiver({ ...engine, logger });
  const sameId = await restarted.receive(body, { deliveryId: 'abc-1' });
  assert.equal(sameId.outcome, 'replayed');
  assert.deepEqual(sameId.queued, first.queued);
  const sameKey = await createPushReceiver({ ...engine, logger }).receive(body, { deliveryId: 'abc-2' });
  assert.equal(sameKey.outcome, 'replayed');
  assert.equal((await engine.runs()).length, 2, 'nothing queued again');
});

test('a push left resolving by a stopped process is resolved at the next start', async (t) => {
  const engine = await createTestExecutor(t, { pipeline: noopPipeline, targets: TARGETS, config: { registryRoot: makeTempDir(t) } });
  const payload = parsePushPayload(fixture('push-monorepo.json'));
  const em = engine.orm.em.fork();
  em.create(WebhookDelivery, { repository: 'acme/registry', ref: payload.ref, after: payload.after, status: 'resolving', payload: { payload, branch: 'main' } });
  await em.flush();

  const receiver = createPushReceiver({ ...engine, logger });
  await receiver.resumePending();
  await receiver.settled();
  // No git here: the files the payload lists (apps/other, apps/my_app) decide.
  assert.deepEqual((await engine.runs()).map((run) => run.app).sort(), ['my_app', 'other']);
  const [delivery] = await engine.orm.em.fork().find(WebhookDelivery, {});
  assert.equal(delivery.status, 'queued');
  assert.equal(delivery.run_ids?.length, 2);
});

test('shutting down while a push resolves leaves it resolving (for the next start), not lost', async (t) => {
  const engine = await createTestExecutor(t, { pipeline: noopPipeline, targets: TARGETS, config: { registryRoot: makeTempDir(t) } });
  await engine.executor.shutdown(0);
  const truncated = JSON.parse(fixture('push-monorepo.json').toString('utf8'));
  const receiver = createPushReceiver({ ...engine, logger });
  const receipt = await receiver.receive(Buffer.from(JSON.stringify({ ...truncated, total_commits: 9 })));
  assert.equal(receipt.outcome, 'resolving');
  await receiver.settled();
  const [delivery] = await engine.orm.em.fork().find(WebhookDelivery, {});
  assert.equal(delivery.status, 'resolving');
  assert.notEqual(delivery.payload, null);
});

test('a push of a commit older than the one a target runs is recorded skipped, never deployed; a newer one deploys', async (t) => {
  const registry = makeTempDir(t);
  const git = (...args: string[]) => execFileSync('git', ['-C', registry, '-c', 'user.name=t', '-c', 'user.email=t@t', ...args], { encoding: 'utf8' }).trim();
  git('init', '--quiet', '-b', 'main');
  const commit = (n: number) => {
    writeFileSync(path.join(registry, 'f.txt'), String(n));
    git('add', 'f.txt');
    git('commit', '--quiet', '-m', `c${n}`);
    return git('rev-parse', 'HEAD');
  };
  const [c1, c2, c3] = [commit(1), commit(2), commit(3)];
  const engine = await createTestExecutor(t, { pipeline: noopPipeline, targets: [{ app: 'my_app', host: 'vps1' }], config: { registryRoot: registry } });
  const receiver = createPushReceiver({ ...engine, logger });
  const push = (before: string, after: string) => {
    const payload = JSON.parse(fixture('push-monorepo.json').toString('utf8'));
    return receiver.receive(Buffer.from(JSON.stringify({ ...payload, before, after, total_commits: payload.commits.length })));
  };

  const current = await push(c1, c2);
  assert.equal(current.outcome, 'queued');
  assert.equal((await engine.executor.waitForRun(current.queued[0].run_id)).status, 'success');

  const late = await push(c1.replace(/.$/, (c) => (c === '0' ? '1' : '0')), c1); // a late delivery of the older c1
  assert.equal(late.outcome, 'skipped');
  assert.match(late.outcome === 'skipped' ? late.reason : '', new RegExp(`^skipped: ${c1.slice(0, 12)} is older than ${c2.slice(0, 12)}, which my_app@vps1 already runs`));
  assert.equal((await engine.run(late.outcome === 'skipped' ? late.skipped[0].run_id : 0)).status, 'skipped');

  const newer = await push(c2, c3);
  assert.equal(newer.outcome, 'queued', 'a descendant of the running commit deploys');
  const unknown = await push(c2, 'f'.repeat(40));
  assert.equal(unknown.outcome, 'queued', 'a commit git does not know (not fetched yet) deploys as before');
});

test('a burst of deliveries at once (written in batches): each answered with its own runs, replays among new pushes recognised by a restarted receiver, each push recorded once', async (t) => {
  const engine = await createTestExecutor(t, { pipeline: noopPipeline, targets: TARGETS });
  const payload = JSON.parse(fixture('push-monorepo.json').toString('utf8'));
  const body = (n: number) => Buffer.from(JSON.stringify({ ...payload, after: n.toString(16).padStart(40, '0') }));
  const range = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => from + i);

  const receiver = createPushReceiver({ ...engine, logger });
  const first = await Promise.all(range(1, 12).map((n) => receiver.receive(body(n), { deliveryId: `d${n}` })));
  assert.deepEqual(first.map((r) => r.outcome), range(1, 12).map(() => 'queued'));
  const named = first.flatMap((r) => r.queued.map((q) => q.run_id));
  assert.equal(named.length, 24);
  assert.equal(new Set(named).size, 24, 'no run answered twice');

  const restarted = createPushReceiver({ ...engine, logger });
  const second = await Promise.all([
    ...range(1, 12).map((n) => restarted.receive(body(n), { deliveryId: `again-${n}` })),
    ...range(13, 20).map((n) => restarted.receive(body(n))),
  ]);
  assert.deepEqual(second.slice(0, 12).map((r) => r.outcome), range(1, 12).map(() => 'replayed'));
  second.slice(0, 12).forEach((replay, i) => assert.deepEqual(replay.queued, first[i].queued, `replay of push ${i + 1} names its first runs`));
  assert.deepEqual(second.slice(12).map((r) => r.outcome), range(13, 20).map(() => 'queued'));

  const deliveries = await engine.orm.em.fork().find(WebhookDelivery, {}, { orderBy: { id: 'asc' } });
  assert.equal(deliveries.length, 20, 'each push recorded once; replays add no record');
  assert.equal(new Set(deliveries.map((d) => d.after)).size, 20);
  assert.equal((await engine.runs()).length, 40, 'two runs per push, none for a replay');
});
