import { createHmac } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import type { Config } from '../../src/support/config.ts';
import type { Pipeline } from '../../src/engine/pipeline.ts';
import { createApp, type AppDeps } from '../../src/server/app.ts';
import { createPushReceiver } from '../../src/domain/push.ts';
import { createTestExecutor } from './engine.ts';

type TestContext = Parameters<typeof createTestExecutor>[0];

/**
 * The real app (createApp) on 127.0.0.1, over a real database (SQLite unless asked) and the real executor running
 * in-process steps; the request log is captured.
 */
export async function startTestApi(
  t: TestContext,
  options: {
    pipeline: Pipeline;
    targets?: { app: string; host: string; branch?: string; env?: Record<string, string>; repo_name?: string }[];
    config?: Partial<Config>;
    insecureWebhooks?: boolean;
    /** Default true: most tests exercise routes, not the token (the tests of the token turn it off). */
    insecureApi?: boolean;
    readStatus?: AppDeps['readStatus'];
    metrics?: AppDeps['metrics'];
    /** Another server on the same PostgreSQL database (see createTestExecutor). */
    dbUrl?: string;
    shared?: { serverId: string; leaseMs?: number };
  },
) {
  const engine = await createTestExecutor(t, options);
  let log = '';
  const logger = pino({ level: 'info' }, new Writable({ write: (chunk, _enc, done) => { log += chunk; done(); } }));
  const pushes = createPushReceiver({ orm: engine.orm, store: engine.store, config: engine.config, executor: engine.executor, logger });
  const app = createApp({ orm: engine.orm, store: engine.store, config: engine.config, executor: engine.executor, logger, pushes, insecureWebhooks: options.insecureWebhooks, insecureApi: options.insecureApi ?? true, readStatus: options.readStatus, metrics: options.metrics });
  const server = app.listen(0, '127.0.0.1');
  await new Promise((resolve) => server.once('listening', resolve));
  t.after(() => {
    server.closeAllConnections();
    return new Promise((resolve) => server.close(resolve));
  });
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return { ...engine, url, pushes, log: () => log };
}

export function sign(body: Buffer | string, secret: string): string {
  return createHmac('sha256', secret).update(body).digest('hex');
}

export async function postJson(url: string, body: unknown, headers: Record<string, string> = {}) {
  const response = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify(body) });
  return { status: response.status, body: (await response.json()) as any };
}

export async function postWebhook(url: string, body: Buffer | string, headers: Record<string, string>) {
  const response = await fetch(`${url}/webhook/push`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body });
  return { status: response.status, body: (await response.json()) as any };
}

export async function getJson(url: string, headers: Record<string, string> = {}) {
  const response = await fetch(url, { headers });
  return { status: response.status, body: (await response.json()) as any };
}
