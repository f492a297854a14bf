import { readFileSync } from 'node:fs';

/** A text file's content, or undefined when there is no such file (any other error is thrown). */
export function readFileIfExists(file: string): string | undefined {
  try {
    return readFileSync(file, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
}
