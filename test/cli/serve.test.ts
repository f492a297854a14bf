import { test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { makeTempDir, startServe, stopChild, runBin } from '../helpers/cli.ts';

test('serve answers GET /api/health and stops cleanly on SIGTERM', async (t) => {
  const env = { DEPLOY_DB: path.join(makeTempDir(t), 'operations.db') };
  const { url, child } = await startServe(env);
  const response = await fetch(`${url}/api/health`);
  assert.equal(response.status, 200);
  const body = (await response.json()) as { status: string; database: string };
  assert.equal(body.status, 'ok');
  assert.equal(body.database, 'ok');
  const missing = await fetch(`${url}/api/nothing`);
  assert.equal(missing.status, 404);
  assert.deepEqual(await missing.json(), { error: 'no such route' });
  assert.equal(await stopChild(child), 0);
});

test('serve rejects a bad port with one line', async (t) => {
  const env = { DEPLOY_DB: path.join(makeTempDir(t), 'operations.db') };
  const result = await runBin(['serve', '--port', '99999'], env);
  assert.equal(result.code, 1);
  assert.equal(result.stderr, 'error: --port must be between 0 and 65535 (got "99999")\n');
});
