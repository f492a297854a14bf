import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { remoteBuild as remoteBuildCommand } from '../commands/build.ts';
import { runLocal } from '../local-process.ts';
import type { StepContext } from '../pipeline.ts';
import { runLocalStep, runRemote } from './remote.ts';

export interface BuildArtifact {
  /** Absolute path of the built binary on this machine. */
  artifactPath: string;
}

const SHA = /^[0-9a-f]{40}([0-9a-f]{24})?$/i;

/**
 * The tree to build: with a requested commit (a webhook's `after`, an API deploy's `commit`), a
 * detached git worktree of the registry root at exactly that commit, removed when the run ends;
 * without one (a deploy from the CLI), the registry root as it is on disk.
 */
async function sourceTree(context: StepContext): Promise<string> {
  const { config, commit } = context.deploy;
  if (!commit || !SHA.test(commit)) return config.registryRoot;
  const root = config.registryRoot;
  // The push may be newer than the registry root's copy: fetch, and carry on if that fails (no origin).
  await runLocal(['git', '-C', root, 'fetch', '--quiet', 'origin'], { signal: context.signal });
  const worktree = path.join(mkdtempSync(path.join(os.tmpdir(), `deploy_server-run${context.deploy.runId}-`)), 'tree');
  await runLocalStep(context, 'git worktree add', ['git', '-C', root, 'worktree', 'add', '--detach', '--force', worktree, commit]);
  context.deploy.atEnd(async () => {
    await runLocal(['git', '-C', root, 'worktree', 'remove', '--force', worktree]);
    rmSync(path.dirname(worktree), { recursive: true, force: true });
  });
  await context.record({ commit_after: commit });
  return worktree;
}

/** systemd: `build_cmd` here, in `<registry root>/<source_dir or apps/<app>>`; its product is the binary. */
export async function localBuild(context: StepContext): Promise<BuildArtifact> {
  const { target } = context.deploy;
  const tree = await sourceTree(context);
  const dir = path.resolve(tree, target.source_dir || path.join('apps', target.app));
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
