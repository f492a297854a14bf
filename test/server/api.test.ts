import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { definePipeline, type StepContext } from '../../src/engine/pipeline.ts';
import { getJson, postJson, postWebhook, sign, startTestApi } from '../helpers/api.ts';
import { gate, until } from '../helpers/engine.ts';
import { makeTempDir } from '../helpers/cli.ts';

const SECRET = 'test-secret';
const TOKEN = 'api-token-7f3a9c';
const FIXTURES = new URL('../fixtures/gitea/', import.meta.url).pathname;
const fixture = (name: string) => fs.readFileSync(path.join(FIXTURES, name));
const noopPipeline = definePipeline({ work: { run: async () => undefined } });

const TARGETS = [
  { app: 'my_app', host: 'vps1' },
  { app: 'my_app', host: 'vps2' },
  { app: 'other', host: 'vps1' },
  { app: 'my_app', host: 'staging', branch: 'dev' },
  { app: 'agents_and_robots', host: 'vps3', branch: 'master' },
];

const queuedPairs = (body: { queued: { app: string; host: string }[] }) => body.queued.map((q) => `${q.app}@${q.host}`).sort();

test('every Gitea fixture, signed as its README says: which runs were queued, or why none', async (t) => {
  const api = await startTestApi(t, { pipeline: noopPipeline, targets: TARGETS, config: { webhookSecret: SECRET } });
  const cases: [string, string, number, string[], RegExp | null][] = [
    ['push-monorepo.json', 'push', 202, ['my_app@vps1', 'my_app@vps2', 'other@vps1'], null],
    ['push-external.json', 'push', 202, ['agents_and_robots@vps3'], null],
    ['push-tag.json', 'push', 200, [], /tag/],
    ['delete-branch.json', 'delete', 200, [], /"delete" events do not deploy/],
    ['push-test-delivery.json', 'push', 200, [], /test delivery/i],
  ];
  const signatures: Record<string, string> = {
    'push-monorepo.json': '372f7a2c960a15786a5c4d726d26f13d63e42dd52a8b7401d3d8cb29b5e0f54c',
    'push-external.json': 'b35a2384653917b675abf8f831baf137cd0bdb1bf7a9654f5ff0fe863866bd07',
    'push-tag.json': 'a83872f2473c488c9b9d84ac3f6ae6333a37543ee51d32f006fe2ad55a2f3365',
    'delete-branch.json': 'bac4e202e1094843bea5ac8360cae188141600c3fbe9e250fac7a7cbed6c505d',
    'push-test-delivery.json': '41cd4b5345ad7140649cd0b90e051d1d05ca9060a479979b7befa66d723f2e3f',
  };
  for (const [name, event, status, queued, reason] of cases) {
    const response = await postWebhook(api.url, fixture(name), { 'x-gitea-event': event, 'x-gitea-signature': signatures[name] });
    assert.equal(response.status, status, `${name}: ${JSON.stringify(response.body)}`);
    assert.deepEqual(queuedPairs(response.body), queued, name);
    if (reason) assert.match(response.body.reason, reason, name);
    for (const run of response.body.queued) assert.equal(typeof run.run_id, 'number');
  }
  const runs = await api.runs();
  assert.equal(runs.length, 4);
  assert.ok(runs.every((r) => r.trigger === 'webhook'));
  assert.deepEqual(runs.filter((r) => r.app === 'my_app').map((r) => [r.ref, r.commit]), [
    ['refs/heads/main', 'd41e7b9c2a6f8e0d3b5c7a9e1f2d4b6c8a0e2f47'],
    ['refs/heads/main', 'd41e7b9c2a6f8e0d3b5c7a9e1f2d4b6c8a0e2f47'],
  ]);
});

test('the signature is accepted from X-Forgejo-Signature and X-Hub-Signature-256 too; wrong, missing or empty → 401, nothing queued', async (t) => {
  const api = await startTestApi(t, { pipeline: noopPipeline, targets: TARGETS, config: { webhookSecret: SECRET } });
  const body = fixture('push-external.json');
  const good = sign(body, SECRET);
  assert.equal((await postWebhook(api.url, body, { 'x-forgejo-event': 'push', 'x-forgejo-signature': good })).status, 202);
  const other = fixture('push-monorepo.json');
  assert.equal((await postWebhook(api.url, other, { 'x-github-event': 'push', 'x-hub-signature-256': `sha256=${sign(other, SECRET)}` })).status, 202);
  const bad: Record<string, string>[] = [
    { 'x-gitea-signature': sign(body, 'wrong-secret') },
    {},
    { 'x-gitea-signature': '' },
    { 'x-hub-signature-256': good },
    { 'x-gitea-signature': good.slice(0, -2) },
  ];
  for (const headers of bad) {
    const response = await postWebhook(api.url, fixture('push-tag.json'), { 'x-gitea-event': 'push', ...headers });
    assert.equal(response.status, 401);
    assert.match(response.body.error, /signature/);
  }
  assert.equal((await api.runs()).length, 4, 'only the two good deliveries queued anything');
});

test('without DEPLOY_WEBHOOK_SECRET webhooks answer 401, unless serve runs with --insecure-webhooks', async (t) => {
  const closed = await startTestApi(t, { pipeline: noopPipeline, targets: TARGETS });
  const refused = await postWebhook(closed.url, fixture('push-external.json'), { 'x-gitea-event': 'push' });
  assert.equal(refused.status, 401);
  assert.match(refused.body.error, /DEPLOY_WEBHOOK_SECRET/);
  const open = await startTestApi(t, { pipeline: noopPipeline, targets: TARGETS, insecureWebhooks: true });
  assert.equal((await postWebhook(open.url, fixture('push-external.json'), { 'x-gitea-event': 'push' })).status, 202);
  assert.match(open.log(), /WITHOUT a signature check/);
});

test('a replayed delivery (same repo, ref and after) is queued once, even when both arrive at once', async (t) => {
  const api = await startTestApi(t, { pipeline: noopPipeline, targets: TARGETS, config: { webhookSecret: SECRET } });
  const body = fixture('push-monorepo.json');
  const headers = (id: string) => ({ 'x-gitea-event': 'push', 'x-gitea-delivery': id, 'x-gitea-signature': sign(body, SECRET) });
  const [first, second] = await Promise.all([postWebhook(api.url, body, headers('a')), postWebhook(api.url, body, headers('b'))]);
  const third = await postWebhook(api.url, body, headers('c'));
  const statuses = [first.status, second.status].sort();
  assert.deepEqual(statuses, [200, 202]);
  const original = first.status === 202 ? first.body : second.body;
  const replay = first.status === 202 ? second.body : first.body;
  assert.deepEqual(replay.queued, original.queued, 'the replay answers with the runs already queued');
  assert.match(replay.reason, /already received/);
  assert.equal(third.status, 200);
  assert.deepEqual(third.body.queued, original.queued);
  assert.equal((await api.runs()).length, 3);
});

test('a truncated payload takes its changed files from git in the registry root', async (t) => {
  const root = makeTempDir(t);
  const origin = path.join(root, 'origin.git');
  const registry = path.join(root, 'registry');
  const git = (cwd: string, ...args: string[]) =>
    execFileSync('git', ['-c', 'user.name=t', '-c', 'user.email=t@example.com', ...args], { cwd, encoding: 'utf8' }).trim();
  execFileSync('git', ['init', '-q', '--bare', '-b', 'main', origin]);
  execFileSync('git', ['clone', '-q', origin, registry], { stdio: 'ignore' });
  const work = path.join(root, 'work');
  execFileSync('git', ['clone', '-q', origin, work], { stdio: 'ignore' });
  const commit = (file: string) => {
    fs.mkdirSync(path.dirname(path.join(work, file)), { recursive: true });
    fs.writeFileSync(path.join(work, file), `${file}\n`);
    git(work, 'add', '-A');
    git(work, 'commit', '-q', '-m', file);
    return git(work, 'rev-parse', 'HEAD');
  };
  const before = commit('README.md');
  git(work, 'push', '-q', 'origin', 'HEAD:main');
  git(registry, 'pull', '-q', 'origin', 'main');
  // Seven commits; Gitea lists the newest five: apps/my_app is touched only by the first two.
  commit('apps/my_app/main.go');
  commit('apps/my_app/util.go');
  const shas = ['a', 'b', 'c', 'd', 'e'].map((n) => commit(`docs/${n}.md`));
  git(work, 'push', '-q', 'origin', 'HEAD:main');
  const after = shas.at(-1)!;
  const payload = JSON.stringify({
    ref: 'refs/heads/main',
    before,
    after,
    total_commits: 7,
    commits: shas.reverse().map((id) => ({ id, added: [`docs/${id}.md`], removed: [], modified: [] })),
    repository: { name: 'registry', full_name: 'acme/registry' },
  });
  const api = await startTestApi(t, { pipeline: noopPipeline, targets: TARGETS, config: { webhookSecret: SECRET, registryRoot: registry } });
  const response = await postWebhook(api.url, payload, { 'x-gitea-event': 'push', 'x-gitea-signature': sign(payload, SECRET) });
  assert.equal(response.status, 202, JSON.stringify(response.body));
  // Accepted at once; the runs are queued once git has said which files changed.
  assert.deepEqual(response.body, { queued: [], accepted: true, resolving: true, delivery: response.body.delivery });
  await api.pushes.settled();
  assert.deepEqual((await api.runs()).map((run) => `${run.app}@${run.host}`).sort(), ['my_app@vps1', 'my_app@vps2']);
});

test('one test per error status: 400, 401, 404, 409, 413', async (t) => {
  const held = gate();
  const pipeline = definePipeline({ work: { run: async () => held.promise } });
  const api = await startTestApi(t, { pipeline, targets: TARGETS, config: { webhookSecret: SECRET, apiToken: TOKEN } });
  const auth = { authorization: `Bearer ${TOKEN}` };

  const badJson = '{"ref": "refs/heads/main", ';
  const r400 = await postWebhook(api.url, badJson, { 'x-gitea-event': 'push', 'x-gitea-signature': sign(badJson, SECRET) });
  assert.equal(r400.status, 400);
  assert.match(r400.body.error, /invalid JSON/);
  const apiBadJson = await fetch(`${api.url}/api/deploy/my_app`, { method: 'POST', headers: { 'content-type': 'application/json', ...auth }, body: '{"host":' });
  assert.deepEqual([apiBadJson.status, await apiBadJson.json()], [400, { error: 'the body is not valid JSON' }]);
  assert.deepEqual(await postJson(`${api.url}/api/deploy/my_app`, { host: 7 }, auth), { status: 400, body: { error: 'host must be a string' } });
  assert.deepEqual(await postJson(`${api.url}/api/deploy/my_app`, { hots: 'vps1' }, auth), { status: 400, body: { error: 'unknown field "hots"' } });
  assert.deepEqual(await getJson(`${api.url}/api/logs?limit=500`, auth), { status: 400, body: { error: 'limit must be a whole number from 1 to 200' } });

  assert.deepEqual(await postJson(`${api.url}/api/deploy/my_app`, {}), { status: 401, body: { error: 'missing bearer token: send Authorization: Bearer <DEPLOY_API_TOKEN>' } });
  assert.deepEqual(await postJson(`${api.url}/api/deploy/my_app`, {}, { authorization: 'Bearer nope' }), { status: 401, body: { error: 'bad bearer token' } });

  assert.deepEqual(await postJson(`${api.url}/api/deploy/nope`, {}, auth), { status: 404, body: { error: 'no target for app "nope"' } });
  assert.deepEqual(await postJson(`${api.url}/api/deploy/my_app`, { host: 'vps9' }, auth), { status: 404, body: { error: 'no target for app "my_app" on host "vps9"' } });
  assert.deepEqual(await getJson(`${api.url}/api/targets/nope`, auth), { status: 404, body: { error: 'no target for app "nope"' } });
  assert.deepEqual(await getJson(`${api.url}/api/runs/999`, auth), { status: 404, body: { error: 'no run #999' } });
  assert.deepEqual(await postJson(`${api.url}/api/runs/999/cancel`, {}, auth), { status: 404, body: { error: 'no run #999' } });

  const deployed = await postJson(`${api.url}/api/deploy/other`, {}, auth);
  assert.equal(deployed.status, 202);
  const [{ run_id: runId }] = deployed.body.queued;
  held.open();
  await api.executor.waitForRun(runId);
  assert.deepEqual(await postJson(`${api.url}/api/runs/${runId}/cancel`, {}, auth), { status: 409, body: { error: `run #${runId} has already ended` } });

  const huge = Buffer.alloc(5 * 1024 * 1024 + 1, 'a');
  const r413 = await postWebhook(api.url, huge, { 'x-gitea-event': 'push', 'x-gitea-signature': sign(huge, SECRET) });
  assert.deepEqual([r413.status, r413.body], [413, { error: 'request body too large' }]);
  assert.equal((await api.runs()).length, 1, 'no error queued anything');
  const log = api.log();
  assert.ok(!log.includes(TOKEN) && !log.includes(SECRET) && !log.includes(sign(badJson, SECRET)), 'no token, secret or signature in the request log');
  assert.match(log, /"method":"POST","path":"\/api\/deploy\/my_app","status":401/);
});

test('POST /api/deploy queues a run per host (or one host), GET /api/logs shows them with their steps, newest first', async (t) => {
  const pipeline = definePipeline({
    build: { run: async ({ output }: StepContext) => output('compiling with key=sk-live-123\n') },
    ship: { run: async () => undefined, needs: ['build'] },
  });
  const api = await startTestApi(t, { pipeline, targets: [{ app: 'my_app', host: 'vps1', env: { KEY: 'sk-live-123' } }, { app: 'my_app', host: 'vps2', env: { KEY: 'sk-live-123' } }, { app: 'other', host: 'vps1', env: { KEY: 'sk-live-123' } }] });
  assert.deepEqual(await postJson(`${api.url}/api/deploy/my_app`, { commit: 'abc123' }), {
    status: 400, body: { error: 'commit must be a full commit id (40 or 64 hex digits)' },
  });
  const commit = 'abc123'.padEnd(40, '0');
  const all = await postJson(`${api.url}/api/deploy/my_app`, { ref: 'refs/heads/main', commit });
  assert.equal(all.status, 202);
  assert.deepEqual(queuedPairs(all.body), ['my_app@vps1', 'my_app@vps2']);
  const one = await postJson(`${api.url}/api/deploy/other?host=vps1`, {});
  assert.deepEqual(queuedPairs(one.body), ['other@vps1']);
  for (const run of [...all.body.queued, ...one.body.queued]) await api.executor.waitForRun(run.run_id);

  const logs = await getJson(`${api.url}/api/logs`);
  assert.equal(logs.status, 200);
  assert.deepEqual(logs.body.map((r: { id: number }) => r.id), [3, 2, 1]);
  const first = logs.body[2];
  assert.equal(first.trigger, 'api');
  assert.equal(first.status, 'success');
  assert.equal(first.ref, 'refs/heads/main');
  assert.equal(first.commit, commit);
  assert.deepEqual(first.steps.map((s: { step: string; status: string }) => [s.step, s.status]), [['build', 'success'], ['ship', 'success']]);
  assert.equal(first.steps[0].output, 'compiling with key=***\n');
  assert.equal(first.steps[0].exit_code, 0);
  assert.ok(first.steps[0].started_at && first.steps[0].duration_ms !== null);
  assert.deepEqual((await getJson(`${api.url}/api/logs/other`)).body.map((r: { app: string }) => r.app), ['other']);
  assert.equal((await getJson(`${api.url}/api/logs?limit=1`)).body.length, 1);
  const run = await getJson(`${api.url}/api/runs/1`);
  assert.equal(run.body.id, 1);
  const targets = await getJson(`${api.url}/api/targets`);
  assert.deepEqual(targets.body[0].env, { KEY: '***' }, 'env values never leave the server');
  assert.ok(!JSON.stringify([logs.body, run.body, targets.body]).includes('sk-live-123'));
});

test('GET /api/runs/:id/events streams a run to its end; a late client first gets what already happened', async (t) => {
  const releaseShip = gate();
  const shipStarted = gate();
  const pipeline = definePipeline({
    build: { run: async ({ output }: StepContext) => output('line one\nline two\n') },
    ship: { run: async ({ output }: StepContext) => { shipStarted.open(); await releaseShip.promise; output('shipped\n'); }, needs: ['build'] },
  });
  const api = await startTestApi(t, { pipeline, targets: [{ app: 'my_app', host: 'vps1' }] });
  const { body } = await postJson(`${api.url}/api/deploy/my_app`, {});
  const runId = body.queued[0].run_id;
  await shipStarted.promise; // build is over before the client connects

  const response = await fetch(`${api.url}/api/runs/${runId}/events`);
  assert.equal(response.headers.get('content-type'), 'text/event-stream');
  const reader = response.body!.getReader();
  let text = '';
  const deadline = Date.now() + 30_000; // a guard against a hang, not a timing claim
  const readUntil = async (needle: string) => {
    while (!text.includes(needle)) {
      if (Date.now() > deadline) throw new Error(`no ${needle} in the stream within 30 s: ${text}`);
      const { value, done } = await reader.read();
      if (done) break;
      text += new TextDecoder().decode(value);
    }
  };
  await readUntil('"step":"ship","status":"running"');
  releaseShip.open();
  await readUntil('event: result');
  const { done } = await reader.read();
  assert.ok(done, 'the stream ends after the result');
  const events = text.trim().split('\n\n').map((block) => {
    const [eventLine, dataLine] = block.split('\n');
    return { event: eventLine.slice('event: '.length), data: JSON.parse(dataLine.slice('data: '.length)) };
  });
  const summary = events.map((e) => (e.event === 'output' ? `output ${e.data.step}: ${e.data.line}` : e.event === 'step' ? `step ${e.data.step} ${e.data.status}` : `${e.event} ${e.data.status}`));
  assert.deepEqual(summary, [
    'run queued',
    'run running',
    'step build running',
    'output build: line one',
    'output build: line two',
    'step build success',
    'step ship running',
    'output ship: shipped',
    'step ship success',
    'run success',
    'result success',
  ]);

  // A finished run streams from the database.
  const again = await fetch(`${api.url}/api/runs/${runId}/events`);
  const replay = await again.text();
  assert.match(replay, /event: step\ndata: \{"run_id":\d+,"step":"build","status":"success"/);
  assert.match(replay, /event: result\ndata: \{"id":\d+,"status":"success"/);
});

test('POST /api/runs/:id/cancel cancels a running run', async (t) => {
  const started = gate();
  const pipeline = definePipeline({
    work: { run: async ({ signal }: StepContext) => { started.open(); await new Promise((_, reject) => signal.addEventListener('abort', () => reject(signal.reason))); } },
  });
  const api = await startTestApi(t, { pipeline, targets: [{ app: 'my_app', host: 'vps1' }] });
  const { body } = await postJson(`${api.url}/api/deploy/my_app`, {});
  await started.promise;
  const runId = body.queued[0].run_id;
  assert.deepEqual(await postJson(`${api.url}/api/runs/${runId}/cancel`, {}), { status: 202, body: { run_id: runId, cancelling: true } });
  await until(async () => (await api.run(runId)).status === 'cancelled');
});

test('GET /api/status/:app reads each host; GET /api/health', async (t) => {
  const api = await startTestApi(t, {
    pipeline: noopPipeline,
    targets: [{ app: 'my_app', host: 'vps1' }, { app: 'my_app', host: 'vps2' }],
    readStatus: async (target) => ({ host: target.host, strategy: target.strategy, active: target.host === 'vps1', output: `● ${target.app}.service` }),
  });
  const status = await getJson(`${api.url}/api/status/my_app`);
  assert.deepEqual(status.body.map((s: { host: string; active: boolean }) => [s.host, s.active]), [['vps1', true], ['vps2', false]]);
  assert.equal((await getJson(`${api.url}/api/status/nope`)).status, 404);
  assert.equal((await getJson(`${api.url}/api/health`)).body.status, 'ok');
});

test('without DEPLOY_API_TOKEN the write routes answer 401, unless serve runs with --insecure-api', async (t) => {
  const api = await startTestApi(t, { pipeline: noopPipeline, targets: TARGETS, insecureApi: false });
  const refused = await postJson(`${api.url}/api/deploy/my_app`, {});
  assert.deepEqual(refused, { status: 401, body: { error: 'the API write routes are disabled: set DEPLOY_API_TOKEN (or start serve with --insecure-api)' } });
  assert.equal((await postJson(`${api.url}/api/targets`, { app: 'x', host: 'h' })).status, 401);
  const reads = await getJson(`${api.url}/api/targets`);
  assert.deepEqual(reads, { status: 401, body: { error: 'the API read routes are disabled: set DEPLOY_API_READ_TOKEN or DEPLOY_API_TOKEN (or start serve with --insecure-api)' } });
  assert.equal((await getJson(`${api.url}/api/health`)).status, 200, 'the health check stays open');
  assert.deepEqual(await api.runs(), []);
});

test('reads need a token: the read token reads but does not write, the write token does both; targets show no credentials', async (t) => {
  const READ = 'read-token-55aa';
  // The status route reads hosts over SSH (test/e2e/status.test.ts); here only who may ask is at stake.
  const readStatus = async (target: { host: string; strategy: string }) => ({ host: target.host, strategy: target.strategy, active: true, output: '' });
  const api = await startTestApi(t, { pipeline: noopPipeline, targets: TARGETS, insecureApi: false, config: { apiToken: TOKEN, apiReadToken: READ }, readStatus });
  const get = async (route: string, token?: string) => {
    const response = await fetch(`${api.url}${route}`, { headers: token ? { authorization: `Bearer ${token}` } : {} });
    return { status: response.status, text: await response.text() };
  };
  const [queued] = (await postJson(`${api.url}/api/deploy/other`, {}, { authorization: `Bearer ${TOKEN}` })).body.queued;
  await until(async () => (await api.run(queued.run_id)).status === 'success');
  for (const route of ['/api/targets', '/api/targets/my_app', '/api/logs', '/api/logs/my_app', `/api/runs/${queued.run_id}`, `/api/runs/${queued.run_id}/events`, '/api/status/my_app']) {
    assert.equal((await get(route)).status, 401, `${route} without a token`);
    assert.equal((await get(route, 'wrong')).status, 401, `${route} with a wrong token`);
    assert.equal((await get(route, READ)).status, 200, `${route} with the read token`);
    assert.equal((await get(route, TOKEN)).status, 200, `${route} with the write token`);
  }
  assert.equal((await postJson(`${api.url}/api/deploy/my_app`, {}, { authorization: `Bearer ${READ}` })).status, 401, 'the read token cannot deploy');
  assert.equal((await get('/api/health')).status, 200);

  const saved = await postJson(`${api.url}/api/targets`, {
    app: 'api', host: 'vps1', repo: 'https://deploy:glpat-AbCdEfGhIjKlMnOpQrSt@git.example.com/acme/api.git', build_cmd: 'NPM_TOKEN=npm_s3cr3tvalue npm ci && npm run build',
  }, { authorization: `Bearer ${TOKEN}` });
  assert.equal(saved.status, 201);
  const listed = await get('/api/targets/api', READ);
  assert.doesNotMatch(listed.text + JSON.stringify(saved.body), /glpat-|s3cr3t|deploy:/);
  const [target] = JSON.parse(listed.text);
  assert.equal(target.repo, 'https://***@git.example.com/acme/api.git');
  assert.equal(target.build_cmd, 'NPM_TOKEN=*** npm ci && npm run build');
  assert.equal(target.repo_name, 'acme/api');
});

test('POST /api/targets validates with the target schema and upserts; DELETE removes; a bad ?host is refused', async (t) => {
  const api = await startTestApi(t, { pipeline: noopPipeline, targets: [] });
  const created = await postJson(`${api.url}/api/targets`, { app: 'web', host: 'vps1', port: 8080, env: { TOKEN: 't-secret-1' } });
  assert.equal(created.status, 201);
  assert.equal(created.body.remote_dir, '/opt/apps/web');
  assert.deepEqual(created.body.env, { TOKEN: '***' });
  const updated = await postJson(`${api.url}/api/targets`, { app: 'web', host: 'vps1', branch: 'release' });
  assert.deepEqual([updated.status, updated.body.branch, updated.body.port], [200, 'release', 8080]);
  assert.deepEqual(await postJson(`${api.url}/api/targets`, { app: 'web', host: 'vps1', port: 70000 }), { status: 400, body: { error: 'port must be between 0 and 65535' } });
  assert.deepEqual(await postJson(`${api.url}/api/targets`, { app: 'web', host: 'vps1', user: 'x\nExecStartPre=/bin/sh' }), {
    status: 400, body: { error: 'user may only contain letters, digits, ".", "_" and "-", and must start with a letter or digit' },
  });
  // Two creations of one new target at once: one creates, one updates, no 500.
  const both = await Promise.all([1, 2].map((n) => postJson(`${api.url}/api/targets`, { app: 'race', host: 'vps1', port: n })));
  assert.deepEqual(both.map((r) => r.status).sort(), [200, 201]);
  await postJson(`${api.url}/api/targets`, { app: 'web', host: 'vps2' });

  for (const query of ['?host=', '?host=vps1&host=vps2', '?host=-x']) {
    const response = await fetch(`${api.url}/api/targets/web${query}`, { method: 'DELETE' });
    assert.deepEqual([response.status, await response.json()], [400, { error: 'host must be one host name' }], query);
    const deploy = await postJson(`${api.url}/api/deploy/web${query}`, {});
    assert.equal(deploy.status, 400, query);
  }
  const removed = await fetch(`${api.url}/api/targets/web?host=vps1`, { method: 'DELETE' });
  assert.deepEqual(await removed.json(), { removed: 1 });
  assert.deepEqual((await getJson(`${api.url}/api/targets/web`)).body.map((t: { host: string }) => t.host), ['vps2']);
  assert.ok(!api.log().includes('t-secret-1'));
});

test('GET /api/status/:app five times at once: one read per host (a short cache, one in flight)', async (t) => {
  let reads = 0;
  const api = await startTestApi(t, {
    pipeline: noopPipeline,
    targets: [{ app: 'my_app', host: 'vps1' }, { app: 'my_app', host: 'vps2' }],
    readStatus: async (target) => {
      reads++;
      await new Promise((resolve) => setTimeout(resolve, 50));
      return { host: target.host, strategy: target.strategy, active: true, output: 'ok' };
    },
  });
  const answers = await Promise.all(Array.from({ length: 5 }, () => getJson(`${api.url}/api/status/my_app`)));
  assert.ok(answers.every((answer) => answer.status === 200 && answer.body.length === 2));
  assert.equal(reads, 2, 'one SSH read per host, not one per request');
});

test('an API body over 1 MB is refused with 413 before it reaches a route; a deploy request during shutdown gets 409', async (t) => {
  const api = await startTestApi(t, { pipeline: noopPipeline, targets: TARGETS, config: { apiToken: TOKEN }, insecureApi: false });
  const auth = { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' };
  const big = JSON.stringify({ host: 'vps1', padding: 'x'.repeat(1024 * 1024) });
  for (const route of ['/api/deploy/my_app', '/api/rollback/my_app']) {
    const response = await fetch(`${api.url}${route}`, { method: 'POST', headers: auth, body: big });
    assert.deepEqual([response.status, await response.json()], [413, { error: 'request body too large' }], route);
  }
  const justUnder = JSON.stringify({ host: 'x'.repeat(1000 * 1000) });
  assert.equal((await fetch(`${api.url}/api/deploy/my_app`, { method: 'POST', headers: auth, body: justUnder })).status, 404, 'a body under 1 MB is read (and its host not found)');
  assert.equal((await api.runs()).length, 0);

  await api.executor.shutdown(0);
  for (const route of ['/api/deploy/my_app', '/api/rollback/my_app']) {
    const response = await fetch(`${api.url}${route}`, { method: 'POST', headers: auth, body: '{}' });
    assert.deepEqual([response.status, await response.json()], [409, { error: 'deploy_server is shutting down: no new deploys are accepted' }], route);
  }
  assert.equal((await api.runs()).length, 0, 'nothing queued');
});

test('--insecure-api opens the API only where no token is set: a read token alone keeps the writes closed', async (t) => {
  const api = await startTestApi(t, { pipeline: noopPipeline, targets: TARGETS, insecureApi: true, config: { apiReadToken: 'read-only-token' } });
  assert.equal((await postJson(`${api.url}/api/deploy/my_app`, {})).status, 401);
  assert.equal((await fetch(`${api.url}/api/targets`)).status, 401);
  assert.equal((await fetch(`${api.url}/api/targets`, { headers: { authorization: 'Bearer read-only-token' } })).status, 200);
  assert.equal((await api.runs()).length, 0, 'nothing was queued');
});
