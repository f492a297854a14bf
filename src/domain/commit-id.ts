/** A full git object id: SHA-1 (40 hex digits) or SHA-256 (64) repositories. */
export const COMMIT_ID = /^(?:[0-9a-f]{40}|[0-9a-f]{64})$/i;

export function isCommitId(value: string): boolean {
  return COMMIT_ID.test(value);
}

/** Git's "no commit" (a branch created or deleted): all zeros. */
export function isZeroCommit(id: string): boolean {
  return /^0+$/.test(id);
}
