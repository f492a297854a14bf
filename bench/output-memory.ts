// Peak RSS of `serve` deploying a systemd-remote target whose build prints 192 MiB over a real sshd
// (issue 12, item 9: remote output buffered whole, a run's history counted in events). Runs a real
// `serve` of a checkout (default: this one), so a before/after is one command per checkout:
//
//   node --import tsx bench/output-memory.ts                 # this tree
//   node --import tsx bench/output-memory.ts /tmp/before     # another checkout (the "before")
//
// Needs root and /usr/sbin/sshd (test/helpers/sshd.ts). The "before": git archive of main's HEAD in a
// temp dir with this tree's node_modules linked in.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createOrigin } from '../test/helpers/deploy-fixture.ts';
import { startSshdHarness } from '../test/helpers/sshd.ts';
import { serveCheckout } from './serve-checkout.ts';

const root = path.resolve(process.argv[2] ?? new URL('..', import.meta.url).pathname);
const bin = path.join(root, 'src/cli/bin.js');
const MiB = 1024 * 1024;
const OUTPUT = 192 * MiB;
const TOKEN = 'bench-token';

const harness = await startSshdHarness({ aliases: ['loudhost'] });
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bench-output-'));
const env = { ...process.env, HOME: harness.home, DEPLOY_DB: path.join(dir, 'operations.db'), DEPLOY_UNIT_DIR: harness.unitDir, DEPLOY_API_TOKEN: TOKEN };
const repo = createOrigin(harness, 'loud', { 'version.txt': 'v1' });
const cli = (...args: string[]) => execFileSync(process.execPath, [bin, ...args], { env, cwd: root, stdio: ['ignore', 'ignore', 'inherit'] });
cli('target', 'add', '--app', 'loud', '--host', 'loudhost', '--strategy', 'systemd-remote', '--remote-dir', path.join(harness.workDir, 'loud'),
  '--repo', repo.origin, '--build', `head -c ${OUTPUT} /dev/zero | tr '\\0' x | fold -w 199`);
cli('setup', 'loud', '--host', 'loudhost');

const { url, child: serve, memoryMiB } = await serveCheckout(root, env);
try {
  const headers = { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' };
  const idle = memoryMiB('VmRSS');
  const started = performance.now();
  const queued = (await (await fetch(`${url}/api/deploy/loud`, { method: 'POST', headers, body: '{}' })).json()) as { queued: { run_id: number }[] };
  const runId = queued.queued[0].run_id;
  let run: { status: string; error?: string | null; steps: { step: string; status: string }[] };
  for (;;) {
    run = (await (await fetch(`${url}/api/runs/${runId}`, { headers })).json()) as typeof run;
    if (!['queued', 'running'].includes(run.status)) break;
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  // The build is what prints; the service itself is a stand-in that never starts (restart fails after).
  if (run.steps.find((step) => step.step === 'build')?.status !== 'success') throw new Error(`run #${runId} ${run.status}: ${run.error}`);
  const seconds = (performance.now() - started) / 1000;
  console.log(`checkout: ${root}`);
  console.log(`serve RSS idle ${idle.toFixed(0)} MiB; peak while a build printed ${OUTPUT / MiB} MiB over SSH ${memoryMiB('VmHWM').toFixed(0)} MiB; after ${memoryMiB('VmRSS').toFixed(0)} MiB (deploy ${seconds.toFixed(1)} s)`);
} finally {
  serve.kill('SIGTERM');
  await new Promise((resolve) => serve.once('exit', resolve));
  await harness.stop();
  fs.rmSync(dir, { recursive: true, force: true });
}
process.exit(0);
