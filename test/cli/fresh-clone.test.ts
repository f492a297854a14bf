// A new user's first minute (issue 12): the README's run command, in a clean clone of this repository,
// answers /api/health.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { once } from 'node:events';
import { readFileSync, symlinkSync } from 'node:fs';
import path from 'node:path';
import { makeTempDir } from '../helpers/cli.ts';

const ROOT = new URL('../../', import.meta.url).pathname;

test("the README's run command works in a clean clone", { timeout: 120_000 }, async (t) => {
  const readme = readFileSync(path.join(ROOT, 'README.md'), 'utf8');
  const command = /Run the server[^\n]*\n(?:[^\n]*\n)*?\n {4}(.+)\n/.exec(readme)?.[1];
  assert.equal(command, 'npm ci && npm start', 'the README\'s run command changed: change this test with it');

  const dir = makeTempDir(t, 'fresh-clone-');
  const clone = path.join(dir, 'clone');
  // The committed HEAD only: nothing untracked or ignored (dist/, node_modules/) comes along.
  execFileSync('git', ['clone', '--quiet', '--no-hardlinks', ROOT, clone]);
  // `npm ci` stands in for two things here: node_modules, and the root package's `prepare` script.
  // Installing takes minutes (better-sqlite3 builds from source), so node_modules is a symlink to this
  // checkout's, and `prepare` runs as npm ci runs it. (A real `npm ci && npm start` in a clean clone
  // was checked by hand; .ci/run does a real `npm ci` on every run.)
  symlinkSync(path.join(ROOT, 'node_modules'), path.join(clone, 'node_modules'));
  execFileSync('npm', ['run', '--silent', 'prepare'], { cwd: clone, stdio: 'ignore' });

  // `npm start` as written, plus a free port on loopback (its own 9090 may be taken on this machine);
  // clipanion takes the last --port given.
  const child = spawn('npm', ['start', '--', '--port', '0', '--bind', '127.0.0.1'], {
    cwd: clone,
    env: { ...process.env, DEPLOY_DB: path.join(dir, 'operations.db') },
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true, // its own process group: npm, sh and node stop together
  });
  t.after(async () => {
    if (child.exitCode !== null) return;
    process.kill(-child.pid!, 'SIGTERM');
    await once(child, 'exit');
  });
  let output = '';
  child.stderr.on('data', (chunk) => (output += chunk));
  const url = await new Promise<string>((resolve, reject) => {
    child.stdout.on('data', (chunk) => {
      output += chunk;
      const match = /listening on (http:\/\/[\d.]+:\d+)/.exec(output);
      if (match) resolve(match[1]);
    });
    child.once('exit', (code) => reject(new Error(`npm start exited with ${code}: ${output}`)));
  });
  const response = await fetch(`${url}/api/health`);
  assert.equal(response.status, 200);
  assert.equal(((await response.json()) as { status: string }).status, 'ok');
});
