/**
 * A real Chromium (Debian's `chromium`, driven by playwright-core) for the dashboard tests: headless,
 * no sandbox (we run as root), no background traffic. Each page records console errors, uncaught
 * exceptions and any request that would leave the machine, and every state each step node of the DAG
 * was drawn in (a MutationObserver sees nodes that a later redraw replaced in the same task).
 */
import fs from 'node:fs';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';

export const CHROMIUM = '/usr/bin/chromium';

export function browserUnavailable(): string | null {
  return fs.existsSync(CHROMIUM) ? null : `${CHROMIUM} is not installed (apt-get install chromium; .ci/run does)`;
}

export function launchBrowser(): Promise<Browser> {
  return chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'],
  });
}

export interface WatchedPage {
  page: Page;
  context: BrowserContext;
  /** Console errors, page errors and requests to anywhere but the server, in order. */
  problems: string[];
  /** Every state each node was drawn in, per run: `{ "12": { build: ["pending", "running", "success"] } }`. */
  stepStates: () => Promise<Record<string, Record<string, string[]>>>;
  close: () => Promise<void>;
}

const RECORD_STEP_STATES = `
  window.__stepStates = {};
  new MutationObserver((records) => {
    for (const record of records) {
      const view = record.target.closest && record.target.closest('[data-run]');
      if (!view) continue;
      const run = view.getAttribute('data-run');
      for (const added of record.addedNodes) {
        if (added.nodeType !== 1) continue;
        const nodes = added.matches('g[data-step]') ? [added] : [...added.querySelectorAll('g[data-step]')];
        for (const node of nodes) {
          const states = (window.__stepStates[run] ??= {});
          const seen = (states[node.getAttribute('data-step')] ??= []);
          const status = node.getAttribute('data-status');
          if (seen[seen.length - 1] !== status) seen.push(status);
        }
      }
    }
  }).observe(document, { childList: true, subtree: true });
`;

export async function openPage(browser: Browser, baseURL: string, options: { width: number; height: number; token?: string }): Promise<WatchedPage> {
  const context = await browser.newContext({ baseURL, viewport: { width: options.width, height: options.height } });
  if (options.token) await context.addInitScript(`sessionStorage.setItem('deploy_server.token', ${JSON.stringify(options.token)})`);
  await context.addInitScript(RECORD_STEP_STATES);
  const page = await context.newPage();
  const problems: string[] = [];
  page.on('console', (message) => {
    if (message.type() === 'error') problems.push(`console: ${message.text()}`);
  });
  page.on('pageerror', (error) => problems.push(`page error: ${error.message}`));
  page.on('request', (request) => {
    const url = request.url();
    if (!url.startsWith(baseURL) && !url.startsWith('data:')) problems.push(`request off the machine: ${url}`);
  });
  return {
    page,
    context,
    problems,
    stepStates: () => page.evaluate('window.__stepStates') as Promise<Record<string, Record<string, string[]>>>,
    close: () => context.close(),
  };
}

/** The widest the page is: wider than the viewport means a horizontal scroll bar. */
export function pageWidth(page: Page): Promise<number> {
  return page.evaluate('document.documentElement.scrollWidth') as Promise<number>;
}
