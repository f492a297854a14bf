import { configuredSecrets, type Config } from './config.ts';

/** Values shorter than this are not masked: "1" or "on" would mangle every line and hide nothing. */
const MIN_SECRET_LENGTH = 3;

/** `scheme://user:password@host` (or `https://token@host`): the credentials before the `@`. */
const URL_CREDENTIALS = /\b([a-z][a-z0-9+.-]*:\/\/)([^\s/@'"]+)@/gi;

/** A user with a password, or anything before `@` of an http(s) URL (a token as the user); `ssh://git@` is no secret. */
function maskUrlCredentials(match: string, scheme: string, userinfo: string): string {
  return userinfo.includes(':') || /^https?:\/\/$/i.test(scheme) ? `${scheme}***@` : match;
}
/** `NPM_TOKEN=…`, `export GITHUB_TOKEN=…`, `DB_PASSWORD: …`: an assignment to a name that says it is secret. */
const SECRET_ASSIGNMENT = /\b([A-Za-z0-9_]*(?:TOKEN|SECRET|PASSWORD|PASSWD|API_KEY|ACCESS_KEY|PRIVATE_KEY|AUTH)[A-Za-z0-9_]*)(\s*[=:]\s*)(["']?)[^\s"']+\3/g;
/** Tokens whose shape gives them away: GitHub, GitLab, npm, Slack, AWS access key ids. */
const TOKEN_SHAPES = /\b(?:gh[pousr]_[A-Za-z0-9]{20,}|github_pat_[A-Za-z0-9_]{20,}|glpat-[A-Za-z0-9_-]{16,}|npm_[A-Za-z0-9]{30,}|xox[abposr]-[A-Za-z0-9-]{10,}|AKIA[0-9A-Z]{16})\b/g;

/**
 * Masks what looks like a credential whoever wrote it: credentials in URLs, assignments to secret-named
 * variables (`NPM_TOKEN=…`) and tokens of known shapes (`ghp_…`, `glpat-…`). For values nobody told us
 * about: a repo URL or a build command typed with a token in it.
 */
export function maskKnownSecrets(text: string): string {
  return text
    .replace(URL_CREDENTIALS, maskUrlCredentials)
    .replace(SECRET_ASSIGNMENT, (_match, name: string, sep: string) => `${name}${sep}***`)
    .replace(TOKEN_SHAPES, '***');
}

/** Masks secrets in a text; `secrets` are the values it masks, for whoever must not cut one in two (output-sink.ts). */
export type Redactor = ((text: string) => string) & { readonly secrets: readonly string[] };

/**
 * Replaces every occurrence of the given secret values with `***` (longest first, so overlaps mask
 * whole), then whatever looks like a credential (maskKnownSecrets).
 */
export function createRedactor(secrets: Iterable<string>): Redactor {
  const values = [...new Set(secrets)].filter((s) => s.length >= MIN_SECRET_LENGTH).sort((a, b) => b.length - a.length);
  if (values.length === 0) return Object.assign((text: string) => maskKnownSecrets(text), { secrets: values });
  const pattern = new RegExp(values.map((v) => v.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')).join('|'), 'g');
  return Object.assign((text: string) => maskKnownSecrets(text.replace(pattern, '***')), { secrets: values });
}

/** Keeps the last `limit` bytes of a growing text. */
export function tail(text: string, limit: number): string {
  const bytes = Buffer.from(text);
  return bytes.length <= limit ? text : bytes.subarray(bytes.length - limit).toString();
}

/** The masking of everything about a target that leaves the server: its env values and the configured secrets. */
export function createTargetRedactor(target: { env: Record<string, string> }, config: Config): Redactor {
  return createRedactor([...Object.values(target.env), ...configuredSecrets(config)]);
}
