// Two servers (two apps, two executors) on one PostgreSQL database: webhooks and the API answer the
// same whichever server they reach.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { definePipeline, type StepContext } from '../../src/engine/pipeline.ts';
import { StepRun } from '../../src/db/entities/StepRun.ts';
import { postJson, postWebhook, sign, startTestApi } from '../helpers/api.ts';
import { createTestDatabaseUrl, gate, until } from '../helpers/engine.ts';
import { skipWithoutPostgres } from '../helpers/postgres.ts';

const skip = skipWithoutPostgres();
const SECRET = 'test-secret';
const FIXTURE = fs.readFileSync(path.join(new URL('../fixtures/gitea/', import.meta.url).pathname, 'push-monorepo.json'), 'utf8');
const TARGETS = [{ app: 'my_app', host: 'vps1' }, { app: 'my_app', host: 'vps2' }, { app: 'other', host: 'vps1' }];

/** A push of `after` (40 hex digits) touching apps/my_app. */
const pushOf = (after: string) => FIXTURE.replaceAll('d41e7b9c2a6f8e0d3b5c7a9e1f2d4b6c8a0e2f47', after);

async function twoApis(t: Parameters<typeof startTestApi>[0], pipeline: ReturnType<typeof definePipeline>) {
  const dropLater: (() => unknown)[] = [];
  const dbUrl = await createTestDatabaseUrl({ after: (fn: () => unknown) => void dropLater.push(fn) }, 'postgresql');
  const common = { pipeline, targets: TARGETS, config: { webhookSecret: SECRET }, dbUrl };
  const a = await startTestApi(t, { ...common, shared: { serverId: 'server-a' } });
  const b = await startTestApi(t, { ...common, shared: { serverId: 'server-b' } });
  t.after(async () => { for (const drop of dropLater) await drop(); });
  return { a, b };
}

test('a burst of pushes and their replays over both servers: each push queued once, targets coalesced, no run of a target overlaps another', { skip }, async (t) => {
  const pipeline = definePipeline({ work: { run: async () => new Promise((resolve) => setTimeout(resolve, 100)) } });
  const { a, b } = await twoApis(t, pipeline);
  const afters = Array.from({ length: 30 }, (_, i) => (i + 1).toString(16).padStart(2, '0').repeat(20));
  const deliver = (server: { url: string }, after: string, id: string) => {
    const body = pushOf(after);
    return postWebhook(server.url, body, { 'x-gitea-event': 'push', 'x-gitea-delivery': id, 'x-gitea-signature': sign(body, SECRET) });
  };
  // Every push twice at once, once to each server (a replay reaching the other one).
  const answers = await Promise.all(afters.map((after, i) => Promise.all([deliver(i % 2 ? a : b, after, `${i}-1`), deliver(i % 2 ? b : a, after, `${i}-2`)])));
  for (const pair of answers) {
    assert.deepEqual(pair.map((answer) => answer.status).sort(), [200, 202], JSON.stringify(pair.map((answer) => answer.body)));
    assert.deepEqual(pair[0].body.queued, pair[1].body.queued, 'the replay answers with the runs the first delivery queued');
  }
  const runIds = answers.flatMap((pair) => pair.find((answer) => answer.status === 202)!.body.queued.map((q: { run_id: number }) => q.run_id));
  // Until no run is left going, whichever server runs it.
  for (let i = 0; i < 200 && (await a.runs()).some((run) => ['queued', 'running'].includes(run.status)); i++) await new Promise((resolve) => setTimeout(resolve, 100));
  const runs = await a.runs();
  const perPush = answers[0].find((answer) => answer.status === 202)!.body.queued.length;
  assert.ok(perPush >= 2);
  assert.equal(runs.length, afters.length * perPush, 'each push queued once: one run per matched target');
  assert.deepEqual(runs.map((run) => run.id), [...new Set(runIds)].sort((x: number, y: number) => x - y));
  assert.ok(runs.every((run) => ['success', 'cancelled'].includes(run.status)), JSON.stringify(runs.map((r) => r.status)));
  for (const run of runs.filter((r) => r.status === 'cancelled')) assert.match(run.error!, new RegExp(`^superseded by run #\\d+, a newer deploy request for ${run.app}@${run.host}$`));
  for (const key of new Set(runs.map((run) => `${run.app}@${run.host}`))) {
    const mine = runs.filter((run) => `${run.app}@${run.host}` === key);
    const deployed = mine.filter((run) => run.status === 'success');
    assert.ok(deployed.length >= 1 && deployed.length < afters.length, `${key}: coalesced (${deployed.length} deploys for ${afters.length} pushes)`);
    assert.equal(deployed.at(-1)!.id, mine.at(-1)!.id, `${key}: the newest request is deployed`);
    const spans = (await a.orm.em.fork().find(StepRun, { run: { $in: deployed.map((r) => r.id) } })).map((s) => [s.started_at!.getTime(), s.started_at!.getTime() + s.duration_ms!]).sort((x, y) => x[0] - y[0]);
    for (let i = 1; i < spans.length; i++) assert.ok(spans[i][0] >= spans[i - 1][1], `${key}: runs ${i - 1} and ${i} overlap`);
  }
});

test('a client of server B sees and cancels a run that server A executes', { skip }, async (t) => {
  const started = gate();
  const pipeline = definePipeline({
    long: {
      run: async ({ signal, output }: StepContext) => {
        output('working\n');
        started.open();
        await new Promise((_, reject) => signal.addEventListener('abort', () => reject(signal.reason)));
      },
    },
  });
  const { a, b } = await twoApis(t, pipeline);
  const queued = await postJson(`${a.url}/api/deploy/other`, {});
  assert.equal(queued.status, 202, JSON.stringify(queued.body));
  const runId = queued.body.queued[0].run_id as number;
  await started.promise;
  const owner = (await a.run(runId)).owner;
  const other = owner === 'server-a' ? b : a;
  const events = fetch(`${other.url}/api/runs/${runId}/events`).then((response) => response.text());
  const cancel = await postJson(`${other.url}/api/runs/${runId}/cancel`, {});
  assert.deepEqual([cancel.status, cancel.body], [202, { run_id: runId, cancelling: true }]);
  assert.match(await events, /event: step\ndata: \{"run_id":\d+,"step":"long","status":"running"/, 'the live stream on B shows the step A runs');
  await until(async () => (await a.run(runId)).status === 'cancelled', 10_000);
  const after = await (await fetch(`${other.url}/api/runs/${runId}/events`)).text();
  assert.match(after, /event: step\ndata: \{"run_id":\d+,"step":"long","status":"cancelled"/);
  assert.match(after, /event: result\ndata: \{"id":\d+,"status":"cancelled"/);
  const logs = await Promise.all([a, b].map(async (server) => (await fetch(`${server.url}/api/logs`)).json()));
  assert.deepEqual(logs[0], logs[1], '/api/logs is the same on both servers');
});
