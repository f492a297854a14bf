// The dashboard in a real Chromium against a real `serve`, deploying over the test sshd: targets, a live
// deploy, a failing health check and its compensation path, cancel, the runs list, 390 px, the budget.
// DASHBOARD_SCREENSHOTS=docs writes the README's screenshots; by default they go to a temp dir.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { ChildProcess } from 'node:child_process';
import type { Browser, Page } from 'playwright-core';
import { addServingApp, createOrigin, startDeployWorld, writeAppSource, type DeployWorld } from '../helpers/deploy-fixture.ts';
import { processAlive, skipWithoutSshd } from '../helpers/sshd.ts';
import { makeTempDir, runCliInProcess, startServe, stopChild } from '../helpers/cli.ts';
import { until } from '../helpers/engine.ts';
import { skipUnlessAllowed } from '../helpers/skip.ts';
import { browserUnavailable, launchBrowser, openPage, pageWidth, type WatchedPage } from '../helpers/browser.ts';
import { seedOrphanedRun, seedRuns } from '../helpers/run-seed.ts';
import { buildDashboard, DASHBOARD_CSP } from '../../src/server/dashboard.ts';

const skip = skipWithoutSshd() || skipUnlessAllowed(browserUnavailable());
const TOKEN = 'dashboard-test-token-5d1f0c';
const WIDE = { width: 1280, height: 900 };
const NARROW = { width: 390, height: 844 };
const RUN_TIMEOUT = 60_000;
const shots = process.env.DASHBOARD_SCREENSHOTS ? path.resolve(process.env.DASHBOARD_SCREENSHOTS) : fs.mkdtempSync(path.join(os.tmpdir(), 'dashboard-shots-'));

let world: DeployWorld;
let serve: { url: string; child: ChildProcess };
let browser: Browser;
let slowDir: string;
let webSource: string;

before(async () => {
  if (skip) return;
  world = await startDeployWorld({ healthTimeoutS: 2 });
  webSource = path.join(world.registryRoot, 'apps', 'web');
  writeAppSource(webSource, 'v1');
  // The build says something, then takes long enough to be watched while it runs.
  await addServingApp(world, 'web', { build: 'echo compiling web; sleep 2; sh build.sh web' });
  const repo = createOrigin(world.harness, 'slow', { README: 'slow\n' });
  slowDir = path.join(world.harness.workDir, 'slow');
  const add = await world.cli('target', 'add', '--app', 'slow', '--host', world.harness.alias, '--strategy', 'systemd-remote', '--remote-dir', slowDir,
    '--repo', repo.origin, '--build', 'sleep 300 & echo $! > sleep.pid; wait');
  assert.equal(add.code, 0, add.stderr);
  assert.equal((await world.cli('setup', 'slow', '--host', world.harness.alias)).code, 0);
  // Left running by a process that is gone: serve marks it interrupted as it starts.
  await seedOrphanedRun(world.env.DEPLOY_DB!, { app: 'web', host: world.harness.alias, strategy: 'systemd' });
  serve = await startServe({ ...world.env, DEPLOY_API_TOKEN: TOKEN });
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  if (serve) await stopChild(serve.child);
  await world?.stop();
});

/** A page of the dashboard; after `work`, it must have logged no error and asked nothing of another machine. */
async function withPage(size: { width: number; height: number }, work: (watched: WatchedPage) => Promise<void>, options: { token?: boolean; url?: string } = {}) {
  const watched = await openPage(browser, serve.url, { ...size, token: options.token === false ? undefined : TOKEN });
  try {
    await work(watched);
    assert.deepEqual(watched.problems, [], 'no console error, no page error, no request off the machine');
  } finally {
    await watched.close();
  }
}

const screenshot = (page: Page, name: string) => page.screenshot({ path: path.join(shots, `${name}.png`), fullPage: true });
const node = (page: Page, step: string) => page.locator(`svg.dag g[data-step="${step}"]`);
const card = (page: Page, app: string) => page.locator(`article.target[data-app="${app}"]`);

async function deployFromCard(page: Page, app: string, action: 'deploy' | 'rollback' = 'deploy'): Promise<number> {
  await page.goto('/');
  await card(page, app).locator(`button[data-action="${action}"]`).click();
  await page.locator('dialog[open] button[data-confirm="yes"]').click();
  await page.waitForURL(/#\/runs\/\d+$/);
  return Number(/#\/runs\/(\d+)$/.exec(page.url())![1]);
}

const waitForRunStatus = (page: Page, status: string) => page.locator(`[data-run-status="${status}"]`).waitFor({ timeout: RUN_TIMEOUT });

async function postApi(route: string, body: unknown = {}) {
  const response = await fetch(`${serve.url}${route}`, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${TOKEN}` }, body: JSON.stringify(body) });
  return { status: response.status, body: (await response.json()) as any };
}

test('/ is the page with a strict CSP and no-cache; assets have hashed names and a year of cache; the bundle is under 100 KB gzipped', { skip }, async () => {
  const page = await fetch(`${serve.url}/`);
  assert.equal(page.status, 200);
  assert.equal(page.headers.get('content-security-policy'), DASHBOARD_CSP);
  assert.match(DASHBOARD_CSP, /default-src 'self'/);
  assert.doesNotMatch(DASHBOARD_CSP, /unsafe-inline|unsafe-eval/);
  assert.equal(page.headers.get('cache-control'), 'no-cache');
  const html = await page.text();
  assert.doesNotMatch(html, /<script>|<style|style=/, 'no inline script or style');
  const assets = [...html.matchAll(/(?:src|href)="(\/assets\/[^"]+)"/g)].map((m) => m[1]);
  assert.equal(assets.length, 3);
  for (const asset of assets) {
    assert.match(asset, /-[A-Za-z0-9]{8,}\.(js|css|svg)$/);
    const response = await fetch(`${serve.url}${asset}`);
    assert.equal(response.status, 200);
    assert.equal(response.headers.get('cache-control'), 'public, max-age=31536000, immutable');
  }
  assert.equal((await fetch(`${serve.url}/assets/main-NOPE.js`)).status, 404);
  assert.equal((await fetch(`${serve.url}/api/nothing`)).status, 404, 'the API keeps its own 404');
  assert.equal((await fetch(`${serve.url}/api/pipelines`)).status, 401, 'the dashboard\'s reads need a token like the API\'s');
  const pipelines = (await (await fetch(`${serve.url}/api/pipelines`, { headers: { authorization: `Bearer ${TOKEN}` } })).json()) as any;
  assert.deepEqual(pipelines.systemd.deploy.compensation, ['rollback', 'restartPrevious', 'healthCheckPrevious']);
  assert.deepEqual(pipelines.systemd.deploy.steps.find((s: { id: string }) => s.id === 'rsync').needs, ['sshCheck', 'build']);

  const bundle = await buildDashboard();
  const sizes = [...bundle.assets].map(([name, a]) => `${name} ${a.body.length} B (${a.gzip.length} B gzipped)`);
  console.log(`dashboard bundle: ${(bundle.gzippedBytes / 1024).toFixed(1)} KB gzipped in all (html ${bundle.html.gzip.length} B; ${sizes.join('; ')})`);
  assert.ok(bundle.gzippedBytes < 100 * 1024, `${bundle.gzippedBytes} B gzipped`);
});

test('the page opens on the targets; a token entered once is kept for the tab and sent on every request', { skip }, async () => {
  await withPage(WIDE, async (watched) => {
    const { page } = watched;
    const authorizations: (string | undefined)[] = [];
    page.on('request', (request) => {
      if (new URL(request.url()).pathname.startsWith('/api/')) authorizations.push(request.headers().authorization);
    });
    await page.goto('/');
    assert.equal(await page.locator('.token-state').textContent(), 'no token');

    // Reads need a token too (issue 12): without one the page says what to give and where.
    await page.locator('[data-notice="token"]', { hasText: 'This page needs a token' }).waitFor();
    assert.ok(watched.problems.some((problem) => /status of 401/.test(problem)), 'Chromium logs the refused requests');
    watched.problems.splice(0, watched.problems.length, ...watched.problems.filter((problem) => !/status of 401/.test(problem)));
    await page.locator('[data-notice="token"] button', { hasText: 'Enter the token' }).click();
    await page.locator('dialog[open] input[name="token"]').fill(TOKEN);
    await page.locator('dialog[open] button[type="submit"]').click();
    await page.locator('.token-state.set').waitFor();
    await card(page, 'web').waitFor();
    await card(page, 'slow').waitFor();
    assert.equal(await card(page, 'web').locator('.tag').textContent(), 'systemd');
    assert.equal(await card(page, 'slow').locator('.tag').textContent(), 'systemd-remote');
    assert.match((await card(page, 'web').locator('.badge').textContent())!, /⚠ interrupted/, 'the run of a stopped process shows as interrupted');
    assert.equal(await page.locator('[data-notice]').count(), 0, 'the notice goes once a token is given');
    await page.reload();
    await card(page, 'web').waitFor();
    assert.equal(await page.locator('.token-state').textContent(), 'token set', 'kept in session storage');
    assert.ok(authorizations.includes(`Bearer ${TOKEN}`));
    assert.ok(!page.url().includes(TOKEN));
    await screenshot(page, 'dashboard-targets');
  }, { token: false });
});

test('a deploy started from the page: each step node turns running then success, live, and the output arrives as it is printed', { skip }, async () => {
  await withPage(WIDE, async (watched) => {
    const { page } = watched;
    const runId = await deployFromCard(page, 'web');
    await page.evaluate('window.__notReloaded = true');
    // The build prints, then sleeps: its output is on the page while its node still says running.
    await page.locator('details[data-step="build"] pre', { hasText: 'compiling web' }).waitFor({ timeout: RUN_TIMEOUT });
    assert.equal(await node(page, 'build').getAttribute('data-status'), 'running');
    assert.match((await node(page, 'build').textContent())!, /⟳ running/, 'state by icon and word');
    await screenshot(page, 'dashboard-run-live');
    await waitForRunStatus(page, 'success');
    assert.equal(await page.evaluate('window.__notReloaded'), true, 'the page was never reloaded');

    const seen = (await watched.stepStates())[String(runId)];
    for (const step of ['sshCheck', 'build', 'rsync', 'chmod', 'restart', 'healthCheck']) {
      const states = seen[step] ?? [];
      assert.ok(states.includes('running') && states.indexOf('running') < states.lastIndexOf('success'), `${step} went ${states.join(' → ')}`);
      assert.equal(states.at(-1), 'success');
      assert.match((await node(page, step).textContent())!, /✓ success/);
    }
    for (const step of ['rollback', 'restartPrevious', 'healthCheckPrevious']) {
      assert.equal(await node(page, step).getAttribute('data-status'), 'skipped');
      assert.equal(await node(page, step).getAttribute('data-lit'), 'false', 'the compensation path stays dark when it does not run');
    }
    assert.equal(await page.locator('svg.dag .comp-box').getAttribute('data-lit'), 'false');
    assert.match((await page.locator('details[data-step="build"] pre').textContent())!, /compiling web\n[\s\S]*built .*web v1/);
    assert.equal(await page.locator('.gantt-row').count(), 6, 'a timeline bar per step that ran');
    await screenshot(page, 'dashboard-run-success');
  });
});

test('a failing health check: the failed node, and the compensation path lit as it runs', { skip }, async () => {
  writeAppSource(webSource, 'broken-v2');
  let runId = 0;
  try {
    await withPage(WIDE, async (watched) => {
      const { page } = watched;
      runId = await deployFromCard(page, 'web');
      await waitForRunStatus(page, 'failure');
      await node(page, 'healthCheckPrevious').and(page.locator('[data-status="success"]')).waitFor();
      assert.equal(await node(page, 'healthCheck').getAttribute('data-status'), 'failure');
      assert.match((await node(page, 'healthCheck').textContent())!, /✗ failed/);
      for (const step of ['rollback', 'restartPrevious', 'healthCheckPrevious']) {
        assert.equal(await node(page, step).getAttribute('data-status'), 'success');
        assert.equal(await node(page, step).getAttribute('data-lit'), 'true');
      }
      assert.equal(await page.locator('svg.dag .comp-box').getAttribute('data-lit'), 'true');
      assert.ok((await page.locator('svg.dag path.edge.failure.lit').count()) >= 1, 'the failure edge into the compensation path is lit');
      const seen = (await watched.stepStates())[String(runId)];
      assert.ok(seen.rollback.includes('running'), `rollback went ${seen.rollback.join(' → ')}`);
      await page.locator('.facts', { hasText: 'rolled back' }).waitFor();
      assert.match((await page.locator('details[data-step="healthCheck"] .step-error').textContent())!, /not green after 2 s/);
      await screenshot(page, 'dashboard-run-rollback');
    });
    await withPage(NARROW, async ({ page }) => {
      await page.goto(`/#/runs/${runId}`);
      await node(page, 'healthCheck').and(page.locator('[data-status="failure"]')).waitFor();
      assert.ok((await pageWidth(page)) <= NARROW.width, 'no horizontal scroll at 390 px');
      assert.ok(await node(page, 'healthCheckPrevious').isVisible());
      await screenshot(page, 'dashboard-run-390');
    });
  } finally {
    writeAppSource(webSource, 'v1');
  }
});

test('cancel from the page kills the remote command; the request a newer one replaced shows as superseded', { skip }, async () => {
  const pidFile = path.join(slowDir, 'sleep.pid');
  const remotePid = async (not?: number) => {
    await until(() => fs.existsSync(pidFile) && /^\d+$/.test(fs.readFileSync(pidFile, 'utf8').trim()) && Number(fs.readFileSync(pidFile, 'utf8')) !== not, 20_000);
    return Number(fs.readFileSync(pidFile, 'utf8'));
  };
  await withPage(WIDE, async ({ page }) => {
    const first = await deployFromCard(page, 'slow');
    await node(page, 'build').and(page.locator('[data-status="running"]')).waitFor({ timeout: RUN_TIMEOUT });
    const pid = await remotePid();
    assert.ok(processAlive(pid));
    // Two more requests while it runs: one follow-up waits, and the second replaces the first.
    const replaced = (await postApi('/api/deploy/slow')).body.queued[0];
    const newest = (await postApi('/api/deploy/slow')).body.queued[0];
    const [replacedId, newestId] = [replaced.run_id, newest.run_id];

    await page.locator('button[data-action="cancel"]').click();
    await page.locator('dialog[open] button[data-confirm="yes"]').click();
    await waitForRunStatus(page, 'cancelled');
    assert.equal(await node(page, 'build').getAttribute('data-status'), 'cancelled');
    assert.match((await node(page, 'build').textContent())!, /⊘ cancelled/);
    await until(() => !processAlive(pid), 10_000);
    assert.equal(Number(await page.locator('section[data-run]').getAttribute('data-run')), first);

    // The newest request runs next; its page names the request it replaced, and cancels it too.
    await page.goto(`/#/runs/${newestId}`);
    await page.locator('.facts a', { hasText: `#${replacedId}` }).waitFor({ timeout: RUN_TIMEOUT });
    const second = await remotePid(pid);
    await node(page, 'build').and(page.locator('[data-status="running"]')).waitFor({ timeout: RUN_TIMEOUT });
    await page.locator('button[data-action="cancel"]').click();
    await page.locator('dialog[open] button[data-confirm="yes"]').click();
    await waitForRunStatus(page, 'cancelled');
    await until(() => !processAlive(second), 10_000);

    await page.goto(`/#/runs/${replacedId}`);
    await page.locator('[data-run-status="cancelled"]', { hasText: `superseded by #${newestId}` }).waitFor();
  });
});

test('runs list: newest first, live for runs of this server and of another process, filtered by app, host, status and trigger', { skip }, async () => {
  await withPage(WIDE, async ({ page }) => {
    await page.goto('/#/runs');
    await page.locator('table.runs tbody tr[data-run]').first().waitFor();
    const ids = await page.locator('table.runs tbody tr[data-run]').evaluateAll((rows) => rows.map((r) => Number(r.getAttribute('data-run'))));
    assert.deepEqual(ids, [...ids].sort((a, b) => b - a), 'newest first');
    assert.ok((await page.locator('tr[data-status="superseded"]', { hasText: /superseded by #\d+/ }).count()) >= 1);
    assert.ok((await page.locator('tr[data-status="interrupted"]', { hasText: 'interrupted' }).count()) >= 1);

    // A deploy by another process (the CLI, on the same database) appears and finishes without a reload.
    const cli = runCliInProcess(['deploy', 'web', '--json'], world.env);
    const newRow = page.locator('table.runs tbody tr[data-run]').first();
    await page.waitForFunction((newest) => Number((globalThis as any).document.querySelector('table.runs tbody tr[data-run]')?.getAttribute('data-run')) > newest, ids[0], { timeout: RUN_TIMEOUT });
    const [report] = JSON.parse((await cli).stdout);
    assert.equal(Number(await newRow.getAttribute('data-run')), report.id);
    await page.locator(`tr[data-run="${report.id}"][data-status="success"]`).waitFor({ timeout: RUN_TIMEOUT });
    assert.equal(await page.locator(`tr[data-run="${report.id}"] td.trigger`).textContent(), 'cli');

    await page.locator('select[name="app"]').selectOption('slow');
    await page.waitForFunction(() => [...(globalThis as any).document.querySelectorAll('table.runs tbody tr[data-run] td.target')].every((td: { textContent: string }) => td.textContent.startsWith('slow')));
    await page.locator('select[name="status"]').selectOption('superseded');
    assert.ok((await page.locator('table.runs tbody tr[data-run]').count()) >= 1);
    assert.equal(await page.locator('table.runs tbody tr[data-run]:not([data-status="superseded"])').count(), 0);
    assert.match(page.url(), /#\/runs\?app=slow&status=superseded$/, 'filters are in the hash');
    await page.locator('select[name="app"]').selectOption('');
    await page.locator('select[name="status"]').selectOption('');
    await page.locator('select[name="trigger"]').selectOption('api');
    assert.equal(await page.locator('table.runs tbody tr[data-run] td.trigger:not(:text-is("api"))').count(), 0);
    await page.locator('select[name="trigger"]').selectOption('');
    await screenshot(page, 'dashboard-runs');
  });
});

test('at 390 px wide the targets and the runs fit the screen', { skip }, async () => {
  await withPage(NARROW, async ({ page }) => {
    await page.goto('/');
    await card(page, 'web').waitFor();
    assert.ok((await pageWidth(page)) <= NARROW.width, 'no horizontal scroll');
    assert.ok(await card(page, 'web').locator('button[data-action="deploy"]').isVisible());
    await screenshot(page, 'dashboard-targets-390');
    await page.goto('/#/runs');
    await page.locator('table.runs tbody tr[data-run]').first().waitFor();
    assert.ok((await pageWidth(page)) <= NARROW.width, 'no horizontal scroll');
    await screenshot(page, 'dashboard-runs-390');
  });
});

test('budget: the first render of / with 1,000 runs in the database, on loopback', { skip: skipUnlessAllowed(browserUnavailable()) }, async (t) => {
  const dbPath = path.join(makeTempDir(t), 'operations.db');
  const env = { DEPLOY_DB: dbPath };
  for (const [app, host, strategy] of [['shop', 'vps1', 'systemd'], ['shop', 'vps2', 'systemd'], ['api', 'vps1', 'systemd-remote'], ['chat', 'vps3', 'docker-compose']]) {
    assert.equal((await runCliInProcess(['target', 'add', '--app', app, '--host', host, '--strategy', strategy], env)).code, 0);
  }
  await seedRuns(dbPath, 1000, [{ app: 'shop', host: 'vps1', strategy: 'systemd' }, { app: 'shop', host: 'vps2', strategy: 'systemd' }, { app: 'api', host: 'vps1', strategy: 'systemd-remote' }, { app: 'chat', host: 'vps3', strategy: 'docker-compose' }]);
  // No token here: reads are open only in development mode.
  const server = await startServe(env, ['--insecure-api']);
  const local = browser ?? (await launchBrowser());
  try {
    const times: number[] = [];
    for (let i = 0; i < 5; i++) {
      const watched = await openPage(local, server.url, WIDE);
      await watched.page.goto('/');
      await watched.page.locator('[data-view="targets"][data-ready]').waitFor();
      times.push(Math.round((await watched.page.evaluate(`performance.getEntriesByName('dashboard:first-render')[0].startTime`)) as number));
      assert.equal(await watched.page.locator('article.target').count(), 4);
      assert.deepEqual(watched.problems, []);
      await watched.close();
    }
    // From navigation start to the targets grid drawn with its data, a fresh browser context (cold cache) each time.
    const [load] = os.loadavg();
    console.log(`first render of / with 1,000 runs: ${times.join(' ms, ')} ms (navigation start → targets drawn, cold cache; load average ${load.toFixed(1)} on ${os.cpus().length} cores)`);
    // The budget is for a machine that has time for it: on one whose every core is busy twice over
    // (other test suites, say), the numbers are printed but not held against the page.
    if (load < 2 * os.cpus().length) assert.ok(Math.min(...times) < 300, `first render ${times.join(', ')} ms`);
    else t.diagnostic(`budget not asserted: load average ${load.toFixed(1)} on ${os.cpus().length} cores`);
  } finally {
    if (!browser) await local.close();
    await stopChild(server.child);
  }
});
