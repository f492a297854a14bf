import { tail, type Redactor } from '../support/redact.ts';
import { appendTail, OUTPUT_LIMIT_BYTES } from '../transport/output-tail.ts';

export interface OutputSink {
  write(chunk: string): void;
  /** Flushes what is held back; returns the masked tail to store. */
  close(): string;
}

/**
 * Collects a step's output: complete lines, masked, to `onLine` as they come; the masked tail
 * (OUTPUT_LIMIT_BYTES) for the database. A line longer than `lineLimit` is flushed without its end,
 * so output without newlines (progress bars redrawn with \r) cannot grow one line for ever.
 *
 * Nothing leaves unmasked in two pieces: text is held back from where a secret may have begun and
 * not yet ended (its first characters end the output so far), and a flush never cuts through a
 * secret, a secret containing newlines included (it is masked whole, across the lines it spans), nor
 * (when a blank is near) through a word.
 */
export function createOutputSink(redact: Redactor | ((text: string) => string), onLine: (line: string) => void, lineLimit = OUTPUT_LIMIT_BYTES): OutputSink {
  // A plain function masks no value the sink must keep whole (a test's identity, say).
  const secrets = 'secrets' in redact ? redact.secrets : [];
  const longest = Math.max(0, ...secrets.map((secret) => secret.length));
  let kept = '';
  let pending = '';

  /** The start of the shortest end of `text` that a secret begins with (and is longer than): it must wait for more. */
  const holdFrom = (text: string): number => {
    for (let i = Math.max(0, text.length - longest + 1); i < text.length; i++) {
      const rest = text.slice(i);
      if (secrets.some((secret) => secret.length > rest.length && secret.startsWith(rest))) return i;
    }
    return text.length;
  };
  /** `cut`, moved back to the start of any secret occurrence it would split. */
  const outsideSecrets = (text: string, cut: number): number => {
    for (let moved = true; moved; ) {
      moved = false;
      for (const secret of secrets) {
        for (let at = text.indexOf(secret, Math.max(0, cut - secret.length + 1)); at !== -1 && at < cut; at = text.indexOf(secret, at + 1)) {
          if (at + secret.length > cut) {
            cut = at;
            moved = true;
            break;
          }
        }
      }
    }
    return cut;
  };
  const emit = (text: string, wholeLines: boolean) => {
    const lines = redact(text).split('\n');
    if (wholeLines) lines.pop(); // the empty string after the last newline
    for (const line of lines) onLine(line);
  };

  return {
    write(chunk) {
      // A margin beyond the limit, so a secret cut at the edge is still whole when it is masked.
      // Characters, not bytes (cheap per chunk; at least as many bytes); close() cuts by bytes.
      kept = appendTail(kept, chunk, OUTPUT_LIMIT_BYTES + 4096);
      pending += chunk;
      for (;;) {
        const safe = holdFrom(pending);
        // Whole lines up to the safe point, never ending inside a secret that spans a newline.
        let end = pending.lastIndexOf('\n', safe - 1) + 1;
        for (let moved = outsideSecrets(pending, end); moved !== end; moved = outsideSecrets(pending, end)) {
          end = pending.lastIndexOf('\n', moved - 1) + 1;
        }
        if (end > 0) {
          emit(pending.slice(0, end), true);
          pending = pending.slice(end);
          continue;
        }
        // No whole line: a line past the limit is flushed up to the safe point — after the last
        // whitespace before it if there is one near, so no token that maskKnownSecrets finds by its
        // shape (a run of non-blanks) is cut in two either.
        if (pending.length <= lineLimit) return;
        const blank = Math.max(pending.lastIndexOf(' ', safe - 1), pending.lastIndexOf('\t', safe - 1), pending.lastIndexOf('\r', safe - 1));
        const cut = outsideSecrets(pending, blank >= 0 && safe - blank <= 4096 ? blank + 1 : safe);
        if (cut === 0) return;
        emit(pending.slice(0, cut), false);
        pending = pending.slice(cut);
      }
    },
    close() {
      if (pending) emit(pending, pending.endsWith('\n'));
      pending = '';
      return tail(redact(kept), OUTPUT_LIMIT_BYTES);
    },
  };
}
