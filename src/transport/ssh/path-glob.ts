/** Lists a directory's entry names, or undefined when it cannot be read. */
export type ReadDirectory = (directory: string) => string[] | undefined;

const MAGIC = /[*?[]/;

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
}

/** One path segment of a glob(3) pattern as a RegExp: `*`, `?`, `[a-z]`, `[!x]`, `\` escapes. */
function segmentToRegExp(segment: string): RegExp {
  let source = '';
  for (let i = 0; i < segment.length; i++) {
    const c = segment[i];
    if (c === '*') source += '[^/]*';
    else if (c === '?') source += '[^/]';
    else if (c === '\\' && i + 1 < segment.length) source += escapeRegExp(segment[++i]);
    else if (c === '[') {
      const close = segment.indexOf(']', i + 2);
      if (close < 0) {
        source += '\\[';
        continue;
      }
      let body = segment.slice(i + 1, close);
      const negated = body.startsWith('!') || body.startsWith('^');
      if (negated) body = body.slice(1);
      source += `[${negated ? '^' : ''}${body.replace(/[\\\]^]/g, '\\$&')}]`;
      i = close;
    } else source += escapeRegExp(c);
  }
  return new RegExp(`^${source}$`);
}

/**
 * glob(3) as OpenSSH's Include uses it, over an injected directory listing: the matching paths,
 * sorted. Wildcards never match a leading dot unless the pattern segment starts with one.
 * Literal segments are not checked for existence: reading the result tells.
 */
export function globPaths(pattern: string, readDirectory: ReadDirectory): string[] {
  const absolute = pattern.startsWith('/');
  const segments = pattern.split('/').filter((segment) => segment !== '');
  let paths = [absolute ? '/' : ''];
  for (const segment of segments) {
    const next: string[] = [];
    for (const base of paths) {
      const join = (name: string) => (base === '' ? name : base.endsWith('/') ? base + name : `${base}/${name}`);
      if (!MAGIC.test(segment)) {
        next.push(join(segment.replace(/\\(.)/g, '$1')));
        continue;
      }
      const regExp = segmentToRegExp(segment);
      for (const name of readDirectory(base === '' ? '.' : base) ?? []) {
        if (name.startsWith('.') && !segment.startsWith('.')) continue;
        if (regExp.test(name)) next.push(join(name));
      }
    }
    paths = next;
  }
  return MAGIC.test(pattern) ? paths.sort() : paths;
}
