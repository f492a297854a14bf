/** Characters that never need quoting in a POSIX shell word. */
const SAFE = /^[A-Za-z0-9_\-.,:/@%+=]+$/;

/**
 * Quotes one value as a single POSIX shell word: every value interpolated into a remote command goes
 * through here. Single quotes make everything literal; a single quote itself becomes '\''.
 */
export function shellQuote(value: string): string {
  if (value !== '' && SAFE.test(value)) return value;
  return `'${value.replace(/'/g, `'\\''`)}'`;
}

/** Quotes each word and joins them into a command line. */
export function shellJoin(words: readonly string[]): string {
  return words.map(shellQuote).join(' ');
}
