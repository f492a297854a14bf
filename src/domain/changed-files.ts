// The files a push changed, from git in the registry root, for when Gitea's lists are incomplete.
import { gitAllFiles, gitChangedFiles, gitFetch } from '../transport/local/git.ts';
import { readLocal } from '../transport/local-process.ts';
import { isCommitId, isZeroCommit } from './commit-id.ts';
import { InvalidPushError } from './push-payload.ts';

const DEFAULT_GIT_TIMEOUT_MS = 20_000;

function splitNul(output: string): string[] {
  return output.split('\0').filter(Boolean);
}

function assertCommitId(field: string, id: string): void {
  if (!isCommitId(id)) throw new InvalidPushError(`${field} is not a commit id (40 or 64 hex characters): ${JSON.stringify(id)}`);
}

/**
 * The changed files of a push, from git in the registry root, for when Gitea's lists are incomplete.
 * The fetch gets its own short timeout (at most half of the whole): when the remote hangs, the commits
 * may already be here.
 */
export async function changedFilesFromGit(
  registryRoot: string,
  before: string,
  after: string,
  options: { signal?: AbortSignal; timeoutMs?: number; fetchTimeoutMs?: number } = {},
): Promise<string[]> {
  assertCommitId('before', before);
  assertCommitId('after', after);
  if (isZeroCommit(after)) throw new InvalidPushError('after is the zero commit (a deletion): there are no files to list');
  const timeoutMs = options.timeoutMs ?? DEFAULT_GIT_TIMEOUT_MS;
  const deadline = Date.now() + timeoutMs;
  try {
    const fetchTimeoutMs = Math.min(options.fetchTimeoutMs ?? Infinity, Math.ceil(timeoutMs / 2));
    await readLocal(gitFetch(), { cwd: registryRoot, timeoutMs: fetchTimeoutMs, signal: options.signal });
  } catch (error) {
    // No origin remote, or offline: the diff below says whether the commits are here anyway.
    if (options.signal?.aborted) throw error;
  }
  const argv = isZeroCommit(before) ? gitAllFiles(after) : gitChangedFiles(before, after);
  return splitNul(await readLocal(argv, { cwd: registryRoot, timeoutMs: deadline - Date.now(), signal: options.signal }));
}
