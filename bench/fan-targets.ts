// The fan-out benches' targets: one docker-compose app on many host aliases of the loopback sshd, each
// with a checkout of its own on the "host" (what `setup` would clone), ready for saveTarget.
import { execFileSync } from 'node:child_process';
import path from 'node:path';
import { createOrigin } from '../test/helpers/deploy-fixture.ts';
import type { SshdHarness } from '../test/helpers/sshd.ts';

export function fanTargets(harness: SshdHarness, app: string, aliases: readonly string[]) {
  const repo = createOrigin(harness, app, { 'docker-compose.yml': 'services: {}\n' });
  return aliases.map((alias) => {
    const dir = path.join(harness.workDir, `${app}-${alias}`);
    // The checkouts belong to the SSH user (git refuses a repository of another user).
    const clone = ['git', 'clone', '-q', repo.origin, dir];
    const asSshUser = process.getuid!() === 0 ? ['runuser', '-u', harness.user, '--', ...clone] : clone;
    execFileSync(asSshUser[0], asSshUser.slice(1));
    return { app, host: alias, strategy: 'docker-compose' as const, remote_dir: dir, repo: repo.origin };
  });
}
