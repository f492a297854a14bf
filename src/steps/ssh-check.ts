import type { StepContext } from '../engine/pipeline.ts';
import { runRemote } from './remote.ts';

/** Opens the run's SSH connection (host key verified) and runs a first command over it. */
export async function sshCheck(context: StepContext): Promise<void> {
  const host = await context.deploy.remote();
  context.output(`connected to ${context.deploy.target.host} as ${host.user}\n`);
  for (const note of host.notes) context.output(`note: ${note}\n`);
  await runRemote(context, { name: 'uname', command: 'uname -snr' });
}
