import { setTimeout as sleep } from 'node:timers/promises';
import type { StepContext } from '../engine/pipeline.ts';
import { checkServiceRunning } from './service.ts';

/** The first retries come quickly (a restarted service is often up within 100 ms), then every 500 ms. */
const RETRY_DELAYS_MS = [50, 100, 200, 500];

/**
 * GET http://127.0.0.1:<port><health> as seen from the host, through the run's SSH connection, until
 * a 2xx or the deadline; the error carries the last status and a body excerpt.
 */
export async function healthCheck(context: StepContext): Promise<{ status: number } | void> {
  const { target, config } = context.deploy;
  if (!target.port || !target.health) return checkServiceRunning(context);
  const host = await context.deploy.remote();
  const url = `http://127.0.0.1:${target.port}${target.health}`;
  const deadline = Date.now() + config.healthTimeoutMs;
  let last = 'no answer yet';
  for (let attempt = 1; ; attempt++) {
    const remaining = deadline - Date.now();
    try {
      const { status, body } = await host.httpGet(target.port, target.health, Math.max(100, Math.min(5000, remaining)));
      if (status >= 200 && status < 300) {
        context.output(`GET ${url} → ${status} (attempt ${attempt})\n`);
        return { status };
      }
      last = `HTTP ${status}: ${body.replace(/\s+/g, ' ').trim().slice(0, 200)}`;
    } catch (error) {
      last = (error as Error).message;
    }
    context.output(`GET ${url} → ${last}\n`);
    const delay = RETRY_DELAYS_MS[Math.min(attempt - 1, RETRY_DELAYS_MS.length - 1)];
    if (Date.now() + delay > deadline) break;
    await sleep(delay, undefined, { signal: context.signal });
  }
  throw new Error(`health check ${url} on ${target.host} not green after ${config.healthTimeoutMs / 1000} s: last answer ${last}`);
}
