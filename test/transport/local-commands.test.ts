// The local command builders, as exact argv: what runs on this machine, word for word.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { localBuildCommand } from '../../src/transport/local/build.ts';
import { gitAllFiles, gitChangedFiles, gitFetch, gitWorktreeAdd, gitWorktreePrune, gitWorktreeRemove } from '../../src/transport/local/git.ts';
import { rsyncFile, rsyncShell, RsyncQuotingError } from '../../src/transport/local/rsync.ts';

const A = 'a'.repeat(40);
const B = 'b'.repeat(40);

test('git: fetch, worktrees and file lists as argv, ids after the options and "--" last', () => {
  assert.deepEqual(gitFetch(), ['git', 'fetch', '--quiet', 'origin']);
  assert.deepEqual(gitWorktreeAdd('/tmp/run 1/tree', A), ['git', 'worktree', 'add', '--detach', '--force', '/tmp/run 1/tree', A]);
  assert.deepEqual(gitWorktreeRemove('/tmp/run 1/tree'), ['git', 'worktree', 'remove', '--force', '/tmp/run 1/tree']);
  assert.deepEqual(gitWorktreePrune(), ['git', 'worktree', 'prune']);
  assert.deepEqual(gitChangedFiles(A, B), ['git', 'diff-tree', '-r', '--no-renames', '--name-only', '-z', A, B, '--']);
  assert.deepEqual(gitAllFiles(B), ['git', 'ls-tree', '-r', '-z', '--name-only', B, '--']);
});

test('the local build is the one shell command, passed to /bin/sh as one word', () => {
  assert.deepEqual(localBuildCommand('go build -o app . && strip app'), ['/bin/sh', '-c', 'go build -o app . && strip app']);
});

test("rsync: --protect-args, and an ssh that agrees with the run's connection", () => {
  const shell = rsyncShell({ port: 2222, identityFile: '/home/d/.ssh/id_ed25519', knownHostsFiles: ['/home/d/.ssh/known_hosts'], connectTimeoutMs: 10_000 });
  assert.equal(
    shell,
    'ssh -F /dev/null -p 2222 -i /home/d/.ssh/id_ed25519 -o IdentitiesOnly=yes -o UserKnownHostsFile=/home/d/.ssh/known_hosts ' +
      '-o GlobalKnownHostsFile=/dev/null -o StrictHostKeyChecking=yes -o BatchMode=yes -o ConnectTimeout=10',
  );
  assert.deepEqual(rsyncFile('/tmp/run/app', 'deploy@10.0.0.5', '/opt/apps/my app/.releases/7/app', shell), [
    'rsync', '--protect-args', '--times', '--perms', '--compress', '-e', shell, '/tmp/run/app', 'deploy@10.0.0.5:/opt/apps/my app/.releases/7/app',
  ]);
});

test('rsync -e: values with spaces or quotes become one word, or a clear error', () => {
  const shell = rsyncShell({ port: 22, identityFile: "/keys/it's key", knownHostsFiles: ['/a b/known_hosts', '/c/known_hosts2'], connectTimeoutMs: 1500 });
  assert.match(shell, / -i "\/keys\/it's key" /);
  assert.match(shell, / -o 'UserKnownHostsFile=\/a b\/known_hosts \/c\/known_hosts2' /);
  assert.match(shell, /ConnectTimeout=2$/);
  assert.throws(() => rsyncShell({ port: 22, identityFile: `/k/"it's"`, knownHostsFiles: [], connectTimeoutMs: 1000 }), RsyncQuotingError);
});
