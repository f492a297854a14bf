/**
 * What a command's result keeps of each of its streams: the end, enough for an error message and
 * for the small outputs steps parse (a release list, a commit id), never a whole build log. The whole
 * output is streamed to `onOutput` as it comes; nothing else holds it.
 */
export const KEPT_OUTPUT_CHARS = 64 * 1024;

/** `kept` with `chunk` appended, cut to its last `limit` characters. */
export function appendTail(kept: string, chunk: string, limit = KEPT_OUTPUT_CHARS): string {
  if (chunk.length >= limit) return chunk.slice(-limit);
  const joined = kept + chunk;
  return joined.length > limit ? joined.slice(-limit) : joined;
}
