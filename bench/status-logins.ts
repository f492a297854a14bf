// SSH logins and answer time of `GET /api/status/:app` under a burst (issue 12, item 8): 20 requests
// at once, then 20 more one after another, against a real `serve` of a checkout (default: this one)
// and the test sshd; the logins are counted from sshd's own log ("Accepted publickey").
//
//   node --import tsx bench/status-logins.ts                 # this tree
//   node --import tsx bench/status-logins.ts /tmp/before     # another checkout (the "before")
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { startSshdHarness } from '../test/helpers/sshd.ts';
import { serveCheckout } from './serve-checkout.ts';

const root = path.resolve(process.argv[2] ?? new URL('..', import.meta.url).pathname);
const bin = path.join(root, 'src/cli/bin.js');
const TOKEN = 'bench-token';
const BURST = 20;

const harness = await startSshdHarness({ aliases: ['vps1'] });
try {
  const env = { ...process.env, HOME: harness.home, DEPLOY_DB: path.join(harness.tmpDir, 'operations.db'), DEPLOY_API_TOKEN: TOKEN };
  execFileSync(process.execPath, [bin, 'target', 'add', '--app', 'web', '--host', 'vps1'], { env, cwd: root });
  const { url, child: serve } = await serveCheckout(root, env);
  try {
    const logins = () => (fs.readFileSync(harness.sshdLogFile, 'utf8').match(/Accepted publickey/g) ?? []).length;
    const status = async () => {
      const response = await fetch(`${url}/api/status/web`, { headers: { authorization: `Bearer ${TOKEN}` } });
      if (response.status !== 200) throw new Error(`GET /api/status/web: ${response.status}`);
    };
    await status(); // warm-up (and the first login)
    const before = logins();
    let started = performance.now();
    await Promise.all(Array.from({ length: BURST }, status));
    const burstMs = performance.now() - started;
    const burstLogins = logins() - before;
    started = performance.now();
    for (let i = 0; i < BURST; i++) await status();
    const sequentialMs = performance.now() - started;
    const sequentialLogins = logins() - before - burstLogins;
    console.log(`GET /api/status/web (${root}):`);
    console.log(`  ${BURST} at once:          ${String(burstLogins).padStart(3)} SSH logins, ${burstMs.toFixed(0)} ms for all`);
    console.log(`  ${BURST} one after another: ${String(sequentialLogins).padStart(3)} SSH logins, ${(sequentialMs / BURST).toFixed(1)} ms each`);
  } finally {
    serve.kill('SIGKILL');
  }
} finally {
  await harness.stop();
}
