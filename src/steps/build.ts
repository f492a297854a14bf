import { existsSync } from 'node:fs';
import path from 'node:path';
import { remoteBuild as remoteBuildCommand } from '../commands/build.ts';
import type { StepContext } from '../pipeline.ts';
import { runLocalStep, runRemote } from './remote.ts';

export interface BuildArtifact {
  /** Absolute path of the built binary on this machine. */
  artifactPath: string;
}

/** systemd: `build_cmd` here, in `<registry root>/<source_dir or apps/<app>>`; its product is the binary. */
export async function localBuild(context: StepContext): Promise<BuildArtifact> {
  const { target, config } = context.deploy;
  const dir = path.resolve(config.registryRoot, target.source_dir || path.join('apps', target.app));
  if (!existsSync(dir)) throw new Error(`source directory ${dir} does not exist (set --source-dir, or DEPLOY_REGISTRY_ROOT)`);
  if (target.build_cmd) {
    context.output(`$ ${target.build_cmd}   (in ${dir})\n`);
    await runLocalStep(context, 'build', ['/bin/sh', '-c', target.build_cmd], dir);
  }
  const artifactPath = path.join(dir, target.binary);
  if (!existsSync(artifactPath)) throw new Error(`the build did not produce ${artifactPath} (binary "${target.binary}")`);
  return { artifactPath };
}

/** systemd-remote: `build_cmd` on the host, in `remote_dir`. */
export async function remoteBuild(context: StepContext): Promise<void> {
  const { target } = context.deploy;
  if (!target.build_cmd) {
    context.output('no build command: nothing to build\n');
    return;
  }
  await runRemote(context, remoteBuildCommand(target.remote_dir, target.build_cmd));
}
