import { tail } from '../support/redact.ts';
import { OUTPUT_LIMIT_BYTES } from './run-store.ts';

export interface OutputSink {
  write(chunk: string): void;
  /** Flushes the last partial line; returns the masked tail to store. */
  close(): string;
}

/**
 * Collects a step's output: complete lines, masked, to `onLine` as they come; the masked tail
 * (OUTPUT_LIMIT_BYTES) for the database. A line longer than the limit is flushed as it is, so output
 * without newlines (progress bars redrawn with \r) cannot grow one line for ever.
 */
export function createOutputSink(redact: (text: string) => string, onLine: (line: string) => void): OutputSink {
  let kept = '';
  let partial = '';
  return {
    write(chunk) {
      // A margin beyond the limit, so a secret cut at the edge is still whole when it is masked.
      kept = tail(kept + chunk, OUTPUT_LIMIT_BYTES + 4096);
      const lines = (partial + chunk).split('\n');
      partial = lines.pop()!;
      if (partial.length > OUTPUT_LIMIT_BYTES) {
        lines.push(partial);
        partial = '';
      }
      for (const line of lines) onLine(redact(line));
    },
    close() {
      if (partial) onLine(redact(partial));
      partial = '';
      return tail(redact(kept), OUTPUT_LIMIT_BYTES);
    },
  };
}
