/**
 * What a command's result keeps of each of its streams: the end, enough for an error message and
 * for the small outputs steps parse (a release list, a commit id), never a whole build log. The whole
 * output is streamed to `onOutput` as it comes; nothing else holds it.
 */
export const KEPT_OUTPUT_CHARS = 64 * 1024;

/** The most of a step's output that is kept (its tail), stored, shown or sent anywhere: the same 64 KiB. */
export const OUTPUT_LIMIT_BYTES = KEPT_OUTPUT_CHARS;

/** `kept` with `chunk` appended, cut to its last `limit` characters. */
export function appendTail(kept: string, chunk: string, limit = KEPT_OUTPUT_CHARS): string {
  if (chunk.length >= limit) return chunk.slice(-limit);
  const joined = kept + chunk;
  return joined.length > limit ? joined.slice(-limit) : joined;
}
