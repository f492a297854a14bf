import type { StepContext } from '../engine/pipeline.ts';

/**
 * Opens the run's SSH connection: the connection is the check (host key verified, a key accepted),
 * with no command of its own. The first commands' shells are opening meanwhile; one that cannot start
 * (a nologin account) fails the first command, which does not wait here for it (see SshHost.ready).
 */
export async function sshCheck(context: StepContext): Promise<void> {
  const host = await context.deploy.remote();
  await host.ready();
  context.output(`connected to ${context.deploy.target.host} as ${host.user}\n`);
  for (const note of host.notes) context.output(`note: ${note}\n`);
}
