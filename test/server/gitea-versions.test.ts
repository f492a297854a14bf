// Every real push payload of test/fixtures/gitea-versions (Gogs, Gitea 1.1–1.22, Forgejo; provenance and
// what each lacks in its SOURCES.md), signed here with a test secret, through the real webhook route.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { definePipeline } from '../../src/engine/pipeline.ts';
import { postWebhook, sign, startTestApi } from '../helpers/api.ts';
import { makeTempDir } from '../helpers/cli.ts';

const SECRET = 'versions-secret';
const DIR = new URL('../fixtures/gitea-versions/', import.meta.url).pathname;
const read = (name: string) => fs.readFileSync(path.join(DIR, name));
const noopPipeline = definePipeline({ work: { run: async () => undefined } });

/** Each fixture with the headers its sender uses (Gogs: X-Gogs-*, Forgejo: X-Forgejo-*), and the event. */
const SENDERS: Record<string, { sender: 'gitea' | 'gogs' | 'forgejo'; event: string }> = {
  'argo-cd-gogs-push.json': { sender: 'gogs', event: 'push' },
  'buildbot-gitea-push-modified-files.json': { sender: 'gitea', event: 'push' },
  'buildbot-gitea-push-no-files.json': { sender: 'gitea', event: 'push' },
  'buildbot-gitea-push-null-files.json': { sender: 'gitea', event: 'push' },
  'drone-gogs-0.9.97-push.json': { sender: 'gogs', event: 'push' },
  'drone-gogs-push-old.json': { sender: 'gogs', event: 'push' },
  'fedora-w2fm-forgejo-push.json': { sender: 'forgejo', event: 'push' },
  'gitea-docs-push-example.json': { sender: 'gitea', event: 'push' },
  'go-scm-gitea-create-tag.json': { sender: 'gitea', event: 'create' },
  'go-scm-gitea-delete-branch.json': { sender: 'gitea', event: 'delete' },
  'go-scm-gogs-push.json': { sender: 'gogs', event: 'push' },
  'keyporttech-gitea-push.json': { sender: 'gitea', event: 'push' },
  'woodpecker-gitea-push-multi.json': { sender: 'gitea', event: 'push' },
  'woodpecker-gitea-push-new-branch.json': { sender: 'gitea', event: 'push' },
  'woodpecker-gitea-push.json': { sender: 'gitea', event: 'push' },
};

function headers(body: Buffer | string, sender: string, event: string): Record<string, string> {
  return { [`x-${sender}-event`]: event, [`x-${sender}-signature`]: sign(body, SECRET) };
}

test('the fixture folder holds exactly the payloads listed here, with their SOURCES.md', () => {
  const files = fs.readdirSync(DIR).sort();
  assert.deepEqual(files, [...Object.keys(SENDERS), 'SOURCES.md'].sort());
});

test('every Gitea/Gogs/Forgejo version\'s push, signed, is accepted: a run for the target named like the repository', async (t) => {
  // One target per fixture (several push to hello-world, on different branches) (the app named like the repository: no path is under apps/).
  const pushes = Object.entries(SENDERS).filter(([, s]) => s.event === 'push').map(([name]) => [name, JSON.parse(read(name).toString('utf8'))] as const);
  const targets = pushes.map(([, json], i) => ({ app: json.repository.name as string, host: `vps${i}`, branch: (json.ref as string).replace('refs/heads/', '') }));
  // A registry root that is no repository: the git path fails and the listed files (if any) are used.
  const api = await startTestApi(t, { pipeline: noopPipeline, targets, config: { webhookSecret: SECRET, registryRoot: makeTempDir(t) } });
  for (const [name, { sender, event }] of Object.entries(SENDERS)) {
    const body = read(name);
    const response = await postWebhook(api.url, body, headers(body, sender, event));
    const json = JSON.parse(body.toString('utf8'));
    if (event !== 'push') {
      assert.equal(response.status, 200, name);
      assert.match(response.body.reason, new RegExp(`"${event}" events do not deploy`), name);
    } else if (json.before === json.after) {
      assert.equal(response.status, 200, name);
      assert.match(response.body.reason, /test delivery/, name);
    } else {
      assert.equal(response.status, 202, `${name}: ${JSON.stringify(response.body)}`);
    }
  }
  // Each push deploys every target of its repository's name on its branch (hello-world has three pushes).
  const expected = pushes
    .filter(([, json]) => json.before !== json.after)
    .flatMap(([, json]) => targets.filter((target) => target.app === json.repository.name && `refs/heads/${target.branch}` === json.ref).map((target) => `${target.app}@${target.host}@${json.after}`));
  assert.equal(expected.length, 14);
  await api.pushes.settled();
  const runs = await api.runs();
  assert.deepEqual(runs.map((run) => `${run.app}@${run.host}@${run.commit}`).sort(), expected.sort());
});

test('a push without file lists or without total_commits takes its files from git, not from the partial lists', async (t) => {
  const root = makeTempDir(t);
  const origin = path.join(root, 'origin.git');
  const registry = path.join(root, 'registry');
  const work = path.join(root, 'work');
  const git = (cwd: string, ...args: string[]) =>
    execFileSync('git', ['-c', 'user.name=t', '-c', 'user.email=t@example.com', ...args], { cwd, encoding: 'utf8' }).trim();
  execFileSync('git', ['init', '-q', '--bare', '-b', 'main', origin]);
  execFileSync('git', ['clone', '-q', origin, work], { stdio: 'ignore' });
  const commit = (file: string) => {
    fs.mkdirSync(path.dirname(path.join(work, file)), { recursive: true });
    fs.writeFileSync(path.join(work, file), `${file}\n`);
    git(work, 'add', '-A');
    git(work, 'commit', '-q', '-m', file);
    return git(work, 'rev-parse', 'HEAD');
  };
  const base = commit('README.md');
  const first = commit('apps/my_app/main.go');
  const second = commit('docs/notes.md');
  git(work, 'push', '-q', 'origin', 'HEAD:main');
  execFileSync('git', ['clone', '-q', origin, registry], { stdio: 'ignore' });

  const api = await startTestApi(t, {
    pipeline: noopPipeline,
    targets: [{ app: 'my_app', host: 'vps1' }, { app: 'webhooks', host: 'vps1' }, { app: 'hello-world', host: 'vps1' }],
    config: { webhookSecret: SECRET, registryRoot: registry },
  });
  // Gitea 1.1 (docs example): no total_commits, no file lists. Its repository is "webhooks": were the
  // unknown lists read as empty, the push would fall back to that name.
  const docs = JSON.parse(read('gitea-docs-push-example.json').toString('utf8'));
  const noLists = JSON.stringify({ ...docs, ref: 'refs/heads/main', before: base, after: second });
  assert.equal((await postWebhook(api.url, noLists, headers(noLists, 'gitea', 'push'))).status, 202);
  // Woodpecker's Gitea sample: file lists, but no total_commits; the list names only the newest commit's
  // file. Were the missing count read as 0, the list would count as complete and match "hello-world".
  const wp = JSON.parse(read('woodpecker-gitea-push.json').toString('utf8'));
  const partial = JSON.stringify({
    ...wp, ref: 'refs/heads/main', before: base, after: first,
    commits: [{ ...wp.commits[0], id: first, added: [], removed: [], modified: ['README.md'] }],
  });
  assert.equal((await postWebhook(api.url, partial, headers(partial, 'gitea', 'push'))).status, 202);
  await api.pushes.settled();
  const runs = await api.runs();
  assert.deepEqual(runs.map((run) => [run.app, run.commit]), [['my_app', second], ['my_app', first]]);
});

test('with one secret for an organisation, a push from another repository named like the app deploys only targets that do not name theirs', async (t) => {
  const api = await startTestApi(t, {
    pipeline: noopPipeline,
    targets: [{ app: 'hello-world', host: 'vps1', branch: 'master', repo_name: 'acme/hello-world' }, { app: 'hello-world', host: 'vps2', branch: 'master' }],
    config: { webhookSecret: SECRET, registryRoot: makeTempDir(t) },
  });
  // Old Gogs: no full_name, the owner is "gordon" (username) → gordon/hello-world.
  const body = read('drone-gogs-push-old.json');
  const response = await postWebhook(api.url, body, headers(body, 'gogs', 'push'));
  assert.ok([200, 202].includes(response.status), JSON.stringify(response.body));
  await api.pushes.settled();
  assert.deepEqual((await api.runs()).map((run) => run.host), ['vps2']);
  // The same push from acme/hello-world deploys both.
  const json = JSON.parse(body.toString('utf8'));
  const ours = JSON.stringify({ ...json, after: 'a'.repeat(40), repository: { ...json.repository, owner: { username: 'acme' } } });
  await postWebhook(api.url, ours, headers(ours, 'gogs', 'push'));
  await api.pushes.settled();
  assert.deepEqual((await api.runs()).slice(1).map((run) => run.host).sort(), ['vps1', 'vps2']);
});
