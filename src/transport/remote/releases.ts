import path from 'node:path';
import { shellQuote as q } from '../shell.ts';
import type { ShellCommand } from './shell-command.ts';

/** `remote_dir/.releases/<run id>`: one directory per shipped binary (systemd). */
export function releaseDir(remoteDir: string, release: number): string {
  return path.posix.join(remoteDir, '.releases', String(release));
}

export function makeReleaseDir(remoteDir: string, release: number): ShellCommand {
  return { name: 'mkdir release', command: `mkdir -p ${q(releaseDir(remoteDir, release))}` };
}

/**
 * Points `remote_dir/<binary>` at a release: a new symlink beside it, renamed over the old one
 * (rename(2) is atomic: the path always names a whole binary). The link is relative, so the app
 * directory may move.
 */
export function switchRelease(remoteDir: string, binary: string, release: number): ShellCommand {
  const link = path.posix.join(remoteDir, binary);
  const next = path.posix.join(remoteDir, `.${binary}.next`);
  return { name: 'switch release', command: `ln -sfn ${q(`.releases/${release}/${binary}`)} ${q(next)} && mv -f ${q(next)} ${q(link)}` };
}

/** Prints the current link target, a `--` line, then the kept release ids, one a line. */
export function listReleases(remoteDir: string, binary: string): ShellCommand {
  return {
    name: 'list releases',
    command: `readlink ${q(path.posix.join(remoteDir, binary))} || true; echo --; ls -1 ${q(path.posix.join(remoteDir, '.releases'))} 2>/dev/null || true`,
  };
}

export function removeReleases(remoteDir: string, releases: number[]): ShellCommand {
  return { name: 'prune releases', command: `rm -rf -- ${releases.map((r) => q(releaseDir(remoteDir, r))).join(' ')}` };
}

/** Parses what `listReleases` printed. */
export function parseReleaseList(stdout: string): { current: number | null; releases: number[] } {
  const [link = '', list = ''] = stdout.split(/^--$/m);
  const current = /\.releases\/(\d+)\//.exec(link.trim());
  const releases = list.split('\n').map((line) => line.trim()).filter((line) => /^\d+$/.test(line)).map(Number).sort((a, b) => a - b);
  return { current: current ? Number(current[1]) : null, releases };
}
