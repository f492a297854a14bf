import { setTimeout as sleep } from 'node:timers/promises';
import type { DeployContext, StepContext } from '../engine/pipeline.ts';
import { checkServiceRunning } from './service.ts';

/**
 * When the next attempt starts, counted from the start of the one before: 50 ms after the first (a
 * restarted service is often up within 100 ms), every 100 ms for the first 5 s (a refused attempt is
 * one channel open, cheap for the host; a service waits no longer than that to be seen), then every 500 ms.
 */
export function retryDelayMs(attempt: number, elapsedMs: number): number {
  return attempt === 1 ? 50 : elapsedMs < 5000 ? 100 : 500;
}

/** Whether the health check is an HTTP GET through the tunnel (a port and a path), or the service's state. */
const checksHttp = (target: DeployContext['target']): boolean => Boolean(target.port && target.health);

/**
 * GET http://127.0.0.1:<port><health> as seen from the host, through the run's SSH connection, until
 * a 2xx or the deadline; the error carries the last status and a body excerpt.
 */
export async function healthCheck(context: StepContext): Promise<{ status: number } | void> {
  const { target, config } = context.deploy;
  if (!checksHttp(target)) return checkServiceRunning(context);
  const host = await context.deploy.remote();
  const url = `http://127.0.0.1:${target.port}${target.health}`;
  const started = Date.now();
  const deadline = started + config.healthTimeoutMs;
  let last = 'no answer yet';
  for (let attempt = 1; ; attempt++) {
    const attemptStarted = Date.now();
    const remaining = deadline - attemptStarted;
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
    // The delay counts from the attempt's start: over a slow link a refused attempt has already waited
    // its round trip, and the next one goes at once.
    const delay = Math.max(0, attemptStarted + retryDelayMs(attempt, attemptStarted - started) - Date.now());
    if (Date.now() + delay > deadline) break;
    await sleep(delay, undefined, { signal: context.signal });
  }
  throw new Error(`health check ${url} on ${target.host} not green after ${config.healthTimeoutMs / 1000} s: last answer ${last}`);
}
/** Its commands on the host: none for an HTTP check (a tunnel), `systemctl is-active` (or `docker compose ps`) otherwise. */
healthCheck.remoteCommands = ({ target }: DeployContext): number => (checksHttp(target) ? 0 : 1);
