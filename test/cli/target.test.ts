import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, existsSync } from 'node:fs';
import path from 'node:path';
import { runBin, runCliInProcess, makeTempDir } from '../helpers/cli.ts';

function dbEnv(t: Parameters<typeof makeTempDir>[0]) {
  return { DEPLOY_DB: path.join(makeTempDir(t), 'operations.db') };
}

const addMyApp = ['target', 'add', '--app', 'my_app', '--host', 'vps1', '--port', '8080', '--health', '/api/health', '--build', 'go build -o my_app .', '--strategy', 'systemd'];

test('target add then list --json shows every field with its default', async (t) => {
  const env = dbEnv(t);
  const added = await runBin(addMyApp, env);
  assert.equal(added.code, 0, added.stderr);
  const listed = await runBin(['target', 'list', '--json'], env);
  assert.equal(listed.code, 0, listed.stderr);
  const [target, ...rest] = JSON.parse(listed.stdout);
  assert.equal(rest.length, 0);
  assert.match(target.created_at, /^\d{4}-\d\d-\d\dT/);
  delete target.created_at;
  delete target.updated_at;
  assert.deepEqual(target, {
    app: 'my_app', host: 'vps1', remote_dir: '/opt/apps/my_app', binary: 'my_app', build_cmd: 'go build -o my_app .',
    user: '', port: 8080, health: '/api/health', env: {}, strategy: 'systemd', source_dir: '', branch: 'main',
    compose_files: [], repo: '', repo_name: '', auto_rollback: true, keep_releases: 0, skip_ci_marker: false,
  });
});

test('target add on an existing app and host updates only the flags given', async (t) => {
  const env = dbEnv(t);
  await runBin(addMyApp, env);
  const updated = await runBin(['target', 'add', '--app', 'my_app', '--host', 'vps1', '--branch', 'release', '--env', '{"TOKEN":"s3cret"}', '--compose-files', 'a.yml, b.yml'], env);
  assert.equal(updated.code, 0, updated.stderr);
  assert.match(updated.stdout, /^updated target my_app on vps1/);
  const [target] = JSON.parse((await runBin(['target', 'list', '--json'], env)).stdout);
  assert.equal(target.branch, 'release');
  assert.equal(target.port, 8080);
  assert.equal(target.build_cmd, 'go build -o my_app .');
  assert.deepEqual(target.compose_files, ['a.yml', 'b.yml']);
  assert.deepEqual(target.env, { TOKEN: '***' }, 'env values are masked in output');
});

test('target list prints a table, sorted by app and host', async (t) => {
  const env = dbEnv(t);
  await runBin(['target', 'add', '--app', 'zeta', '--host', 'vps2'], env);
  await runBin(addMyApp, env);
  await runBin(['target', 'add', '--app', 'my_app', '--host', 'localhost', '--strategy', 'docker-compose'], env);
  const { stdout, code } = await runBin(['target', 'list'], env);
  assert.equal(code, 0);
  assert.deepEqual(stdout.trimEnd().split('\n').map((line) => line.split(/\s+/).slice(0, 3)), [
    ['APP', 'HOST', 'STRATEGY'],
    ['my_app', 'localhost', 'docker-compose'],
    ['my_app', 'vps1', 'systemd'],
    ['zeta', 'vps2', 'systemd'],
  ]);
});

test('target remove removes one host, then all hosts of an app', async (t) => {
  const env = dbEnv(t);
  await runBin(addMyApp, env);
  await runBin(['target', 'add', '--app', 'my_app', '--host', 'vps2'], env);
  await runBin(['target', 'add', '--app', 'my_app', '--host', 'vps3'], env);
  const one = await runBin(['target', 'remove', 'my_app', '--host', 'vps1'], env);
  assert.equal(one.stdout, 'removed 1 target of my_app\n');
  const all = await runBin(['target', 'remove', 'my_app'], env);
  assert.equal(all.stdout, 'removed 2 targets of my_app\n');
  assert.deepEqual(JSON.parse((await runBin(['target', 'list', '--json'], env)).stdout), []);
});

const badInputs: [string, string[], RegExp][] = [
  ['missing --app', ['target', 'add', '--host', 'vps1'], /^error: --app is required\n$/],
  ['an unknown strategy', ['target', 'add', '--app', 'a', '--host', 'vps1', '--strategy', 'k8s'], /^error: --strategy must be one of systemd, systemd-remote, docker-compose\n$/],
  ['--env that is not JSON, without echoing it', ['target', 'add', '--app', 'a', '--host', 'vps1', '--env', 'TOKEN=s3cret-value'], /^error: --env is not valid JSON: expected an object like '\{"NAME":"value"\}'\n$/],
  ['--env JSON cut short, without echoing it', ['target', 'add', '--app', 'a', '--host', 'vps1', '--env', '{"TOKEN":"s3cret-value"'], /^error: --env is not valid JSON[^s]*: expected an object like '\{"NAME":"value"\}'\n$/],
  ['--env with a newline in a value, without echoing it', ['target', 'add', '--app', 'a', '--host', 'vps1', '--env', '{"TOKEN":"s3cret\\nExecStartPre=/x"}'], /^error: --env values must not contain newlines or control characters\n$/],
  ['--env with a number value', ['target', 'add', '--app', 'a', '--host', 'vps1', '--env', '{"A":1}'], /^error: --env must be a JSON object of string values\n$/],
  ['--env as an array', ['target', 'add', '--app', 'a', '--host', 'vps1', '--env', '["A"]'], /^error: --env must be a JSON object of string values\n$/],
  ['a port out of range', ['target', 'add', '--app', 'a', '--host', 'vps1', '--port', '70000'], /^error: --port must be between 0 and 65535\n$/],
  ['a port that is not a number', ['target', 'add', '--app', 'a', '--host', 'vps1', '--port', 'http'], /^error: --port must be a number\n$/],
  ['an update that breaks a stored target', ['target', 'add', '--app', 'my_app', '--host', 'vps1', '--port=-5'], /^error: --port must be between 0 and 65535\n$/],
  ['removing an app that has no target', ['target', 'remove', 'nope'], /^error: no target for app "nope"\n$/],
  ['removing a host the app is not on', ['target', 'remove', 'my_app', '--host', 'vps9'], /^error: no target for app "my_app" on host "vps9"\n$/],
  ['an unknown flag', ['target', 'add', '--app', 'a', '--host', 'vps1', '--colour', 'red'], /^error: Unsupported option name \("--colour"\)\. \(see `deploy_server --help`\)\n$/],
  ['an unknown command', ['deploy-everything'], /^error: unknown command "deploy-everything"/],
];

for (const [name, args, message] of badInputs) {
  test(`bad input: ${name} → one line on stderr, non-zero exit, database unchanged`, async (t) => {
    const env = dbEnv(t);
    await runCliInProcess(addMyApp, env);
    const before = (await runCliInProcess(['target', 'list', '--json'], env)).stdout;
    const bytesBefore = readFileSync(env.DEPLOY_DB);
    const result = await runBin(args, env);
    assert.notEqual(result.code, 0);
    assert.match(result.stderr, message);
    assert.equal(result.stderr.split('\n').length, 2, 'exactly one line');
    assert.equal(result.stdout, '');
    assert.ok(readFileSync(env.DEPLOY_DB).equals(bytesBefore), 'the database file is byte for byte the same');
    assert.equal((await runCliInProcess(['target', 'list', '--json'], env)).stdout, before);
  });
}

test('a bad input on an empty machine creates no half-written target', async (t) => {
  const env = dbEnv(t);
  const result = await runBin(['target', 'add', '--app', 'a', '--host', 'h', '--port', '99999'], env);
  assert.equal(result.code, 1);
  assert.deepEqual(JSON.parse((await runBin(['target', 'list', '--json'], env)).stdout), []);
});

test('every command has --help with examples', async (t) => {
  const env = dbEnv(t);
  for (const command of [['target', 'add'], ['target', 'list'], ['target', 'remove'], ['serve']]) {
    const { code, stdout } = await runBin([...command, '--help'], env);
    assert.equal(code, 0);
    assert.match(stdout, new RegExp(`\\$ deploy_server ${command.join(' ')}`));
    assert.match(stdout, /Examples/);
  }
  assert.ok(!existsSync(env.DEPLOY_DB), 'help touches no database');
});

test('target add: --repo names the repository (repo_name) unless --repo-name does; a new --repo moves a derived one', async (t) => {
  const env = dbEnv(t);
  const base = ['target', 'add', '--app', 'api', '--host', 'vps1', '--strategy', 'systemd-remote'];
  assert.equal((await runBin([...base, '--repo', 'git@git.example.com:acme/api.git'], env)).code, 0);
  const repoName = async () => JSON.parse((await runBin(['target', 'list', '--json'], env)).stdout)[0].repo_name;
  assert.equal(await repoName(), 'acme/api');
  assert.equal((await runBin([...base, '--repo', 'https://git.example.com/team/api.git'], env)).code, 0);
  assert.equal(await repoName(), 'team/api');
  assert.equal((await runBin([...base, '--repo-name', 'ops/api'], env)).code, 0);
  assert.equal((await runBin([...base, '--repo', 'https://git.example.com/x/y.git'], env)).code, 0);
  assert.equal(await repoName(), 'ops/api', 'a name set by hand stays');
  const bad = await runBin([...base, '--repo-name', 'api'], env);
  assert.equal(bad.code, 1);
  assert.match(bad.stderr, /--repo-name must be "owner\/name"/);
});
