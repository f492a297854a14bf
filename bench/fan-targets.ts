// The fan-out benches' targets: one docker-compose app on many host aliases of the loopback sshd, each
// with a checkout of its own on the "host" (what `setup` would clone), ready for saveTarget.
import { execFileSync } from 'node:child_process';
import path from 'node:path';
import { createOrigin } from '../test/helpers/deploy-fixture.ts';
import { DEPLOY_USER, type SshdHarness } from '../test/helpers/sshd.ts';

export function fanTargets(harness: SshdHarness, app: string, aliases: readonly string[]) {
  const repo = createOrigin(harness, app, { 'docker-compose.yml': 'services: {}\n' });
  return aliases.map((alias) => {
    const dir = path.join(harness.workDir, `${app}-${alias}`);
    execFileSync('runuser', ['-u', DEPLOY_USER, '--', 'git', 'clone', '-q', repo.origin, dir]);
    return { app, host: alias, strategy: 'docker-compose' as const, remote_dir: dir, repo: repo.origin };
  });
}
