// git on this machine, as argv (no shell), each run with the repository as its working directory:
// the registry root's fetch, build worktrees, and the file lists of a push. Pure builders;
// transport/local-process.ts runs them.

/** Fetches origin quietly (the push may be newer than the registry root's copy). */
export function gitFetch(): string[] {
  return ['git', 'fetch', '--quiet', 'origin'];
}

/** A detached worktree of the repository at exactly `commit`. */
export function gitWorktreeAdd(worktree: string, commit: string): string[] {
  return ['git', 'worktree', 'add', '--detach', '--force', worktree, commit];
}

export function gitWorktreeRemove(worktree: string): string[] {
  return ['git', 'worktree', 'remove', '--force', worktree];
}

export function gitWorktreePrune(): string[] {
  return ['git', 'worktree', 'prune'];
}

/**
 * The files changed between two commits, NUL-separated. diff-tree, not diff: outside a repository
 * `git diff` silently compares files on disk, and it follows diff.renames, which would list only the
 * new side of a move between apps. -z: paths exactly as stored, never C-quoted; "--" keeps the ids
 * from being read as paths.
 */
export function gitChangedFiles(before: string, after: string): string[] {
  return ['git', 'diff-tree', '-r', '--no-renames', '--name-only', '-z', before, after, '--'];
}

/** Every file of a commit, NUL-separated (a new branch: everything it has is new). */
export function gitAllFiles(commit: string): string[] {
  return ['git', 'ls-tree', '-r', '-z', '--name-only', commit, '--'];
}

/** Exits 0 when `ancestor` is an ancestor of (or the same commit as) `descendant`, 1 when not. */
export function gitIsAncestor(ancestor: string, descendant: string): string[] {
  return ['git', 'merge-base', '--is-ancestor', ancestor, descendant];
}

