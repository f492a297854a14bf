import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { changedFilesFromGit } from '../../src/domain/changed-files.ts';
import { appsTouched, matchPushToTargets } from '../../src/domain/push-matching.ts';
import { decidePush, InvalidPushError, listedFiles, parsePushPayload, type PushPayload } from '../../src/domain/push-payload.ts';

import { FIXTURES, fixture, SIGNATURES } from '../helpers/gitea-fixtures.ts';

function payload(name: string): PushPayload {
  return parsePushPayload(fixture(name));
}

/** A body that is not a push we can read: the webhook answers it with 400 (test/server). */
function isInvalidPush(message: RegExp) {
  return (error: unknown) => {
    assert.ok(error instanceof InvalidPushError, `expected an InvalidPushError, got ${String(error)}`);
    assert.equal(error.name, 'InvalidPushError');
    assert.match(error.message, message);
    return true;
  };
}

test('the fixtures live inside the repository', () => {
  const dir = fileURLToPath(FIXTURES);
  const repoRoot = dirname(dirname(dirname(fileURLToPath(import.meta.url))));
  assert.equal(dir, join(repoRoot, 'test', 'fixtures', 'gitea') + '/');
  assert.deepEqual(Object.keys(SIGNATURES).map((name) => fixture(name).length > 0), [true, true, true, true, true]);
});

test('parsePushPayload keeps the fields we use and drops the rest', () => {
  assert.deepEqual(payload('push-monorepo.json'), {
    ref: 'refs/heads/main',
    before: '3f1c9a7e2b8d4c6f0a1e5b9d7c3a2f8e6b4d0c1a',
    after: 'd41e7b9c2a6f8e0d3b5c7a9e1f2d4b6c8a0e2f47',
    total_commits: 2,
    commits: [
      { id: 'd41e7b9c2a6f8e0d3b5c7a9e1f2d4b6c8a0e2f47', added: ['apps/other/x.go'], removed: [], modified: ['README.md'] },
      { id: '8a2e4f6b1c3d5e7f9a0b2c4d6e8f0a1b3c5d7e9f', added: [], removed: [], modified: ['apps/my_app/main.go'] },
    ],
    repository: { name: 'registry', full_name: 'acme/registry' },
  });
  assert.deepEqual(payload('push-tag.json').commits, []);
});

test('parsePushPayload turns the test delivery\'s null file lists into empty lists', () => {
  const delivery = payload('push-test-delivery.json');
  assert.deepEqual(delivery.commits, [{ id: '0'.repeat(40), added: [], removed: [], modified: [] }]);
  assert.deepEqual(listedFiles(delivery), []);
});

test('parsePushPayload refuses what is not JSON with 400 "invalid JSON"', () => {
  for (const raw of ['', '{', '{"ref": "refs/heads/main",}', 'not json']) {
    assert.throws(() => parsePushPayload(Buffer.from(raw)), isInvalidPush(/^invalid JSON: /), JSON.stringify(raw));
  }
});

test('parsePushPayload refuses JSON that is not a push, naming the field', () => {
  const good = JSON.parse(fixture('push-monorepo.json').toString('utf8'));
  const cases: [string, unknown, RegExp][] = [
    ['an array', [], /^not a push payload: expected a JSON object$/],
    ['a string', 'push', /^not a push payload: expected a JSON object$/],
    ['null', null, /^not a push payload: expected a JSON object$/],
    ['no ref', { ...good, ref: undefined }, /^not a push payload: ref is required$/],
    ['empty ref', { ...good, ref: '' }, /^not a push payload: ref must not be empty$/],
    ['numeric after', { ...good, after: 7 }, /^not a push payload: after must be a string$/],
    ['total_commits as a string', { ...good, total_commits: '2' }, /^not a push payload: total_commits must be a number$/],
    ['no repository', { ...good, repository: undefined }, /^not a push payload: repository is required$/],
    ['no repository name', { ...good, repository: { full_name: 'a/b' } }, /^not a push payload: repository\.name is required$/],
    ['an after that is no commit id', { ...good, after: 'main' }, /^not a push payload: after must be a full commit id \(40 or 64 hex digits\)$/],
    ['an after with a newline', { ...good, after: `${good.after}\n` }, /^not a push payload: after must be a full commit id/],
    ['a short before', { ...good, before: good.before.slice(0, 12) }, /^not a push payload: before must be a full commit id/],
    ['a ref longer than the database keeps', { ...good, ref: `refs/heads/${'x'.repeat(300)}` }, /^not a push payload: ref must be at most 255 characters$/],
    ['a repository full name too long', { ...good, repository: { ...good.repository, full_name: `a/${'x'.repeat(300)}` } }, /^not a push payload: repository\.full_name must be at most 255 characters$/],
    ['a file list of numbers', { ...good, commits: [{ id: 'x', added: [1], removed: [], modified: [] }] }, /^not a push payload: commits\[0\]\.added\[0\] must be a list of file names$/],
  ];
  for (const [what, value, message] of cases) {
    assert.throws(() => parsePushPayload(Buffer.from(JSON.stringify(value))), isInvalidPush(message), what);
  }
});

test('a delete event is not a push payload: parsePushPayload refuses it (the route checks the event first)', () => {
  assert.throws(() => payload('delete-branch.json'), isInvalidPush(/^not a push payload: before is required$/));
});

test('decidePush on the fixtures', () => {
  assert.deepEqual(decidePush(payload('push-monorepo.json')), { action: 'deploy', branch: 'main', truncated: false });
  assert.deepEqual(decidePush(payload('push-external.json')), { action: 'deploy', branch: 'master', truncated: false });

  const tag = decidePush(payload('push-tag.json'));
  assert.equal(tag.action, 'ignore');
  assert.match(tag.action === 'ignore' ? tag.reason : '', /^tag push refs\/tags\/v1\.4\.0: tags do not deploy$/);

  const delivery = decidePush(payload('push-test-delivery.json'));
  assert.equal(delivery.action, 'ignore');
  assert.match(delivery.action === 'ignore' ? delivery.reason : '', /^test delivery on refs\/heads\/main\b/);
});

function push(overrides: Partial<PushPayload>): PushPayload {
  return { ...payload('push-monorepo.json'), ...overrides };
}

function reasonOf(decision: ReturnType<typeof decidePush>): string {
  assert.equal(decision.action, 'ignore');
  return decision.action === 'ignore' ? decision.reason : '';
}

test('decidePush ignores deletions and refs that are not branches, saying which ref', () => {
  const deleted = reasonOf(decidePush(push({ ref: 'refs/heads/feature/old-ui', after: '0'.repeat(40) })));
  assert.match(deleted, /branch deleted/);
  assert.match(deleted, /refs\/heads\/feature\/old-ui/);
  assert.match(reasonOf(decidePush(push({ ref: 'refs/tags/v2', after: '0'.repeat(40) }))), /^tag push refs\/tags\/v2:/);
  assert.match(reasonOf(decidePush(push({ ref: 'refs/pull/3/head' }))), /refs\/pull\/3\/head/);
  assert.match(reasonOf(decidePush(push({ ref: 'refs/heads/' }))), /refs\/heads\//);
  for (const name of ['push-tag.json', 'push-test-delivery.json']) {
    assert.doesNotMatch(reasonOf(decidePush(payload(name))), /\n/, `${name}: one line`);
  }
});

test('decidePush marks the file lists incomplete for a cut list or a new branch', () => {
  assert.deepEqual(decidePush(push({ ref: 'refs/heads/release/1.x' })), { action: 'deploy', branch: 'release/1.x', truncated: false });
  assert.deepEqual(decidePush(push({ total_commits: 7 })), { action: 'deploy', branch: 'main', truncated: true });
  assert.deepEqual(decidePush(push({ before: '0'.repeat(40) })), { action: 'deploy', branch: 'main', truncated: true });
  assert.deepEqual(decidePush(push({ before: '0'.repeat(64), after: 'a'.repeat(64) })), { action: 'deploy', branch: 'main', truncated: true });
});

test('listedFiles is the union of the listed commits\' files in first-seen order', () => {
  assert.deepEqual(listedFiles(payload('push-monorepo.json')), ['apps/other/x.go', 'README.md', 'apps/my_app/main.go']);
  assert.deepEqual(listedFiles(payload('push-external.json')), ['cmd/launcher/main.go']);
  assert.deepEqual(
    listedFiles(push({
      commits: [
        { id: '1', added: ['b', 'a'], removed: ['c'], modified: ['b'] },
        { id: '2', added: [], removed: ['a'], modified: ['d', 'c'] },
      ],
    })),
    ['b', 'a', 'c', 'd'],
  );
});

test('appsTouched takes the name under apps/ of paths inside an app folder', () => {
  assert.deepEqual(
    appsTouched(['apps/zeta/main.go', 'apps/alpha/a/b.go', 'apps/zeta/go.mod', 'README.md', 'apps/loose-file', 'apps/', 'xapps/no/x', 'lib/apps/no/x', 'apps//x']),
    ['alpha', 'zeta'],
  );
  assert.deepEqual(appsTouched([]), []);
});

const TARGETS = [
  { app: 'other', host: 'vps2', branch: 'main' },
  { app: 'my_app', host: 'vps1', branch: 'main' },
  { app: 'my_app', host: 'staging', branch: 'dev' },
  { app: 'agents_and_robots', host: 'vps1', branch: 'master' },
  { app: 'registry', host: 'vps3', branch: 'dev' },
];

function matchFixture(name: string, targets = TARGETS) {
  const parsed = payload(name);
  const decision = decidePush(parsed);
  assert.equal(decision.action, 'deploy');
  const branch = decision.action === 'deploy' ? decision.branch : '';
  return matchPushToTargets(targets, { files: listedFiles(parsed), repositoryName: parsed.repository.name, branch });
}

test('the monorepo push deploys my_app and other on main, not the target on another branch', () => {
  assert.deepEqual(matchFixture('push-monorepo.json'), {
    targets: [{ app: 'other', host: 'vps2' }, { app: 'my_app', host: 'vps1' }],
  });
});

test('the external push falls back to the repository name on master', () => {
  assert.deepEqual(matchFixture('push-external.json'), { targets: [{ app: 'agents_and_robots', host: 'vps1' }] });
  const onlyOtherBranch = [{ app: 'agents_and_robots', host: 'vps1', branch: 'main' }];
  assert.deepEqual(matchFixture('push-external.json', onlyOtherBranch), {
    targets: [],
    reason: 'no changed path under apps/ and app "agents_and_robots" has no target deploying from branch "master"',
  });
  assert.deepEqual(matchFixture('push-external.json', []), {
    targets: [],
    reason: 'no changed path under apps/ and no target for app "agents_and_robots"',
  });
});

test('paths under apps/ that match no target do not fall back to the repository name', () => {
  const result = matchPushToTargets(TARGETS, { files: ['apps/unknown/main.go'], repositoryName: 'registry', branch: 'dev' });
  assert.deepEqual(result, { targets: [], reason: 'app unknown has no target (changed under apps/)' });
});

test('apps with targets only on other branches say which branch was pushed', () => {
  const result = matchPushToTargets(TARGETS, { files: ['apps/my_app/a.go', 'apps/other/b.go'], repositoryName: 'registry', branch: 'feature' });
  assert.deepEqual(result, { targets: [], reason: 'apps my_app, other have no target deploying from branch "feature"' });
  const dev = matchPushToTargets(TARGETS, { files: ['apps/my_app/a.go', 'apps/other/b.go'], repositoryName: 'registry', branch: 'dev' });
  assert.deepEqual(dev, { targets: [{ app: 'my_app', host: 'staging' }] });
});

// ---- changedFilesFromGit against real repositories ----

/** git with a fixed identity and no user or system config, so the host's settings can't interfere. */
function git(cwd: string, ...args: string[]): string {
  return execFileSync('git', args, {
    cwd,
    encoding: 'utf8',
    env: {
      ...process.env,
      GIT_CONFIG_NOSYSTEM: '1',
      GIT_CONFIG_GLOBAL: '/dev/null',
      GIT_AUTHOR_NAME: 'Test',
      GIT_AUTHOR_EMAIL: 'test@example.com',
      GIT_COMMITTER_NAME: 'Test',
      GIT_COMMITTER_EMAIL: 'test@example.com',
    },
  }).trim();
}

function write(root: string, path: string, content: string): void {
  mkdirSync(dirname(join(root, path)), { recursive: true });
  writeFileSync(join(root, path), content);
}

function commit(root: string, message: string): string {
  git(root, 'add', '--all');
  git(root, 'commit', '--quiet', '-m', message);
  return git(root, 'rev-parse', 'HEAD');
}

/**
 * A work repository (no remotes) with three commits, a bare origin that has all of them, and a
 * registry cloned from origin after the first commit only, so its diffs need the fetch.
 */
function makeRepositories() {
  const root = mkdtempSync(join(tmpdir(), 'webhook-git-'));
  const work = join(root, 'work');
  const origin = join(root, 'origin.git');
  const registry = join(root, 'registry');
  mkdirSync(work);
  git(work, 'init', '--quiet', '-b', 'main');
  write(work, 'README.md', 'registry\n');
  write(work, 'apps/a/main.go', 'package main\n');
  const first = commit(work, 'first');
  git(root, 'init', '--quiet', '--bare', origin);
  git(work, 'push', '--quiet', origin, 'main');
  git(root, 'clone', '--quiet', origin, registry);
  write(work, 'apps/b/x.go', 'package b\n');
  write(work, 'README.md', 'registry of apps\n');
  const second = commit(work, 'second');
  write(work, 'apps/a/main.go', 'package main // v2\n');
  write(work, 'apps/b/name with spaces é.txt', 'x\n');
  mkdirSync(join(work, 'apps/c'));
  git(work, 'mv', 'apps/b/x.go', 'apps/c/x.go');
  const third = commit(work, 'third');
  git(work, 'push', '--quiet', origin, 'main');
  return { root, work, registry, first, second, third };
}

test('changedFilesFromGit', async (t) => {
  const repos = makeRepositories();
  t.after(() => rmSync(repos.root, { recursive: true, force: true }));

  await t.test('diffs two commits (both sides of a move), fetching the ones the registry does not have yet', async () => {
    assert.throws(() => git(repos.registry, 'cat-file', '-e', repos.second), 'the registry starts without the second commit');
    assert.deepEqual(await changedFilesFromGit(repos.registry, repos.first, repos.second), ['README.md', 'apps/b/x.go']);
    assert.deepEqual(await changedFilesFromGit(repos.registry, repos.second, repos.third), ['apps/a/main.go', 'apps/b/name with spaces é.txt', 'apps/b/x.go', 'apps/c/x.go']);
  });

  await t.test('works in a registry without an origin remote', async () => {
    assert.equal(git(repos.work, 'remote'), '');
    assert.deepEqual(await changedFilesFromGit(repos.work, repos.first, repos.second), ['README.md', 'apps/b/x.go']);
    assert.deepEqual(appsTouched(await changedFilesFromGit(repos.work, repos.first, repos.third)), ['a', 'b', 'c']);
  });

  await t.test('a new branch (before all zeros) lists every file of after', async () => {
    assert.deepEqual(await changedFilesFromGit(repos.work, '0'.repeat(40), repos.second), ['README.md', 'apps/a/main.go', 'apps/b/x.go']);
    assert.deepEqual(await changedFilesFromGit(repos.work, '0'.repeat(40), repos.first), ['README.md', 'apps/a/main.go']);
  });

  await t.test('refuses anything but a commit id with InvalidPushError, before running git', async () => {
    const bad = ['', 'HEAD', 'main', repos.first.slice(0, 39), `${repos.first}0`, '--output=/tmp/pwned', `${'g'.repeat(40)}`, `${repos.first}\n`, 'a'.repeat(63)];
    for (const value of bad) {
      await assert.rejects(changedFilesFromGit('/nonexistent', value, repos.second), isInvalidPush(/^before is not a commit id/), JSON.stringify(value));
      await assert.rejects(changedFilesFromGit('/nonexistent', repos.first, value), isInvalidPush(/^after is not a commit id/), JSON.stringify(value));
    }
    await assert.rejects(changedFilesFromGit(repos.work, repos.first, '0'.repeat(40)), isInvalidPush(/zero commit/));
  });

  await t.test('an unknown commit is a clear error carrying git\'s message', async () => {
    const unknown = 'f'.repeat(40);
    await assert.rejects(changedFilesFromGit(repos.registry, unknown, repos.second), (error: unknown) => {
      assert.ok(error instanceof Error && !(error instanceof InvalidPushError));
      assert.match(error.message, new RegExp(`^git diff-tree -r --no-renames --name-only -z ${unknown} ${repos.second} -- failed in ${repos.registry}: fatal: bad object ${unknown}$`));
      return true;
    });
    await assert.rejects(changedFilesFromGit(repos.work, '0'.repeat(40), unknown), /git ls-tree .* failed in .*: fatal: /);
    // A SHA-256-sized id passes the check and reaches git, which doesn't know it.
    await assert.rejects(changedFilesFromGit(repos.work, repos.first, 'a'.repeat(64)), /git diff-tree .* failed in .*: fatal: /);
  });

  await t.test('a registry root that is not a repository, or does not exist, is a clear error', async () => {
    await assert.rejects(changedFilesFromGit(repos.root, repos.first, repos.second), /git diff-tree .* failed in .*: fatal: not a git repository/);
    await assert.rejects(changedFilesFromGit(join(repos.root, 'missing'), repos.first, repos.second), /cannot run git in .*missing/);
  });

  await t.test('honours an abort signal and the timeout', async () => {
    const aborted = AbortSignal.abort(new Error('shutting down'));
    await assert.rejects(changedFilesFromGit(repos.registry, repos.first, repos.second, { signal: aborted }), /^Error: shutting down$/);
    // The fetch alone (a process spawn) outlasts a 1 ms budget, so the diff never starts.
    await assert.rejects(changedFilesFromGit(repos.registry, repos.first, repos.second, { timeoutMs: 1 }), /timed out/);
  });
});

// ---- payloads of other Gitea, Gogs and Forgejo versions (test/fixtures/gitea-versions/SOURCES.md) ----

const VERSIONS = new URL('../fixtures/gitea-versions/', import.meta.url);
const versionPayload = (name: string) => parsePushPayload(readFileSync(new URL(name, VERSIONS)));

test('what a sender leaves out is unknown (null), never a guess: no total_commits, no file lists', () => {
  const docs = versionPayload('gitea-docs-push-example.json');
  assert.equal(docs.total_commits, null);
  assert.deepEqual(docs.commits.map((c) => [c.added, c.removed, c.modified]), [[null, null, null]]);
  // Gitea's null (a Go nil slice) is an empty list, not an unknown one.
  assert.deepEqual(versionPayload('buildbot-gitea-push-null-files.json').commits[0].added, []);
  assert.equal(versionPayload('woodpecker-gitea-push-multi.json').total_commits, 3);
});

test('repository.full_name, else owner/name from the owner\'s login or Gogs\' username', () => {
  assert.deepEqual(versionPayload('drone-gogs-push-old.json').repository, { name: 'hello-world', full_name: 'gordon/hello-world' });
  assert.deepEqual(versionPayload('argo-cd-gogs-push.json').repository, { name: 'repo-test', full_name: 'john/repo-test' });
  const bare = { ...JSON.parse(fixture('push-external.json').toString('utf8')), repository: { name: 'lonely' } };
  assert.deepEqual(parsePushPayload(Buffer.from(JSON.stringify(bare))).repository, { name: 'lonely', full_name: 'lonely' });
});

test('decidePush: an unknown count or an unknown file list sends the push through git; a full, counted list does not', () => {
  const truncated = (name: string) => {
    const decision = decidePush(versionPayload(name));
    assert.equal(decision.action, 'deploy', name);
    return decision.action === 'deploy' && decision.truncated;
  };
  assert.equal(truncated('woodpecker-gitea-push-multi.json'), false, 'total_commits 3, three commits with their files');
  assert.equal(truncated('fedora-w2fm-forgejo-push.json'), false);
  for (const name of ['gitea-docs-push-example.json', 'go-scm-gogs-push.json', 'keyporttech-gitea-push.json', 'woodpecker-gitea-push.json', 'drone-gogs-push-old.json']) {
    assert.equal(truncated(name), true, `${name}: no total_commits`);
  }
  const counted = { ...versionPayload('woodpecker-gitea-push-multi.json') };
  counted.commits = counted.commits.map((c, i) => (i === 1 ? { ...c, added: null } : c));
  assert.equal(decidePush(counted).action === 'deploy' && (decidePush(counted) as { truncated: boolean }).truncated, true, 'one commit without lists');
});

test('a target naming its repository deploys only pushes from it (full_name, case-insensitive)', () => {
  const targets = [
    { app: 'my_app', host: 'vps1', branch: 'main', repo_name: 'acme/registry' },
    { app: 'my_app', host: 'vps2', branch: 'main', repo_name: '' },
  ];
  const push = (repositoryFullName: string) => matchPushToTargets(targets, { files: ['apps/my_app/x.go'], repositoryName: 'registry', repositoryFullName, branch: 'main' });
  assert.deepEqual(push('acme/registry'), { targets: [{ app: 'my_app', host: 'vps1' }, { app: 'my_app', host: 'vps2' }] });
  assert.deepEqual(push('ACME/Registry').targets.length, 2);
  assert.deepEqual(push('mallory/registry'), { targets: [{ app: 'my_app', host: 'vps2' }] });
  const only = [targets[0]];
  assert.deepEqual(matchPushToTargets(only, { files: [], repositoryName: 'my_app', repositoryFullName: 'mallory/my_app', branch: 'main' }), {
    targets: [],
    reason: 'the targets of app my_app deploy only pushes from acme/registry, not from mallory/my_app',
  });
});
