import type { StepContext } from '../engine/pipeline.ts';

/**
 * Opens the run's SSH connection: the connection is the check (host key verified, a key accepted),
 * with no command of its own. A shell that cannot start (a nologin account) fails the first command
 * ("cannot run commands on …"): waiting here for one would cost that command a round trip.
 */
export async function sshCheck(context: StepContext): Promise<void> {
  const host = await context.deploy.remote();
  context.output(`connected to ${context.deploy.target.host} as ${host.user}\n`);
  for (const note of host.notes) context.output(`note: ${note}\n`);
}
