import { composeStatus } from '../transport/remote/compose.ts';
import { serviceStatus } from '../transport/remote/systemd.ts';
import { usesSudo, type Config } from '../support/config.ts';
import type { TargetFields } from './target-schema.ts';
import { createTargetRedactor } from '../support/redact.ts';
import type { Connect } from '../transport/ssh/connect.ts';

/** A status that hangs (a wedged docker daemon) must not hang the API. */
const STATUS_TIMEOUT_MS = 15_000;

export interface ServiceStatus {
  host: string;
  strategy: string;
  /** systemctl status exits 0 only for an active unit; compose ps for a project it can read. */
  active: boolean;
  output: string;
  error?: string;
}

/**
 * `systemctl status <app>` (systemd strategies) or `docker compose ps` on the target's host, masked
 * like step output (a unit's status shows its command line and journal lines).
 */
export async function readServiceStatus(target: TargetFields, config: Config, connect: Connect, options: { timeoutMs?: number } = {}): Promise<ServiceStatus> {
  const redact = createTargetRedactor(target, config);
  const status = await readStatusUnmasked(target, config, connect, options.timeoutMs ?? STATUS_TIMEOUT_MS);
  return { ...status, output: redact(status.output), ...(status.error ? { error: redact(status.error) } : {}) };
}

async function readStatusUnmasked(target: TargetFields, config: Config, connect: Connect, timeoutMs: number): Promise<ServiceStatus> {
  const base = { host: target.host, strategy: target.strategy };
  try {
    const host = await connect(target.host);
    try {
      const command = target.strategy === 'docker-compose' ? composeStatus(target) : serviceStatus(target.app, usesSudo(config, host.user));
      const result = await host.exec(command, { signal: AbortSignal.timeout(timeoutMs) }).catch((error: Error) => {
        // The remote command was killed (its process group); say what hung instead of "aborted".
        throw error.name === 'TimeoutError' ? new Error(`${command.name} on ${target.host} did not answer within ${timeoutMs / 1000} s`) : error;
      });
      return { ...base, active: result.code === 0, output: result.stdout + result.stderr };
    } finally {
      await host.close();
    }
  } catch (error) {
    return { ...base, active: false, output: '', error: (error as Error).message };
  }
}
