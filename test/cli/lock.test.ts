import { test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { runCliInProcess, makeTempDir } from '../helpers/cli.ts';

async function world(t: Parameters<typeof makeTempDir>[0]) {
  const env = { DEPLOY_DB: path.join(makeTempDir(t), 'operations.db'), USER: 'alice' };
  const cli = (...args: string[]) => runCliInProcess(args, env);
  for (const host of ['vps1', 'vps2']) assert.equal((await cli('target', 'add', '--app', 'web', '--host', host)).code, 0);
  return cli;
}

test('lock, lock list, unlock: who locked it is $USER or --by; expiry with --for', async (t) => {
  const cli = await world(t);
  const locked = await cli('lock', 'web', '--host', 'vps1', '--reason', 'db migration', '--for', '2h');
  assert.equal(locked.code, 0, locked.stderr);
  assert.match(locked.stdout, /^locked web@vps1: locked by alice: db migration \(until \d{4}-\d\d-\d\dT.*Z\)\n$/);
  const everyHost = await cli('lock', 'web', '--reason', 'freeze', '--by', 'release-bot');
  assert.equal(everyHost.stdout, 'locked web (every host): locked by release-bot: freeze\n');

  const table = await cli('lock', 'list');
  assert.equal(table.code, 0, table.stderr);
  assert.match(table.stdout, /^APP +HOST +BY +SINCE +UNTIL +REASON\n/);
  assert.match(table.stdout, /web +vps1 +alice .* db migration\n/);
  assert.match(table.stdout, /web +\(every host\) +release-bot .* - +freeze\n/);
  const json = JSON.parse((await cli('lock', 'list', '--json')).stdout);
  assert.deepEqual(json.map((l: any) => [l.host, l.locked_by, l.reason]), [['vps1', 'alice', 'db migration'], [null, 'release-bot', 'freeze']]);

  assert.equal((await cli('unlock', 'web', '--host', 'vps1')).stdout, 'unlocked web@vps1\n');
  assert.equal((await cli('unlock', 'web')).stdout, 'unlocked web (every host)\n');
  assert.equal((await cli('lock', 'list')).stdout, 'no locks\n');
  const none = await cli('unlock', 'web');
  assert.deepEqual([none.code, none.stderr], [1, 'error: no lock on app "web"\n']);
});

test('bad lock input is one line on stderr and exit 1, writing nothing', async (t) => {
  const cli = await world(t);
  for (const [args, message] of [
    [['lock', 'web'], 'error: a reason is required (--reason "…")\n'],
    [['lock', 'web', '--reason', 'x', '--for', 'tomorrow'], 'error: --for must be a duration like 30m, 2h or 1d12h (got "tomorrow")\n'],
    [['lock', 'nope', '--reason', 'x'], 'error: no target for app "nope"\n'],
    [['lock', 'web', '--host', 'vps9', '--reason', 'x'], 'error: no target for app "web" on host "vps9"\n'],
  ] as const) {
    const result = await cli(...args);
    assert.deepEqual([result.code, result.stderr], [1, message], args.join(' '));
  }
  assert.equal((await cli('lock', 'list')).stdout, 'no locks\n');
});

test('deploy and rollback refuse a locked target before queueing anything (exit 1, the lock in one line)', async (t) => {
  const cli = await world(t);
  await cli('lock', 'web', '--host', 'vps2', '--reason', 'audit');
  for (const command of ['deploy', 'rollback']) {
    const refused = await cli(command, 'web');
    assert.equal(refused.code, 1);
    assert.equal(refused.stderr, 'error: web@vps2 is locked by alice: audit — use --force (API: "force": true) to go ahead anyway\n');
    assert.equal(refused.stdout, '');
  }
});
