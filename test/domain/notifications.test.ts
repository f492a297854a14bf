import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { definePipeline } from '../../src/engine/pipeline.ts';
import { loadNotificationSettings, NotificationConfigError, type Sink } from '../../src/domain/notification-config.ts';
import { createNotifier } from '../../src/domain/notifications.ts';
import { commitState } from '../../src/domain/commit-status.ts';
import { getJson, startTestApi } from '../helpers/api.ts';
import { makeTempDir } from '../helpers/cli.ts';
import { until } from '../helpers/engine.ts';

interface Received {
  method: string;
  url: string;
  headers: http.IncomingHttpHeaders;
  body: string;
}

/** A local HTTP server that records every request and answers with `statuses` in turn (the last one after that). */
async function recordingServer(t: Parameters<typeof makeTempDir>[0], statuses: number[] = [200], hang = false) {
  const received: Received[] = [];
  const server = http.createServer((req, res) => {
    let body = '';
    req.on('data', (chunk) => (body += chunk));
    req.on('end', () => {
      received.push({ method: req.method!, url: req.url!, headers: req.headers, body });
      if (hang) return; // never answers: the sender's timeout must end it
      res.statusCode = statuses[Math.min(received.length - 1, statuses.length - 1)];
      res.end('{}');
    });
  });
  server.listen(0, '127.0.0.1');
  await new Promise((resolve) => server.once('listening', resolve));
  t.after(() => {
    server.closeAllConnections();
    return new Promise((resolve) => server.close(resolve));
  });
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, received };
}

const COMMIT = 'd41e7b9c2a6f8e0d3b5c7a9e1f2d4b6c8a0e2f47';
const WEBHOOK_SECRET = 'hook-secret-123';
const MATRIX_TOKEN = 'syt_matrix_token_456';
const GITEA_TOKEN = 'gitea-token-789';

test('a run end reaches a signed webhook (retried after a 500), Slack, Matrix and Gitea; every attempt is in /api/runs/:id', async (t) => {
  const hook = await recordingServer(t, [500, 200]);
  const slack = await recordingServer(t);
  const matrix = await recordingServer(t);
  const gitea = await recordingServer(t, [201]);
  const pipeline = definePipeline({ work: { run: async () => undefined } });
  const api = await startTestApi(t, { pipeline, targets: [{ app: 'web', host: 'vps1', env: { API_KEY: 'sk-live-env-value' } }], config: { apiToken: 'api-token-000' } });
  const sinks: Sink[] = [
    { type: 'webhook', url: `${hook.url}/deploys`, secret: WEBHOOK_SECRET, on: ['end'] },
    { type: 'slack', url: `${slack.url}/services/T000/B000/XXXX`, on: ['end'] },
    { type: 'matrix', homeserver: matrix.url, room: '!ops:example.org', token: MATRIX_TOKEN, on: ['end'] },
    { type: 'webhook', url: `${hook.url}/other-app-only`, secret: WEBHOOK_SECRET, apps: ['other'], on: ['end'] },
    { type: 'gitea', url: gitea.url, token: GITEA_TOKEN, on: ['start', 'end'] },
  ];
  const notifier = createNotifier({
    settings: { sinks, timeoutMs: 2000, retries: 2 }, orm: api.orm, store: api.store, publicUrl: 'https://deploy.example.com/', jaegerUrl: 'http://jaeger:16686',
    secrets: ['api-token-000'], backoffMs: () => 10,
  });
  notifier.observe((listener) => api.executor.subscribe(listener));

  const queued = await api.executor.requestDeploy({ app: 'web', host: 'vps1', trigger: 'webhook', ref: 'refs/heads/main', commit: COMMIT, repository: 'acme/registry' });
  const result = await queued.done;
  assert.equal(result.status, 'success');
  await notifier.drain(5000);

  // The generic webhook: 500, then the same signed body again.
  assert.equal(hook.received.length, 2, 'retried once after the 500; the other-app sink got nothing');
  for (const request of hook.received) {
    assert.equal(request.url, '/deploys');
    assert.equal(request.headers['x-deploy-signature'], `sha256=${createHmac('sha256', WEBHOOK_SECRET).update(request.body).digest('hex')}`);
  }
  const facts = JSON.parse(hook.received[0].body);
  assert.deepEqual({ ...facts, duration_ms: typeof facts.duration_ms }, {
    event: 'run.end', app: 'web', host: 'vps1', run_id: queued.runId, status: 'success', failed_step: null, error: null, commit: COMMIT,
    ref: 'refs/heads/main', duration_ms: 'number', trigger: 'webhook', strategy: 'systemd', trace_url: null,
    run_url: `https://deploy.example.com/api/runs/${queued.runId}`,
  });

  assert.equal(slack.received.length, 1);
  assert.match(JSON.parse(slack.received[0].body).text, new RegExp(`^✅ web@vps1: success in \\d+\\.\\ds — run #${queued.runId} \\(webhook, commit d41e7b9\\)\\nhttps://deploy\\.example\\.com/api/runs/${queued.runId}$`));

  assert.equal(matrix.received.length, 1);
  assert.equal(matrix.received[0].method, 'PUT');
  assert.equal(matrix.received[0].url, `/_matrix/client/v3/rooms/!ops%3Aexample.org/send/m.room.message/deploy-${queued.runId}-run.end`);
  assert.equal(matrix.received[0].headers.authorization, `Bearer ${MATRIX_TOKEN}`);
  assert.equal(JSON.parse(matrix.received[0].body).msgtype, 'm.text');

  // Gitea: pending when the run starts, success when it ends, in that order.
  assert.deepEqual(gitea.received.map((r) => [r.method, r.url, r.headers.authorization]), [
    ['POST', `/api/v1/repos/acme/registry/statuses/${COMMIT}`, `token ${GITEA_TOKEN}`],
    ['POST', `/api/v1/repos/acme/registry/statuses/${COMMIT}`, `token ${GITEA_TOKEN}`],
  ]);
  assert.deepEqual(gitea.received.map((r) => JSON.parse(r.body)), [
    { state: 'pending', context: 'deploy/web@vps1', description: `deploying (run #${queued.runId})`, target_url: `https://deploy.example.com/api/runs/${queued.runId}` },
    { state: 'success', context: 'deploy/web@vps1', description: `success (run #${queued.runId})`, target_url: `https://deploy.example.com/api/runs/${queued.runId}` },
  ]);

  const everything = [...hook.received, ...slack.received, ...matrix.received, ...gitea.received].map((r) => r.body).join('\n');
  for (const secret of [WEBHOOK_SECRET, MATRIX_TOKEN, GITEA_TOKEN, 'sk-live-env-value', 'api-token-000', 'XXXX']) assert.ok(!everything.includes(secret), `no ${secret} in any message`);

  const run = await getJson(`${api.url}/api/runs/${queued.runId}`, { authorization: 'Bearer api-token-000' }); // reads need the token
  const attempts = run.body.notifications.map((n: any) => `${n.sink} ${n.event} #${n.attempt} ${n.status} ${n.http_status} ${n.error}`).sort();
  const port = (url: string) => new URL(url).host;
  assert.deepEqual(attempts, [
    `gitea ${port(gitea.url)} end #1 success 201 null`,
    `gitea ${port(gitea.url)} start #1 success 201 null`,
    `matrix ${port(matrix.url)} end #1 success 200 null`,
    `slack ${port(slack.url)} end #1 success 200 null`,
    `webhook ${port(hook.url)} end #1 failure 500 HTTP 500`,
    `webhook ${port(hook.url)} end #2 success 200 null`,
  ].sort());
  assert.ok(!JSON.stringify(run.body.notifications).includes('/services/'), 'a sink is recorded by its host, never its URL path');
});

test('a sink that never answers costs the deploy nothing: the run ends at once, each attempt times out and is recorded', async (t) => {
  const dead = await recordingServer(t, [200], true);
  const pipeline = definePipeline({ work: { run: async () => { throw new Error('boom'); } } });
  const api = await startTestApi(t, { pipeline, targets: [{ app: 'web', host: 'vps1' }] });
  const notifier = createNotifier({
    settings: { sinks: [{ type: 'slack', url: `${dead.url}/hook`, on: ['end'] }], timeoutMs: 1000, retries: 1 }, orm: api.orm, store: api.store, backoffMs: () => 10,
  });
  notifier.observe((listener) => api.executor.subscribe(listener));
  const t0 = performance.now();
  const result = await (await api.executor.requestDeploy({ app: 'web', host: 'vps1', trigger: 'manual' })).done;
  assert.equal(result.status, 'failure');
  assert.ok(performance.now() - t0 < 900, 'the run did not wait for its notification');
  await until(async () => (await getJson(`${api.url}/api/runs/${result.id}`)).body.notifications.length === 2);
  const { notifications } = (await getJson(`${api.url}/api/runs/${result.id}`)).body;
  assert.deepEqual(notifications.map((n: any) => [n.attempt, n.status, n.error]), [[1, 'failure', 'timed out after 1s'], [2, 'failure', 'timed out after 1s']]);
  assert.match(JSON.parse(dead.received[0].body).text, /^❌ web@vps1: failure at work in \d+\.\ds: boom — run #\d+ \(manual\)$/);
});

test('commit states: pending at start; success, failure, warning (skipped), error (cancelled) at the end', () => {
  assert.equal(commitState({ event: 'run.start', status: 'running' }), 'pending');
  assert.deepEqual(['success', 'failure', 'skipped', 'cancelled', 'interrupted'].map((status) => commitState({ event: 'run.end', status })), ['success', 'failure', 'warning', 'error', 'error']);
});

test('the notifications file: sinks validated at start, a bad file is one line naming the problem', async (t) => {
  const dir = makeTempDir(t);
  const file = path.join(dir, 'notify.json');
  writeFileSync(file, JSON.stringify({ sinks: [{ type: 'slack', url: 'https://hooks.slack.com/services/x' }, { type: 'matrix', homeserver: 'https://matrix.example.org', room: '!a:example.org', token: 't', on: ['start', 'end'] }], retries: 1 }));
  const settings = await loadNotificationSettings({ notifyFile: file, giteaUrl: 'https://git.example.org/', giteaToken: 'g' });
  assert.deepEqual(settings.sinks.map((s) => [s.type, s.on]), [['slack', ['end']], ['matrix', ['start', 'end']], ['gitea', ['start', 'end']]]);
  assert.equal(settings.retries, 1);
  assert.equal(settings.timeoutMs, 10_000);
  assert.deepEqual((await loadNotificationSettings({ giteaUrl: 'https://git.example.org' })).sinks, [], 'Gitea needs its token too');
  for (const [content, message] of [
    ['{', /^DEPLOY_NOTIFY_FILE .*notify\.json: .*JSON/],
    [JSON.stringify({ sinks: [{ type: 'email', url: 'https://x' }] }), /sinks\.0\.type: each sink needs a type: "webhook", "slack" or "matrix"$/],
    [JSON.stringify({ sinks: [{ type: 'webhook', url: 'https://x.example', secret: 'short' }] }), /sinks\.0\.secret: secret must be at least 8 characters$/],
    [JSON.stringify({ sinks: [{ type: 'slack', url: 'ftp://x.example' }] }), /sinks\.0\.url: url must be an http\(s\) URL$/],
    [JSON.stringify({ sinks: [], colour: 1 }), /colour: unknown field$/],
  ] as const) {
    writeFileSync(file, content);
    await assert.rejects(loadNotificationSettings({ notifyFile: file }), (error: unknown) => error instanceof NotificationConfigError && message.test(error.message) && !error.message.includes('\n'), content);
  }
});
