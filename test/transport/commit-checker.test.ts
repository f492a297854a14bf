// The long-lived `git cat-file --batch-check` behind the webhook's "is this push older?" check, over a
// real git repository.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createCommitChecker, gitBatchCheck } from '../../src/transport/local/commit-checker.ts';
import { makeTempDir } from '../helpers/cli.ts';

const git = (cwd: string, ...args: string[]) => execFileSync('git', ['-c', 'user.name=t', '-c', 'user.email=t@t', ...args], { cwd, encoding: 'utf8' }).trim();
const MISSING = '0123456789abcdef0123456789abcdef01234567';

test('gitBatchCheck is cat-file --batch-check', () => {
  assert.deepEqual(gitBatchCheck(), ['git', 'cat-file', '--batch-check']);
});

test('answers which ids are commits the repository has, with one git for many questions, and sees commits made after it started', async (t) => {
  const repo = makeTempDir(t);
  git(repo, 'init', '-q');
  git(repo, 'commit', '-q', '--allow-empty', '-m', 'one');
  const first = git(repo, 'rev-parse', 'HEAD');
  const tree = git(repo, 'rev-parse', 'HEAD^{tree}');
  const checker = createCommitChecker(repo, 2_000);
  t.after(() => checker.close());

  assert.deepEqual(await checker.has([first, MISSING, tree]), new Set([first]), 'a tree is no commit, a missing id is left out');
  git(repo, 'commit', '-q', '--allow-empty', '-m', 'two');
  const second = git(repo, 'rev-parse', 'HEAD');
  // Questions asked together are answered each with its own lines.
  const [a, b] = await Promise.all([checker.has([second.toUpperCase()]), checker.has([MISSING, first])]);
  assert.deepEqual(a, new Set([second]));
  assert.deepEqual(b, new Set([first]));
});

test('a directory that is no repository answers empty; after close the next question starts git again', async (t) => {
  const plain = makeTempDir(t);
  const none = createCommitChecker(plain, 2_000);
  t.after(() => none.close());
  assert.deepEqual(await none.has([MISSING]), new Set());

  const repo = makeTempDir(t);
  git(repo, 'init', '-q');
  git(repo, 'commit', '-q', '--allow-empty', '-m', 'one');
  const head = git(repo, 'rev-parse', 'HEAD');
  const checker = createCommitChecker(repo, 2_000);
  t.after(() => checker.close());
  assert.deepEqual(await checker.has([head]), new Set([head]));
  checker.close();
  assert.deepEqual(await checker.has([head]), new Set([head]));
});
