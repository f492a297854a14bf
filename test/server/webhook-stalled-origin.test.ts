// Gitea gives a delivery 5 s: the webhook answers within a second whatever the registry's origin does,
// and resolves a push whose files must come from git after the answer.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { definePipeline } from '../../src/engine/pipeline.ts';
import { WebhookDelivery } from '../../src/db/entities/WebhookDelivery.ts';
import { postWebhook, sign, startTestApi } from '../helpers/api.ts';
import { makeTempDir } from '../helpers/cli.ts';
import { startSilentListener } from '../helpers/silent-listener.ts';

const SECRET = 'stalled-secret';
const noopPipeline = definePipeline({ work: { run: async () => undefined } });

/** A registry root that has the pushed commits already, whose origin is `originUrl`. */
function makeRegistry(t: Parameters<typeof makeTempDir>[0], originUrl: string) {
  const registry = makeTempDir(t);
  const git = (...args: string[]) => execFileSync('git', ['-c', 'user.name=t', '-c', 'user.email=t@example.com', ...args], { cwd: registry, encoding: 'utf8' }).trim();
  git('init', '-q', '-b', 'main');
  const commit = (file: string) => {
    fs.mkdirSync(path.dirname(path.join(registry, file)), { recursive: true });
    fs.writeFileSync(path.join(registry, file), `${file}\n`);
    git('add', '-A');
    git('commit', '-q', '-m', file);
    return git('rev-parse', 'HEAD');
  };
  const before = commit('README.md');
  commit('apps/my_app/main.go');
  const after = commit('docs/a.md');
  git('remote', 'add', 'origin', originUrl);
  return { registry, before, after };
}

test('with an origin that accepts and never answers, the webhook answers 202 within a second and queues the runs after', async (t) => {
  const origin = await startSilentListener(t);
  const { registry, before, after } = makeRegistry(t, `git://127.0.0.1:${origin.port}/registry.git`);
  const api = await startTestApi(t, {
    pipeline: noopPipeline,
    targets: [{ app: 'my_app', host: 'vps1' }, { app: 'registry', host: 'vps1' }],
    config: { webhookSecret: SECRET, registryRoot: registry, gitFetchTimeoutMs: 1500 },
  });
  // Two commits, one listed (Gitea cuts the list): the files must come from git.
  const payload = JSON.stringify({
    ref: 'refs/heads/main', before, after, total_commits: 2,
    commits: [{ id: after, added: ['docs/a.md'], removed: [], modified: [] }],
    repository: { name: 'registry', full_name: 'acme/registry' },
  });
  const started = performance.now();
  const response = await postWebhook(api.url, payload, { 'x-gitea-event': 'push', 'x-gitea-delivery': 'd-1', 'x-gitea-signature': sign(payload, SECRET) });
  const answeredMs = performance.now() - started;
  assert.equal(response.status, 202, JSON.stringify(response.body));
  assert.ok(answeredMs < 1000, `answered after ${Math.round(answeredMs)} ms`);
  assert.equal(response.body.resolving, true);
  assert.deepEqual(response.body.queued, []);

  const delivery = await api.orm.em.fork().findOneOrFail(WebhookDelivery, { id: response.body.delivery });
  assert.equal(delivery.status, 'resolving', 'recorded before the answer');
  assert.equal(delivery.delivery_id, 'd-1');

  await api.pushes.settled();
  assert.ok(origin.connections() >= 1, 'git fetch did try the origin');
  // The fetch timed out; the diff of the commits already here found apps/my_app (not the repository name).
  assert.deepEqual((await api.runs()).map((run) => [run.app, run.commit]), [['my_app', after]]);
  const resolved = await api.orm.em.fork().findOneOrFail(WebhookDelivery, { id: response.body.delivery });
  assert.equal(resolved.status, 'queued');
  assert.deepEqual(resolved.run_ids?.map((run) => run.app), ['my_app']);
  assert.equal(resolved.payload, null);
  assert.match(api.log(), /"delivery":1,"queued":1,"msg":"push resolved"/);

  // The same delivery again while (or after) it resolves: a replay, nothing queued again.
  const replay = await postWebhook(api.url, payload, { 'x-gitea-event': 'push', 'x-gitea-delivery': 'd-1', 'x-gitea-signature': sign(payload, SECRET) });
  assert.equal(replay.status, 200);
  assert.match(replay.body.reason, /already received/);
  assert.equal((await api.runs()).length, 1);
});
