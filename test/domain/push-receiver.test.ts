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

const hex = (n: number) => n.toString(16).padStart(40, '0');
/** The monorepo push with another `after` (and whatever else `extra` says). */
const pushBody = (n: number, extra: object = {}) => {
  const payload = JSON.parse(fixture('push-monorepo.json').toString('utf8'));
  return Buffer.from(JSON.stringify({ ...payload, after: hex(n), ...extra }));
};

test('replays: the same delivery id is a replay whatever it carries; the same commit pushed to another branch is not', async (t) => {
  const engine = await createTestExecutor(t, { pipeline: noopPipeline, targets: [{ app: 'my_app', host: 'vps1' }, { app: 'my_app', host: 'vps2', branch: 'release' }] });
  const receiver = createPushReceiver({ ...engine, logger });
  const first = await receiver.receive(pushBody(1), { deliveryId: 'same-id' });
  assert.equal(first.outcome, 'queued');
  const restarted = createPushReceiver({ ...engine, logger });
  const sameId = await restarted.receive(pushBody(2), { deliveryId: 'same-id' });
  assert.equal(sameId.outcome, 'replayed', 'a delivery id seen before');
  assert.deepEqual(sameId.queued, first.queued);
  // In one batch with a push of `main` (the lookup reads rows of either ref and either commit): only an
  // exact (repository, ref, after) is the same push.
  const lone = restarted.receive(pushBody(7));
  const [otherBranch, newOnMain] = await Promise.all([restarted.receive(pushBody(1, { ref: 'refs/heads/release' })), restarted.receive(pushBody(5))]);
  await lone;
  assert.equal(otherBranch.outcome, 'queued', 'the same commit on another branch is another push');
  assert.deepEqual(otherBranch.queued.map((q) => q.host), ['vps2']);
  assert.equal(newOnMain.outcome, 'queued');
});

test('a batch whose runs cannot be written: its listed pushes fail and queued nothing, its resolving push keeps its 202 and is resolved', async (t) => {
  const engine = await createTestExecutor(t, { pipeline: noopPipeline, targets: TARGETS, config: { registryRoot: makeTempDir(t) } });
  const requestDeploys = engine.executor.requestDeploys.bind(engine.executor);
  engine.executor.requestDeploys = async (items) => {
    if (items.some((item) => item.request.commit === hex(3))) throw new Error('database hiccup');
    return requestDeploys(items);
  };
  const receiver = createPushReceiver({ ...engine, logger });
  const first = receiver.receive(pushBody(1)); // a batch of its own: the next two arrive while it is written
  const truncated = receiver.receive(pushBody(2, { total_commits: 9 }));
  const listed = receiver.receive(pushBody(3));
  assert.equal((await first).outcome, 'queued');
  assert.equal((await truncated).outcome, 'resolving');
  await assert.rejects(listed, /database hiccup/);
  await receiver.settled();
  const runs = await engine.runs();
  assert.equal(runs.filter((run) => run.commit === hex(3)).length, 0, 'the failed push queued nothing');
  assert.equal(runs.filter((run) => run.commit === hex(2)).length, 2, 'the resolving push was resolved (the files it lists)');
});

test('skipped runs are written before the runs to deploy: when that fails, no push of the batch queued anything, and a retry queues once', async (t) => {
  const engine = await createTestExecutor(t, { pipeline: noopPipeline, targets: TARGETS });
  const recordSkipped = engine.executor.recordSkipped.bind(engine.executor);
  let fail = true;
  engine.executor.recordSkipped = async (items) => {
    if (fail && items.length > 0) throw new Error('disk full');
    return recordSkipped(items);
  };
  const payload = JSON.parse(fixture('push-monorepo.json').toString('utf8'));
  const receiver = createPushReceiver({ ...engine, logger });
  const first = receiver.receive(pushBody(1));
  const normal = receiver.receive(pushBody(2), { deliveryId: 'n-2' });
  const skipMarked = receiver.receive(pushBody(3, { head_commit: { ...payload.head_commit, id: hex(3), message: 'docs [skip deploy]' } }), { deliveryId: 's-3' });
  await first;
  await assert.rejects(normal, /disk full/);
  await assert.rejects(skipMarked, /disk full/);
  assert.equal((await engine.runs()).filter((run) => run.commit === hex(2)).length, 0, 'answered 500, queued nothing');
  fail = false;
  const retry = await receiver.receive(pushBody(2), { deliveryId: 'n-2' });
  assert.equal(retry.outcome, 'queued');
  assert.equal((await engine.runs()).filter((run) => run.commit === hex(2)).length, 2, 'queued once, by the retry');
});

test('a push redelivered 11 minutes after it was received is not a replay, also after the wall clock stepped back meanwhile', async (t) => {
  const engine = await createTestExecutor(t, { pipeline: definePipeline({ work: { run: async () => undefined } }), targets: [{ app: 'my_app', host: 'vps1' }, { app: 'other', host: 'vps1' }] });
  const receiver = createPushReceiver({ ...engine, logger });
  const base = JSON.parse(fixture('push-monorepo.json').toString('utf8'));
  const push = (after: string) => Buffer.from(JSON.stringify({ ...base, after }));
  const MIN = 60_000;
  const start = Date.now();
  // Both clocks move together, except when NTP steps the wall clock back.
  let monotonic = performance.now();
  t.mock.method(performance, 'now', () => monotonic);
  t.mock.timers.enable({ apis: ['Date'], now: start });
  const advance = (ms: number, wallStep = 0) => {
    monotonic += ms;
    t.mock.timers.setTime(Date.now() + ms + wallStep);
  };
  assert.equal((await receiver.receive(push('a'.repeat(40)), { deliveryId: 'd1' })).outcome, 'queued');
  advance(1000, -5 * MIN); // the wall clock is stepped back 5 minutes
  assert.equal((await receiver.receive(push('b'.repeat(40)), { deliveryId: 'd2' })).outcome, 'queued');
  advance(11 * MIN);
  const again = await receiver.receive(push('b'.repeat(40)), { deliveryId: 'd3' });
  assert.equal(again.outcome, 'queued', `push b was received 11 minutes ago (the window is 10): ${again.outcome}`);
  const replay = await receiver.receive(push('b'.repeat(40)), { deliveryId: 'd4' });
  assert.equal(replay.outcome, 'replayed', 'received again just now: a replay');
});
