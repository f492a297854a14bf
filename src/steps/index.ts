// Step bodies of the strategy pipelines. The SSH transport fills them in; their signatures are final.
import type { StepContext } from '../pipeline.ts';

export interface BuildArtifact {
  /** Absolute path of the built binary on this machine. */
  artifactPath: string;
}

export class NotImplementedError extends Error {
  override name = 'NotImplementedError';
}

function notYet(step: string): never {
  throw new NotImplementedError(`step ${step} is not implemented yet`);
}

export async function sshCheck(_: StepContext): Promise<void> {
  notYet('sshCheck');
}
export async function localBuild(_: StepContext): Promise<BuildArtifact> {
  notYet('build');
}
export async function rsyncBinary(_: StepContext<{ build: BuildArtifact }>): Promise<void> {
  notYet('rsync');
}
export async function chmodBinary(_: StepContext): Promise<void> {
  notYet('chmod');
}
export async function restartService(_: StepContext): Promise<void> {
  notYet('restart');
}
export async function gitPull(_: StepContext): Promise<void> {
  notYet('gitPull');
}
export async function remoteBuild(_: StepContext): Promise<void> {
  notYet('build');
}
export async function composePull(_: StepContext): Promise<void> {
  notYet('pull');
}
export async function composeUp(_: StepContext): Promise<void> {
  notYet('up');
}
export async function healthCheck(_: StepContext): Promise<void> {
  notYet('healthCheck');
}
