import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { gzipSync } from 'node:zlib';
import { Router, type Request, type RequestHandler, type Response } from 'express';
import type { Logger } from 'pino';
import type { RunEvent } from '../engine/events.ts';
import type { Executor } from '../engine/executor.ts';
import { describePipeline, type Pipeline } from '../engine/pipeline.ts';
import { isFinished, type RunChange, type RunStore } from '../engine/run-store.ts';
import { parseLimit } from './params.ts';
import { openEventStream, sendEvent } from './sse.ts';

export interface DashboardDeps {
  store: RunStore;
  executor: Executor;
  logger?: Logger;
  /** Guards the dashboard's own read routes like the API's reads (a read token, once there is one). */
  readAuth: RequestHandler;
  /** How often the live runs stream looks in the database for runs of other processes (CLI deploys). */
  pollMs?: number;
}

const WEB_ROOT = new URL('../../web/', import.meta.url).pathname;

/**
 * The page's policy: everything from this server, nothing inline, nothing framed. The bundle needs no
 * `eval`, no inline style attribute (styles are set through the CSSOM) and no other origin.
 */
export const DASHBOARD_CSP = [
  "default-src 'self'", "script-src 'self'", "style-src 'self'", "img-src 'self'", "connect-src 'self'", "font-src 'self'",
  "object-src 'none'", "base-uri 'none'", "form-action 'none'", "frame-ancestors 'none'",
].join('; ');

interface Asset {
  body: Buffer;
  gzip: Buffer;
  type: string;
}

export interface DashboardBundle {
  html: Asset;
  /** By content-hashed name (`main-3FJ2KQ.js`), served under /assets/. */
  assets: Map<string, Asset>;
  /** Bytes of everything the page loads, gzipped: the HTML and every asset. */
  gzippedBytes: number;
}

const TYPES: Record<string, string> = {
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
};

const asset = (body: Buffer | string, type: string): Asset => {
  const bytes = Buffer.from(body);
  return { body: bytes, gzip: gzipSync(bytes, { level: 9 }), type };
};

/**
 * Bundles web/ with esbuild, in memory: content-hashed names, minified, one JS and one CSS file; the
 * page, its assets and their gzipped forms.
 */
export async function buildDashboard(): Promise<DashboardBundle> {
  const { build } = await import('esbuild');
  const result = await build({
    entryPoints: [`${WEB_ROOT}main.ts`],
    bundle: true,
    minify: true,
    format: 'esm',
    target: ['es2022'],
    write: false,
    outdir: '/assets',
    entryNames: '[name]-[hash]',
    legalComments: 'none',
    logLevel: 'silent',
    tsconfig: `${WEB_ROOT}tsconfig.json`,
  });
  const assets = new Map<string, Asset>();
  for (const file of result.outputFiles) {
    const name = file.path.slice(file.path.lastIndexOf('/') + 1);
    assets.set(name, asset(Buffer.from(file.contents), TYPES[name.slice(name.lastIndexOf('.'))] ?? 'application/octet-stream'));
  }
  const icon = await readFile(`${WEB_ROOT}favicon.svg`);
  const iconName = `favicon-${createHash('sha256').update(icon).digest('hex').slice(0, 10)}.svg`;
  assets.set(iconName, asset(icon, TYPES['.svg']));
  const named = (ext: string) => [...assets.keys()].find((name) => name.startsWith('main-') && name.endsWith(ext));
  const html = asset(
    [
      '<!doctype html>',
      '<html lang="en"><head><meta charset="utf-8">',
      '<meta name="viewport" content="width=device-width, initial-scale=1">',
      '<title>deploy_server</title>',
      `<link rel="icon" type="image/svg+xml" href="/assets/${iconName}">`,
      `<link rel="stylesheet" href="/assets/${named('.css')}">`,
      `<script type="module" src="/assets/${named('.js')}"></script>`,
      '</head><body><noscript>The deploy_server dashboard needs JavaScript; the API is under /api.</noscript></body></html>',
      '',
    ].join('\n'),
    'text/html; charset=utf-8',
  );
  const gzippedBytes = [html, ...assets.values()].reduce((sum, a) => sum + a.gzip.length, 0);
  return { html, assets, gzippedBytes };
}

function sendAsset(req: Request, res: Response, file: Asset): void {
  res.setHeader('content-type', file.type);
  res.setHeader('x-content-type-options', 'nosniff');
  res.setHeader('vary', 'accept-encoding');
  const gzip = /\bgzip\b/.test(String(req.headers['accept-encoding'] ?? ''));
  if (gzip) res.setHeader('content-encoding', 'gzip');
  res.end(gzip ? file.gzip : file.body);
}

/** A pipeline as plain data for the browser: its steps, edges, and which steps are the compensation path. */
function viewPipeline(pipeline: Pipeline) {
  return { ...describePipeline(pipeline), compensation: pipeline.order.filter((id) => pipeline.compensation.has(id)) };
}


/**
 * Run-level changes of every run, for the live lists: this process's executor at once, and the
 * database polled for the runs of other processes (CLI deploys write the same operations.db). Only
 * runs while someone listens.
 */
class RunChangeFeed {
  private readonly clients = new Set<(change: RunChange) => void>();
  private readonly known = new Map<number, string>();
  private maxId = 0;
  private stopExecutor?: () => void;
  private timer?: NodeJS.Timeout;
  private polling?: Promise<void>;
  private starting?: Promise<void>;

  constructor(private readonly deps: DashboardDeps) {}

  async add(client: (change: RunChange) => void): Promise<() => void> {
    this.clients.add(client);
    this.starting ??= this.start();
    try {
      await this.starting;
    } catch (error) {
      // The database failed at start: unsubscribe and forget, so that the next client starts afresh.
      this.clients.delete(client);
      if (this.clients.size === 0) this.stop();
      throw error;
    }
    return () => {
      this.clients.delete(client);
      if (this.clients.size === 0) this.stop();
    };
  }

  private publish(change: RunChange): void {
    if (this.known.get(change.run_id) === change.status) return;
    this.known.set(change.run_id, change.status);
    this.maxId = Math.max(this.maxId, change.run_id);
    if (isFinished(change.status)) this.known.delete(change.run_id);
    for (const client of this.clients) client(change);
  }

  private async start(): Promise<void> {
    this.stopExecutor = this.deps.executor.subscribe((event: RunEvent) => {
      if (event.type === 'run') this.publish({ run_id: event.run_id, app: event.app, host: event.host, status: event.status, trace_id: event.trace_id ?? null });
    });
    const { lastId, active } = await this.deps.store.runStates();
    this.maxId = Math.max(this.maxId, lastId);
    for (const run of active) this.known.set(run.id, run.status);
    this.timer = setInterval(() => {
      this.polling ??= this.poll().catch((error) => this.deps.logger?.warn({ err: { name: (error as Error)?.name } }, 'dashboard poll failed')).finally(() => (this.polling = undefined));
    }, this.deps.pollMs ?? 1000);
    this.timer.unref();
  }

  private stop(): void {
    this.stopExecutor?.();
    clearInterval(this.timer);
    this.known.clear();
    this.starting = undefined;
  }

  private async poll(): Promise<void> {
    const active = [...this.known.keys()];
    for (const change of await this.deps.store.runChanges(this.maxId, active)) this.publish(change);
  }
}

/**
 * The dashboard: the page at `/`, its bundle under /assets/, and the read routes only it needs —
 * `GET /api/pipelines` (each strategy's step DAG), `GET /api/target-history` (each target's last runs,
 * for the grid) and `GET /api/events` (run-level changes of every run, as Server-Sent Events).
 */
export function createDashboardRouter(deps: DashboardDeps): Router {
  const router = Router();
  const { readAuth } = deps;
  const feed = new RunChangeFeed(deps);
  // Built by the first request for the page, once per router: a server nobody browses never loads
  // esbuild or holds the bundle (idle RSS), and neither do the API tests.
  let bundling: Promise<DashboardBundle> | undefined;
  const bundleDashboard = () => {
    if (!bundling) {
      bundling = buildDashboard();
      bundling.catch((error) => {
        deps.logger?.error({ err: { name: (error as Error)?.name, message: (error as Error)?.message } }, 'dashboard bundle failed');
        bundling = undefined; // the next request tries again
      });
    }
    return bundling;
  };

  router.get('/', async (req, res) => {
    const bundle = await bundleDashboard();
    res.setHeader('cache-control', 'no-cache');
    res.setHeader('content-security-policy', DASHBOARD_CSP);
    res.setHeader('referrer-policy', 'no-referrer');
    res.setHeader('x-frame-options', 'DENY');
    sendAsset(req, res, bundle.html);
  });

  router.get('/assets/:name', async (req, res, next) => {
    const file = (await bundleDashboard()).assets.get(String(req.params.name));
    if (!file) return next();
    res.setHeader('cache-control', 'public, max-age=31536000, immutable');
    sendAsset(req, res, file);
  });

  router.get('/api/pipelines', readAuth, async (_req, res) => {
    const { pipelines } = await import('../../pipelines/index.ts');
    res.json(Object.fromEntries(Object.entries(pipelines).map(([strategy, p]) => [strategy, { deploy: viewPipeline(p.deploy), rollback: viewPipeline(p.rollback) }])));
  });

  router.get('/api/target-history', readAuth, async (req, res) => {
    res.json(await deps.store.targetHistory(parseLimit(req.query.limit, 100)));
  });

  router.get('/api/events', readAuth, async (req, res) => {
    openEventStream(res);
    res.write(': run changes\n\n');
    let open = true;
    const stop = await feed.add((change) => open && sendEvent(res, 'run', change));
    const ping = setInterval(() => open && res.write(': ping\n\n'), 15_000);
    const close = () => {
      if (!open) return;
      open = false;
      clearInterval(ping);
      stop();
      res.end();
    };
    req.on('close', close);
    if (req.destroyed) close();
  });

  return router;
}

