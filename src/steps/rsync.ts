import path from 'node:path';
import { makeExecutable, swapInFile } from '../commands/fs.ts';
import type { StepContext } from '../pipeline.ts';
import type { BuildArtifact } from './build.ts';
import { runLocalStep, runRemote } from './remote.ts';

/**
 * Ships the built binary: rsync (over ssh with this run's exact settings) to a hidden upload file
 * beside it, then an atomic swap that keeps the previous binary as `<binary>.prev`.
 */
export async function rsyncBinary(context: StepContext<{ build: BuildArtifact }>): Promise<void> {
  const { target, config } = context.deploy;
  const host = await context.deploy.remote();
  const finalPath = path.posix.join(target.remote_dir, target.binary);
  const uploadPath = path.posix.join(target.remote_dir, `.${target.binary}.upload`);
  const argv = [
    'rsync',
    '--protect-args', // the remote path is one word, spaces and all, never read by a remote shell
    '--times',
    '--perms',
    '--compress',
    '-e',
    host.rsyncShell(config.sshConnectTimeoutMs),
    context.results.build.artifactPath,
    `${host.rsyncAddress}:${uploadPath}`,
  ];
  context.output(`$ rsync ${context.results.build.artifactPath} ${target.host}:${uploadPath}\n`);
  await runLocalStep(context, 'rsync', argv);
  await runRemote(context, swapInFile(uploadPath, finalPath));
}

export async function chmodBinary(context: StepContext): Promise<void> {
  const { target } = context.deploy;
  await runRemote(context, makeExecutable(path.posix.join(target.remote_dir, target.binary)));
}
