import { readFileSync, statSync } from 'node:fs';

/**
 * A file whose ctime is this close to the moment it was read may still change within the same
 * timestamp tick (file systems stamp with a coarse clock): it is not kept, and is read again next time.
 */
const RACY_WINDOW_MS = 1000n;

interface Entry<T> {
  /** dev, inode, size, mtime and ctime (ns) when read: any write, rename over it or chmod changes one. */
  version: string;
  value: T;
}

/**
 * What `parse` makes of a file, kept until the file changes: each get costs one stat(2) while the
 * file is unchanged, and reads and parses it again once its size, times or inode differ (an edit, a
 * file replaced by rename, a chmod). For files read per connection (~/.ssh/config, known_hosts, keys):
 * edits are seen by the next connection, as with re-reading every time.
 */
export class FileCache<T> {
  private readonly entries = new Map<string, Entry<T>>();

  constructor(
    private readonly parse: (content: Buffer, file: string) => T,
    private readonly nowNs: () => bigint = () => BigInt(Date.now()) * 1_000_000n,
  ) {}

  /** The parsed file, or undefined when there is no such file (any other error is thrown, as by readFileSync). */
  get(file: string): T | undefined {
    const stat = statSync(file, { bigint: true, throwIfNoEntry: false });
    if (stat === undefined) {
      this.entries.delete(file);
      return undefined;
    }
    const version = `${stat.dev}:${stat.ino}:${stat.size}:${stat.mtimeNs}:${stat.ctimeNs}`;
    const cached = this.entries.get(file);
    if (cached?.version === version) return cached.value;
    const readAt = this.nowNs();
    let content: Buffer;
    try {
      content = readFileSync(file);
    } catch (error) {
      this.entries.delete(file);
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw error;
    }
    const value = this.parse(content, file);
    if (readAt - stat.ctimeNs > RACY_WINDOW_MS * 1_000_000n) this.entries.set(file, { version, value });
    else this.entries.delete(file);
    return value;
  }
}
