/** The lexical layer of ssh_config, as readconf.c and misc.c read a line. */

/** A syntax error in an ssh_config file, naming the file and line as ssh does. */
export class SshConfigError extends Error {
  override name = 'SshConfigError';
}

/** One meaningful config line: its keyword (lowercased), its arguments, and the raw text after the keyword. */
export interface ConfigLine {
  keyword: string;
  args: string[];
  /** The text after the keyword and its separator, unsplit: ProxyCommand and ProxyJump take it whole. */
  rest: string;
}

const WHITESPACE = ' \t\r\n';

function skipWhitespace(text: string, from: number): number {
  let i = from;
  while (i < text.length && WHITESPACE.includes(text[i])) i++;
  return i;
}

/**
 * misc.c `strdelim`: the next word, split at whitespace, a double quote or one `=`
 * (so `Key=value`, `Key = value` and `Key value` all work). Returns the word and what follows.
 */
function nextWord(text: string): { word: string; rest: string } | undefined {
  let i = 0;
  while (i < text.length && !(WHITESPACE + '"=').includes(text[i])) i++;
  if (i === text.length) return { word: text, rest: '' };
  if (text[i] === '"') {
    const close = text.indexOf('"', i + 1);
    if (close < 0) return undefined;
    return { word: text.slice(0, i) + text.slice(i + 1, close), rest: text.slice(skipWhitespace(text, close + 1)) };
  }
  const sawEquals = text[i] === '=';
  let j = skipWhitespace(text, i + 1);
  if (!sawEquals && text[j] === '=') j = skipWhitespace(text, j + 1);
  return { word: text.slice(0, i), rest: text.slice(j) };
}

/**
 * misc.c `argv_split` with comments on: words split at spaces and tabs, `"` and `'` quoting
 * (also mid-word), backslash escaping a quote, a backslash or (unquoted) a space; a word starting
 * with `#` ends the line. Returns undefined for an unclosed quote.
 */
export function splitArguments(text: string): string[] | undefined {
  const args: string[] = [];
  let i = 0;
  while (i < text.length) {
    if (text[i] === ' ' || text[i] === '\t') {
      i++;
      continue;
    }
    if (text[i] === '#') break;
    let word = '';
    let quote = '';
    for (; i < text.length; i++) {
      const c = text[i];
      const next = text[i + 1];
      if (c === '\\' && (next === "'" || next === '"' || next === '\\' || (quote === '' && next === ' '))) {
        word += next;
        i++;
      } else if (quote === '' && (c === ' ' || c === '\t')) {
        break;
      } else if (quote === '' && (c === '"' || c === "'")) {
        quote = c;
      } else if (quote !== '' && c === quote) {
        quote = '';
      } else {
        word += c;
      }
    }
    if (quote !== '') return undefined;
    args.push(word);
  }
  return args;
}

/**
 * Reads one line as readconf.c `process_config_line` does: undefined for blank and comment lines,
 * an error for a keyword without argument or an unclosed quote.
 */
export function parseConfigLine(rawLine: string, where: string): ConfigLine | undefined {
  const line = rawLine.replace(/[ \t\r\n\f]+$/, '');
  let first = nextWord(line);
  // A line starting with whitespace yields an empty first word: the keyword is the next one.
  if (first?.word === '') first = nextWord(first.rest);
  if (first === undefined || first.word === '' || first.word.startsWith('#')) return undefined;
  const keyword = first.word.toLowerCase();
  const rest = first.rest.slice(skipWhitespace(first.rest, 0));
  if (rest === '') throw new SshConfigError(`${where}: no argument after keyword "${keyword}"`);
  const args = splitArguments(rest);
  if (args === undefined) throw new SshConfigError(`${where}: invalid quotes`);
  return { keyword, args, rest };
}

const SECONDS_PER_UNIT: Record<string, number> = { '': 1, s: 1, m: 60, h: 3600, d: 86400, w: 604800 };

/** misc.c `convtime`: `90`, `1m30s`, `2h` → seconds; undefined when malformed. */
export function parseTimeSpec(text: string): number | undefined {
  if (text === '') return undefined;
  let total = 0;
  for (const part of text.matchAll(/(\d+)([smhdwSMHDW]?)|(.)/g)) {
    if (part[3] !== undefined) return undefined;
    total += Number(part[1]) * SECONDS_PER_UNIT[part[2].toLowerCase()];
  }
  return total <= 2 ** 31 - 1 ? total : undefined;
}
