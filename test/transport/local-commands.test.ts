// The local command builders, as exact argv: what runs on this machine, word for word.
import { test } from 'node:test';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import assert from 'node:assert/strict';
import { localBuildCommand } from '../../src/transport/local/build.ts';
import { gitAllFiles, gitChangedFiles, gitFetch, gitWorktreeAdd, gitWorktreePrune, gitWorktreeRemove } from '../../src/transport/local/git.ts';
import { rsyncFile, rsyncShell, rsyncSshConfig, RsyncQuotingError } from '../../src/transport/local/rsync.ts';
import { skipUnlessAllowed } from '../helpers/skip.ts';

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

test("rsync: --protect-args, to the config's target host, through ssh reading only that config", () => {
  const shell = rsyncShell('/tmp/deploy-rsync-ssh-x/ssh_config');
  assert.equal(shell, 'ssh -F /tmp/deploy-rsync-ssh-x/ssh_config');
  assert.equal(rsyncShell("/tmp/it's here/ssh_config"), `ssh -F "/tmp/it's here/ssh_config"`);
  assert.deepEqual(rsyncFile('/tmp/run/app', '/opt/apps/my app/.releases/7/app', shell), [
    'rsync', '--protect-args', '--times', '--perms', '--compress', '-e', shell, '/tmp/run/app', 'deploy-target:/opt/apps/my app/.releases/7/app',
  ]);
});

test("rsync's ssh config: a direct host with the key that authenticated, strict host keys, no prompts", () => {
  const config = rsyncSshConfig({
    hops: [{ hostname: '10.0.0.5', port: 2222, user: 'deploy', knownHostsFiles: ['/home/d/.ssh/known_hosts', '/etc/ssh/ssh_known_hosts'], identityFile: '/home/d/.ssh/id_ed25519' }],
    connectTimeoutMs: 9_500,
  });
  assert.equal(
    config,
    [
      "# Written by deploy_server for one rsync: the run's own SSH connection, hop by hop.",
      'Host deploy-target',
      '  HostName 10.0.0.5',
      '  Port 2222',
      '  User deploy',
      '  IdentityFile /home/d/.ssh/id_ed25519',
      '  IdentitiesOnly yes',
      '  IdentityAgent none',
      '  UserKnownHostsFile /home/d/.ssh/known_hosts /etc/ssh/ssh_known_hosts',
      '  GlobalKnownHostsFile none',
      '  StrictHostKeyChecking yes',
      '  UpdateHostKeys no',
      '  BatchMode yes',
      '  ConnectTimeout 10',
      '  ProxyJump none',
      '',
    ].join('\n'),
  );
});

test("rsync's ssh config: a chain of jump hosts, an agent, HostKeyAlias; each hop through the one before", () => {
  const config = rsyncSshConfig({
    hops: [
      { hostname: 'bastion.example', port: 22, user: 'jump', knownHostsFiles: ['/k/known_hosts'], agentSocket: '/run/agent %1.sock' },
      { hostname: '10.1.0.1', port: 22, user: 'jump2', knownHostsFiles: [], identityFile: '/keys/inner key', hostKeyAlias: 'inner' },
      { hostname: '10.2.0.9', port: 2200, user: 'deploy', knownHostsFiles: ['/k/known_hosts'], identityFile: '/keys/id_rsa' },
    ],
    connectTimeoutMs: 1000,
  });
  const blocks = config.split(/\n(?=Host )/);
  assert.equal(blocks.length, 4);
  assert.equal(
    blocks[1],
    'Host deploy-jump-1\n  HostName bastion.example\n  Port 22\n  User jump\n  IdentityFile none\n  IdentityAgent "/run/agent %%1.sock"\n' +
      '  UserKnownHostsFile /k/known_hosts\n  GlobalKnownHostsFile none\n  StrictHostKeyChecking yes\n  UpdateHostKeys no\n  BatchMode yes\n' +
      '  ConnectTimeout 1\n  ProxyJump none',
  );
  assert.match(blocks[2], /^Host deploy-jump-2\n[^]*  IdentityFile "\/keys\/inner key"\n[^]*  UserKnownHostsFile none\n[^]*  HostKeyAlias inner\n[^]*  ProxyJump deploy-jump-1$/);
  assert.match(blocks[3], /^Host deploy-target\n  HostName 10\.2\.0\.9\n  Port 2200\n[^]*  ProxyJump deploy-jump-2\n$/);
});

test("rsync's ssh config reads back through ssh -G as written: quoted paths, %% tokens, the jump", { skip: skipUnlessAllowed(spawnSync('ssh', ['-V']).error ? 'no ssh client here' : null) }, () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'rsync-ssh-config-'));
  try {
    const file = path.join(dir, 'ssh_config');
    writeFileSync(file, rsyncSshConfig({
      hops: [
        { hostname: 'bastion.example', port: 2201, user: 'jump', knownHostsFiles: [`${dir}/it's known`], agentSocket: `${dir}/agent %1.sock` },
        { hostname: '10.2.0.9', port: 2200, user: 'deploy', knownHostsFiles: [`${dir}/kh 1`, '/etc/ssh/ssh_known_hosts'], identityFile: `${dir}/my key`, hostKeyAlias: 'web-1', hostKeyAlgorithms: '^rsa-sha2-*', caSignatureAlgorithms: '-ssh-ed25519' },
      ],
      connectTimeoutMs: 3000,
    }));
    const settings = (host: string) => {
      const out = execFileSync('ssh', ['-G', '-F', file, host], { encoding: 'utf8' });
      return Object.fromEntries(out.split('\n').filter(Boolean).map((line) => [line.slice(0, line.indexOf(' ')), line.slice(line.indexOf(' ') + 1)]));
    };
    const target = settings('deploy-target');
    assert.deepEqual(
      [target.hostname, target.port, target.user, target.identityfile, target.identitiesonly, target.userknownhostsfile, target.hostkeyalias, target.proxyjump, target.stricthostkeychecking, target.batchmode, target.connecttimeout],
      ['10.2.0.9', '2200', 'deploy', `${dir}/my key`, 'yes', `${dir}/kh 1 /etc/ssh/ssh_known_hosts`, 'web-1', 'deploy-jump-1', 'true', 'yes', '3'],
    );
    // The user's HostKeyAlgorithms and CASignatureAlgorithms as written: ssh assembles them as for our own connection.
    const [hostKeyAlgorithms, caSignatureAlgorithms] = [target.hostkeyalgorithms.split(','), target.casignaturealgorithms.split(',')];
    assert.deepEqual(hostKeyAlgorithms.slice(0, 4), ['rsa-sha2-256', 'rsa-sha2-256-cert-v01@openssh.com', 'rsa-sha2-512', 'rsa-sha2-512-cert-v01@openssh.com']);
    assert.ok(!caSignatureAlgorithms.includes('ssh-ed25519') && caSignatureAlgorithms.includes('rsa-sha2-512'));
    const jump = settings('deploy-jump-1');
    assert.deepEqual([jump.hostname, jump.port, jump.user, jump.identityagent, jump.userknownhostsfile, jump.proxyjump], ['bastion.example', '2201', 'jump', `${dir}/agent %1.sock`, `${dir}/it's known`, undefined]);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("rsync's ssh config: a value ssh's config reader cannot take literally is one clear error", () => {
  const hop = { hostname: 'h', port: 22, user: 'u', knownHostsFiles: [], identityFile: '/k/id' };
  for (const bad of [{ identityFile: '/k/"x"' }, { identityFile: '/k/${HOME}' }, { user: 'a\nb' }, { hostname: 'h%h' }, { identityFile: '/k/back\\slash' }]) {
    assert.throws(() => rsyncSshConfig({ hops: [{ ...hop, ...bad }], connectTimeoutMs: 1000 }), RsyncQuotingError);
  }
  assert.throws(() => rsyncShell(`/tmp/"it's"/ssh_config`), RsyncQuotingError);
});
