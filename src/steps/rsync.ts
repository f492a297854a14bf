import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { rsyncFile, rsyncShell, rsyncSshConfig } from '../transport/local/rsync.ts';
import { makeExecutable } from '../transport/remote/fs.ts';
import { listReleases, makeReleaseDir, parseReleaseList, releaseDir, removeReleases, switchRelease } from '../transport/remote/releases.ts';
import type { StepContext } from '../engine/pipeline.ts';
import { releasesToPrune } from '../domain/releases.ts';
import type { BuildArtifact } from './build.ts';
import { runLocalStep, runRemote } from './remote.ts';

export interface ShippedRelease {
  /** This run's release (its id). */
  release: number;
  /** The release that was current before, for the rollback; null on a first deploy. */
  previous: number | null;
}

/** The releases kept on the host and the one `remote_dir/<binary>` points at. */
export async function readReleases(context: StepContext<any>): Promise<{ current: number | null; releases: number[] }> {
  const { remote_dir, binary } = context.deploy.target;
  return parseReleaseList((await runRemote(context, listReleases(remote_dir, binary))).stdout);
}

/**
 * Ships the built binary as a new release: rsync (over ssh with this run's exact settings) into
 * `.releases/<run id>/`, then an atomic switch of `remote_dir/<binary>` to it; the releases beyond
 * the newest `keep` are pruned. The previous release stays for a rollback.
 */
export async function rsyncBinary(context: StepContext<{ build: BuildArtifact }>): Promise<ShippedRelease> {
  const { target, config, runId } = context.deploy;
  const host = await context.deploy.remote();
  const { current: previous, releases: kept } = await readReleases(context);
  await runRemote(context, makeReleaseDir(target.remote_dir, runId));
  const destination = path.posix.join(releaseDir(target.remote_dir, runId), target.binary);
  context.output(`$ rsync ${context.results.build.artifactPath} ${target.host}:${destination}\n`);
  // rsync's ssh reads only this config: the run's hops, keys, agent and known_hosts (paths, no secrets).
  const sshConfig = rsyncSshConfig(host.rsyncSsh(config.sshConnectTimeoutMs));
  const configDir = await mkdtemp(path.join(os.tmpdir(), 'deploy-rsync-ssh-'));
  try {
    const configFile = path.join(configDir, 'ssh_config');
    await writeFile(configFile, sshConfig, { mode: 0o600 });
    await runLocalStep(context, 'rsync', rsyncFile(context.results.build.artifactPath, destination, rsyncShell(configFile)));
  } finally {
    await rm(configDir, { recursive: true, force: true });
  }
  await runRemote(context, switchRelease(target.remote_dir, target.binary, runId));
  await context.record({ release: runId });
  const prune = releasesToPrune([...kept, runId], target.keep_releases || config.keepReleases, [runId, previous]);
  if (prune.length) await runRemote(context, removeReleases(target.remote_dir, prune));
  return { release: runId, previous };
}
/** Its commands on the host: list, make the release dir, switch, and prune (once releases exceed the keep count, every deploy). */
rsyncBinary.remoteCommands = 4;

export async function chmodBinary(context: StepContext): Promise<void> {
  const { target } = context.deploy;
  await runRemote(context, makeExecutable(path.posix.join(target.remote_dir, target.binary)));
}
chmodBinary.remoteCommands = 1;
