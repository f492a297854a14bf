// GET /api/status opens an SSH login per host it reads: a flood of requests must not become a flood of
// logins (sshd's MaxStartups would then refuse the real deploys' sshCheck). A short cache, one read in
// flight per target shared by every request that wants it, and one login at a time per host.
import type { Config } from '../support/config.ts';
import type { TargetFields } from './target-schema.ts';
import type { ServiceStatus } from './service-status.ts';

type ReadStatus = (target: TargetFields, config: Config) => Promise<ServiceStatus>;

/** How long a host's answer is reused. */
export const STATUS_CACHE_MS = 5_000;

export function createStatusCache(read: ReadStatus, options: { ttlMs?: number; now?: () => number } = {}): ReadStatus {
  const ttlMs = options.ttlMs ?? STATUS_CACHE_MS;
  const now = options.now ?? Date.now;
  // (app, host) → its answer; `until` is Infinity while the read is in flight.
  const entries = new Map<string, { until: number; value: Promise<ServiceStatus> }>();
  // host → the end of the last read queued for it: reads of one host run one after another.
  const hosts = new Map<string, Promise<unknown>>();

  return (target, config) => {
    const key = JSON.stringify([target.app, target.host]);
    const entry = entries.get(key);
    if (entry && now() < entry.until) return entry.value;
    for (const [k, e] of entries) if (now() >= e.until) entries.delete(k);

    const previous = hosts.get(target.host) ?? Promise.resolve();
    const value = previous.then(() => read(target, config));
    const done = value.then(() => undefined, () => undefined);
    hosts.set(target.host, done);
    const fresh = { until: Infinity, value };
    entries.set(key, fresh);
    void done.then(() => {
      if (hosts.get(target.host) === done) hosts.delete(target.host);
    });
    value.then(
      () => (fresh.until = now() + ttlMs),
      () => entries.get(key) === fresh && entries.delete(key), // a failure is not kept
    );
    return value;
  };
}
