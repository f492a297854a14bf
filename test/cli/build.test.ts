// What scripts/build.js makes of the sources (dist/, as `npm ci` builds it): bundles that start from their
// V8 code caches, and a process that loads only the bundles its command needs (none for `--help` alone).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { builtBin, CHILD_TIMEOUT_MS, makeTempDir, runBin, runCliInProcess } from '../helpers/cli.ts';

/**
 * Runs the built deploy_server with a preload that records each bundle dist/load.cjs loads, and whether
 * V8 took its code cache ('cache'), refused it ('cache rejected') or there was none ('no cache').
 */
async function runRecordingBundles(t: Parameters<typeof makeTempDir>[0], args: string[], env: NodeJS.ProcessEnv) {
  const bin = builtBin();
  const dir = makeTempDir(t, 'bundles-');
  const preload = path.join(dir, 'record.cjs');
  writeFileSync(preload, `
const loader = require(${JSON.stringify(path.join(path.dirname(bin), 'load.cjs'))});
const loaded = {};
loader.onLoad = (filename, script) => {
  loaded[require('node:path').relative(${JSON.stringify(path.dirname(bin))}, filename)] = script.cachedDataRejected === undefined ? 'no cache' : script.cachedDataRejected ? 'cache rejected' : 'cache';
};
process.on('exit', () => require('node:fs').writeFileSync(${JSON.stringify(path.join(dir, 'loaded.json'))}, JSON.stringify(loaded)));
`);
  const code = await new Promise<number>((resolve) => {
    execFile(process.execPath, ['--require', preload, bin, ...args], { env: { ...process.env, ...env }, timeout: CHILD_TIMEOUT_MS }, (error) => {
      resolve(error ? (typeof error.code === 'number' ? error.code : 1) : 0);
    });
  });
  return { code, loaded: JSON.parse(readFileSync(path.join(dir, 'loaded.json'), 'utf8')) as Record<string, string> };
}

test('--help alone loads no bundle: it prints what the CLI printed for it at the build, which is what the CLI prints now', async (t) => {
  const env = { DEPLOY_DB: path.join(makeTempDir(t), 'operations.db') };
  assert.deepEqual(await runRecordingBundles(t, ['--help'], env), { code: 0, loaded: {} });
  const fast = await runBin(['--help'], env);
  const short = await runBin(['-h'], env);
  const full = await runCliInProcess(['--help'], env);
  assert.equal(full.code, 0);
  assert.match(full.stdout, /deploy_server target list/);
  assert.deepEqual([fast, short], [{ code: 0, stdout: full.stdout, stderr: '' }, { code: 0, stdout: full.stdout, stderr: '' }]);
  // Anything else on the line is the CLI's: a command's own help loads our bundle, from its code cache.
  assert.deepEqual(await runRecordingBundles(t, ['target', 'list', '--help'], env), { code: 0, loaded: { 'app.cjs': 'cache' } });
});

test('target add on a new database loads the migrations bundle when it migrates; target list then does not', async (t) => {
  const env = { DEPLOY_DB: path.join(makeTempDir(t), 'operations.db') };
  // The migrations bundle has no code cache: it runs once per database.
  assert.deepEqual(await runRecordingBundles(t, ['target', 'add', '--app', 'a', '--host', 'h'], env), {
    code: 0,
    loaded: { 'app.cjs': 'cache', 'vendor/mikro-orm.cjs': 'cache', 'vendor/mikro-orm-migrations.cjs': 'no cache' },
  });
  // A current database is read without the ORM (src/db/sqlite-reader.ts).
  assert.deepEqual(await runRecordingBundles(t, ['target', 'list'], env), { code: 0, loaded: { 'app.cjs': 'cache' } });
});

test('target list on a database that does not exist yet creates it through the ORM', async (t) => {
  const env = { DEPLOY_DB: path.join(makeTempDir(t), 'operations.db') };
  assert.deepEqual(await runRecordingBundles(t, ['target', 'list'], env), {
    code: 0,
    loaded: { 'app.cjs': 'cache', 'vendor/mikro-orm.cjs': 'cache', 'vendor/mikro-orm-migrations.cjs': 'no cache' },
  });
  assert.ok(existsSync(env.DEPLOY_DB));
});
