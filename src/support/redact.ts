import { configuredSecrets, type Config } from './config.ts';

/** Values shorter than this are not masked: "1" or "on" would mangle every line and hide nothing. */
const MIN_SECRET_LENGTH = 3;

/** Replaces every occurrence of the given secret values with `***`. Longest first, so overlaps mask whole. */
export function createRedactor(secrets: Iterable<string>): (text: string) => string {
  const values = [...new Set(secrets)].filter((s) => s.length >= MIN_SECRET_LENGTH).sort((a, b) => b.length - a.length);
  if (values.length === 0) return (text) => text;
  const pattern = new RegExp(values.map((v) => v.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')).join('|'), 'g');
  return (text) => text.replace(pattern, '***');
}

/** Keeps the last `limit` bytes of a growing text. */
export function tail(text: string, limit: number): string {
  const bytes = Buffer.from(text);
  return bytes.length <= limit ? text : bytes.subarray(bytes.length - limit).toString();
}

/** The masking of everything about a target that leaves the server: its env values and the configured secrets. */
export function createTargetRedactor(target: { env: Record<string, string> }, config: Config): (text: string) => string {
  return createRedactor([...Object.values(target.env), ...configuredSecrets(config)]);
}
