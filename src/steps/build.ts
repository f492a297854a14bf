import { copyFileSync, existsSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { remoteBuild as remoteBuildCommand } from '../transport/remote/build.ts';
import { isCommitId } from '../domain/commit-id.ts';
import { localBuildCommand } from '../transport/local/build.ts';
import { gitFetch, gitWorktreeAdd, gitWorktreePrune, gitWorktreeRemove } from '../transport/local/git.ts';
import { runLocal } from '../transport/local-process.ts';
import type { DeployContext, StepContext } from '../engine/pipeline.ts';
import { runLocalStep, runRemote } from './remote.ts';

export interface BuildArtifact {
  /** Absolute path of this run's copy of the built binary on this machine. */
  artifactPath: string;
}

/** A directory of this run's own on this machine, removed when the run ends. */
function runDirectory(context: StepContext): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), `deploy_server-run${context.deploy.runId}-`));
  context.deploy.atEnd(async () => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/**
 * The push may be newer than the registry root's copy: fetch, and carry on if that fails (no origin)
 * or hangs (a stalled origin gets config.gitFetchTimeoutMs, not the step's whole timeout): the commit
 * may be here already, and `git worktree add` says so if it is not.
 */
async function fetchRegistry(context: StepContext, root: string): Promise<void> {
  const timeoutMs = context.deploy.config.gitFetchTimeoutMs;
  const timeout = AbortSignal.timeout(timeoutMs);
  try {
    await runLocal(gitFetch(), { cwd: root, signal: AbortSignal.any([context.signal, timeout]) });
  } catch (error) {
    if (context.signal.aborted || !timeout.aborted) throw error;
    context.output(`git fetch timed out after ${timeoutMs / 1000}s: building from the commits already here\n`);
  }
}

/**
 * The tree to build: with a requested commit (a webhook's `after`, an API deploy's `commit`), a
 * detached git worktree of the registry root at exactly that commit; without one (a deploy from the
 * CLI), the registry root as it is on disk.
 */
async function sourceTree(context: StepContext, runDir: string): Promise<string> {
  const { config, commit } = context.deploy;
  if (!commit || !isCommitId(commit)) return config.registryRoot;
  const root = config.registryRoot;
  await fetchRegistry(context, root);
  const worktree = path.join(runDir, 'tree');
  context.deploy.atEnd(async () => {
    await runLocal(gitWorktreeRemove(worktree), { cwd: root });
    await runLocal(gitWorktreePrune(), { cwd: root });
  });
  await runLocalStep(context, 'git worktree add', gitWorktreeAdd(worktree, commit), root);
  await context.record({ commit_after: commit });
  return worktree;
}

/**
 * systemd: `build_cmd` here, in `<tree>/<source_dir or apps/<app>>`, one build per directory at a
 * time; the binary is copied out for this run, so another host's build cannot change what it ships.
 */
export async function localBuild(context: StepContext): Promise<BuildArtifact> {
  const { target } = context.deploy;
  const runDir = runDirectory(context);
  const tree = await sourceTree(context, runDir);
  const dir = path.resolve(tree, target.source_dir || path.join('apps', target.app));
  if (!existsSync(dir)) throw new Error(`source directory ${dir} does not exist (set --source-dir, or DEPLOY_REGISTRY_ROOT)`);
  return context.deploy.exclusive(dir, async () => {
    if (target.build_cmd) {
      context.output(`$ ${target.build_cmd}   (in ${dir})\n`);
      await runLocalStep(context, 'build', localBuildCommand(target.build_cmd), dir);
    }
    const built = path.join(dir, target.binary);
    if (!existsSync(built)) throw new Error(`the build did not produce ${built} (binary "${target.binary}")`);
    const artifactPath = path.join(runDir, target.binary);
    copyFileSync(built, artifactPath);
    return { artifactPath };
  });
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
/** Its commands on the host: the build, when there is a build command. */
remoteBuild.remoteCommands = ({ target }: DeployContext): number => (target.build_cmd ? 1 : 0);
