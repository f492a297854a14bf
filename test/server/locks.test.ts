import { test } from 'node:test';
import assert from 'node:assert/strict';
import { definePipeline } from '../../src/engine/pipeline.ts';
import { saveTarget } from '../../src/domain/targets.ts';
import { until } from '../helpers/engine.ts';
import { getJson, postJson, postWebhook, sign, startTestApi } from '../helpers/api.ts';
import { fixture, SECRET } from '../helpers/gitea-fixtures.ts';

const noopPipeline = definePipeline({ work: { run: async () => undefined } });
const TOKEN = 'write-token-1';
const auth = { authorization: `Bearer ${TOKEN}` };
const TARGETS = [{ app: 'my_app', host: 'vps1' }, { app: 'my_app', host: 'vps2' }, { app: 'other', host: 'vps1' }];

/** push-monorepo.json (touches apps/my_app and apps/other) with its head commit's message replaced, signed. */
function pushWithMessage(message?: string) {
  const payload = JSON.parse(fixture('push-monorepo.json').toString('utf8'));
  if (message !== undefined) payload.commits[0].message = payload.head_commit.message = message;
  payload.after = (message === undefined ? 'a' : 'b').repeat(40); // a distinct push each time (no replay)
  payload.commits[0].id = payload.head_commit.id = payload.after;
  const body = Buffer.from(JSON.stringify(payload));
  return { body, headers: { 'x-gitea-event': 'push', 'x-gitea-signature': sign(body, SECRET) } };
}

async function startApi(t: Parameters<typeof startTestApi>[0]) {
  return startTestApi(t, { pipeline: noopPipeline, targets: TARGETS, config: { webhookSecret: SECRET, apiToken: TOKEN }, insecureApi: false });
}

async function request(url: string, method: string, headers: Record<string, string> = {}) {
  const response = await fetch(url, { method, headers });
  return { status: response.status, body: (await response.json()) as any };
}

test('a locked target skips a signed push: a `skipped` run with the reason and who locked it; the others deploy', async (t) => {
  const api = await startApi(t);
  const locked = await postJson(`${api.url}/api/locks/my_app`, { host: 'vps1', reason: 'db migration' }, auth);
  assert.equal(locked.status, 201, JSON.stringify(locked.body));
  assert.deepEqual({ ...locked.body, locked_at: undefined }, { app: 'my_app', host: 'vps1', reason: 'db migration', locked_by: 'api', locked_at: undefined, expires_at: null });

  const push = pushWithMessage();
  const answer = await postWebhook(api.url, push.body, push.headers);
  assert.equal(answer.status, 202, JSON.stringify(answer.body));
  assert.deepEqual(answer.body.queued.map((q: any) => `${q.app}@${q.host}`).sort(), ['my_app@vps2', 'other@vps1']);
  assert.equal(answer.body.skipped.length, 1);
  const [skipped] = answer.body.skipped;
  assert.deepEqual({ app: skipped.app, host: skipped.host, reason: skipped.reason }, { app: 'my_app', host: 'vps1', reason: 'skipped: my_app@vps1 is locked by api: db migration' });

  const run = await getJson(`${api.url}/api/runs/${skipped.run_id}`, auth);
  assert.equal(run.body.status, 'skipped');
  assert.equal(run.body.trigger, 'webhook');
  assert.equal(run.body.error, 'skipped: my_app@vps1 is locked by api: db migration');
  assert.equal(run.body.commit, 'a'.repeat(40));
  assert.equal(run.body.repository, 'acme/registry');
  assert.deepEqual(run.body.steps, []);
  await until(async () => (await api.runs()).every((r) => r.status === 'success' || r.status === 'skipped'));
});

test('an app-wide lock skips every host; when every target is skipped the answer is 200 with the reason', async (t) => {
  const api = await startApi(t);
  assert.equal((await postJson(`${api.url}/api/locks/my_app`, { reason: 'freeze' }, auth)).status, 201);
  assert.equal((await postJson(`${api.url}/api/locks/other`, { reason: 'freeze' }, auth)).status, 201);
  const push = pushWithMessage();
  const answer = await postWebhook(api.url, push.body, push.headers);
  assert.equal(answer.status, 200);
  assert.deepEqual(answer.body.queued, []);
  assert.equal(answer.body.skipped.length, 3);
  assert.match(answer.body.reason, /locked by api: freeze/);
  assert.deepEqual((await api.runs()).map((r) => r.status), ['skipped', 'skipped', 'skipped']);
});

test('deploy and rollback refuse a locked target with 409; {"force": true} deploys and is recorded on the run', async (t) => {
  const api = await startApi(t);
  await postJson(`${api.url}/api/locks/my_app`, { reason: 'audit', for: '2h' }, auth);
  const refused = await postJson(`${api.url}/api/deploy/my_app`, { host: 'vps1' }, auth);
  assert.equal(refused.status, 409);
  assert.match(refused.body.error, /^my_app@vps1 is locked by api: audit \(until \d{4}-.*\) — use --force/);
  assert.equal((await postJson(`${api.url}/api/rollback/my_app`, {}, auth)).status, 409);
  assert.equal((await api.runs()).length, 0, 'nothing queued');

  const forced = await postJson(`${api.url}/api/deploy/my_app`, { host: 'vps1', force: true }, auth);
  assert.equal(forced.status, 202, JSON.stringify(forced.body));
  const runId = forced.body.queued[0].run_id;
  await until(async () => (await api.run(runId)).status === 'success');
  assert.equal((await getJson(`${api.url}/api/runs/${runId}`, auth)).body.forced, true);

  const other = await postJson(`${api.url}/api/deploy/other`, { force: true }, auth);
  assert.equal((await getJson(`${api.url}/api/runs/${other.body.queued[0].run_id}`, auth)).body.forced, false, 'force on an unlocked target overrides nothing');
  assert.equal((await postJson(`${api.url}/api/deploy/my_app`, { force: 'yes' }, auth)).status, 400);
});

test('lock routes: list, unlock one host or all, 404 without a lock, 400 for bad input, 401 without the token', async (t) => {
  const api = await startApi(t);
  assert.equal((await postJson(`${api.url}/api/locks/my_app`, { reason: 'x' })).status, 401);
  assert.equal((await request(`${api.url}/api/locks/my_app`, 'DELETE')).status, 401);
  for (const [body, message] of [
    [{}, /reason/],
    [{ reason: '  ' }, /a reason is required/],
    [{ reason: 'x', for: 'soon' }, /--for must be a duration like 30m, 2h or 1d12h \(got "soon"\)/],
    [{ reason: 'x', colour: 'red' }, /unknown field "colour"/],
    [{ reason: 'a\nb' }, /control characters/],
  ] as const) {
    const answer = await postJson(`${api.url}/api/locks/my_app`, body, auth);
    assert.equal(answer.status, 400, JSON.stringify(body));
    assert.match(answer.body.error, message);
  }
  assert.equal((await postJson(`${api.url}/api/locks/nope`, { reason: 'x' }, auth)).status, 404);
  assert.equal((await postJson(`${api.url}/api/locks/my_app`, { reason: 'x', host: 'vps9' }, auth)).status, 404);

  await postJson(`${api.url}/api/locks/my_app`, { reason: 'one', host: 'vps1' }, auth);
  await postJson(`${api.url}/api/locks/my_app`, { reason: 'two', host: 'vps2' }, auth);
  await postJson(`${api.url}/api/locks/my_app`, { reason: 'one again', host: 'vps1' }, auth);
  const listed = await getJson(`${api.url}/api/locks`, auth);
  assert.deepEqual(listed.body.map((l: any) => `${l.host}:${l.reason}`), ['vps2:two', 'vps1:one again'], 'locking again replaces the lock');

  const one = await request(`${api.url}/api/locks/my_app?host=vps1`, 'DELETE', auth);
  assert.equal(one.status, 200);
  assert.deepEqual(one.body.unlocked.map((l: any) => l.host), ['vps1']);
  assert.equal((await request(`${api.url}/api/locks/my_app?host=vps1`, 'DELETE', auth)).status, 404);
  assert.equal((await request(`${api.url}/api/locks/my_app`, 'DELETE', auth)).body.unlocked.length, 1);
  assert.deepEqual((await getJson(`${api.url}/api/locks`, auth)).body, []);
});

test('an expired lock does not apply', async (t) => {
  const api = await startApi(t);
  await postJson(`${api.url}/api/locks/my_app`, { reason: 'brief', for: '1s' }, auth);
  await new Promise((resolve) => setTimeout(resolve, 1100));
  assert.deepEqual((await getJson(`${api.url}/api/locks`, auth)).body, []);
  const deployed = await postJson(`${api.url}/api/deploy/my_app`, { host: 'vps1' }, auth);
  assert.equal(deployed.status, 202);
  const push = pushWithMessage();
  assert.equal((await postWebhook(api.url, push.body, push.headers)).body.skipped, undefined);
});

test('[skip deploy] / [deploy skip] in the head commit deploy nothing: 200 with the reason, runs recorded `skipped`', async (t) => {
  const api = await startApi(t);
  const push = pushWithMessage('fix typo [Skip Deploy]');
  const answer = await postWebhook(api.url, push.body, push.headers);
  assert.equal(answer.status, 200, JSON.stringify(answer.body));
  assert.deepEqual(answer.body.queued, []);
  assert.equal(answer.body.reason, 'skipped: the head commit says [Skip Deploy]');
  assert.deepEqual(answer.body.skipped.map((s: any) => `${s.app}@${s.host}`).sort(), ['my_app@vps1', 'my_app@vps2', 'other@vps1']);
  const runs = await api.runs();
  assert.deepEqual(runs.map((r) => [r.status, r.error]), Array(3).fill(['skipped', 'skipped: the head commit says [Skip Deploy]']));
  const logs = await getJson(`${api.url}/api/logs`, auth);
  assert.ok(logs.body.every((r: any) => r.status === 'skipped'), 'the history shows them');
});

test('[skip ci] skips only the targets that opt in (skip_ci_marker)', async (t) => {
  const api = await startApi(t);
  await saveTarget(api.orm.em.fork(), { app: 'my_app', host: 'vps2', skip_ci_marker: true });
  const push = pushWithMessage('docs only [skip ci]');
  const answer = await postWebhook(api.url, push.body, push.headers);
  assert.equal(answer.status, 202);
  assert.deepEqual(answer.body.queued.map((q: any) => `${q.app}@${q.host}`).sort(), ['my_app@vps1', 'other@vps1']);
  assert.deepEqual(answer.body.skipped.map((s: any) => [`${s.app}@${s.host}`, s.reason]), [['my_app@vps2', 'skipped: the head commit says [skip ci]']]);
  await until(async () => (await api.runs()).every((r) => r.status !== 'queued' && r.status !== 'running'));
});
