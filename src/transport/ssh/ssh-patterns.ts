/**
 * OpenSSH's host pattern matching (match.c), shared by ssh_config and known_hosts: `*` and `?`
 * wildcards, comma-separated lists where a `!` entry vetoes the whole list.
 */

/** match.c `match_pattern`: `*` matches any run of characters, `?` exactly one; case-sensitive. */
export function matchPattern(text: string, pattern: string): boolean {
  // Iterative glob with one back-tracking point: same result as OpenSSH's recursive version.
  let t = 0;
  let p = 0;
  let starP = -1;
  let starT = 0;
  while (t < text.length) {
    if (p < pattern.length && (pattern[p] === '?' || pattern[p] === text[t])) {
      t++;
      p++;
    } else if (p < pattern.length && pattern[p] === '*') {
      starP = p++;
      starT = t;
    } else if (starP >= 0) {
      p = starP + 1;
      t = ++starT;
    } else {
      return false;
    }
  }
  while (pattern[p] === '*') p++;
  return p === pattern.length;
}

/** The three outcomes of a pattern list: a `!` entry matched, an entry matched, nothing matched. */
export type PatternListMatch = 'negated' | 'matched' | 'none';

/**
 * match.c `match_pattern_list`: `a,b,!c`. A matching negated entry wins over any positive one.
 * `lowercasePatterns` lowercases the patterns (not the text), as OpenSSH's `dolower` does.
 */
export function matchPatternList(text: string, patternList: string, lowercasePatterns: boolean): PatternListMatch {
  let matched = false;
  for (const entry of patternList.split(',')) {
    const negated = entry.startsWith('!');
    const raw = negated ? entry.slice(1) : entry;
    const pattern = lowercasePatterns ? raw.toLowerCase() : raw;
    if (!matchPattern(text, pattern)) continue;
    if (negated) return 'negated';
    matched = true;
  }
  return matched ? 'matched' : 'none';
}

/** match.c `match_hostname`: a pattern list matched case-insensitively against a host name. */
export function matchHostname(host: string, patternList: string): PatternListMatch {
  return matchPatternList(host.toLowerCase(), patternList, true);
}
